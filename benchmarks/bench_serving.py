"""Serving benchmarks.

``python benchmarks/bench_serving.py cache``: a compiled JSON Schema (SmolLM2 vocabulary) — cold
compile vs pickle load, and a second process reading it from the disk cache vs compiling.

``VENV/bin/python benchmarks/bench_serving.py vllm --batch 12 32``: vLLM CPU (SmolLM2, in-process),
JSON Schema requests three ways on the same batch shape: constrain's logits processor, vLLM's own
xgrammar backend, and unconstrained twins that decode exactly as many tokens as their constrained
twin (``min_tokens = max_tokens = n``, ``ignore_eos``). Output tokens per second of wall time.
Run the vLLM part with the venv of scripts/build_vllm_venv.sh.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import textwrap
import time

SCHEMA = {"type": "object", "properties": {
    "name": {"type": "string", "pattern": "^[A-Z][a-z]{1,10}$"},
    "age": {"type": "integer", "minimum": 0, "maximum": 120},
    "city": {"enum": ["Paris", "Lima", "Oslo", "Quito"]},
    "tags": {"type": "array", "items": {"enum": ["a", "b", "c"]}, "maxItems": 3}},
    "required": ["name", "age", "city", "tags"], "additionalProperties": False}


def bench_cache() -> dict:
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
    import constrain as cn
    from constrain.cache import DiskCache
    from constrain.models import load_smollm2_tokenizer

    vocab = cn.Vocabulary.from_hf(load_smollm2_tokenizer())
    vocab.trie  # noqa: B018 - built once, as any process does before its first compile
    cn.JsonSchema({"type": "string"}).compile(vocab, cache=False)  # numba kernels loaded (JIT cache)
    t = time.perf_counter()
    spec = cn.JsonSchema(SCHEMA)
    compiled = spec.compile(vocab, cache=False)
    compile_s = time.perf_counter() - t
    blob = pickle.dumps(compiled)
    loads = []
    for _ in range(5):
        t = time.perf_counter()
        pickle.loads(blob)
        loads.append(time.perf_counter() - t)
    with tempfile.TemporaryDirectory() as d:
        code = textwrap.dedent(f"""
            import json, sys, time
            sys.path.insert(0, {os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))!r})
            import constrain as cn
            from constrain.cache import DiskCache
            from constrain.integrations.spec import compile_spec
            from constrain.models import load_smollm2_tokenizer
            import constrain.grammar.api, constrain.schema.api  # a worker has the library imported
            vocab = cn.Vocabulary.from_hf(load_smollm2_tokenizer()); vocab.trie
            cache = DiskCache({d!r})
            t = time.perf_counter()
            c = compile_spec({{"json_schema": json.loads({json.dumps(SCHEMA)!r})}}, vocab, disk=cache)
            dt = time.perf_counter() - t
            m = c.matcher(); buf = cn.allocate_bitmask(1, vocab.size)
            t = time.perf_counter(); m.fill_mask(buf, 0); first = time.perf_counter() - t
            print(json.dumps({{"seconds": dt, "hits": cache.hits, "first_mask": first}}))
        """)
        runs = [json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                          check=True).stdout.strip().splitlines()[-1]) for _ in range(2)]
        size = DiskCache(d).size_bytes()
    load_s = min(loads)
    print("| what | seconds | ratio |\n| --- | --- | --- |")
    print(f"| JSON Schema: spec + compile, first compile of this schema (SmolLM2) | {compile_s:.4f} | 1 |")
    print(f"| pickle.loads of the compiled schema ({len(blob) / 2**20:.1f} MiB, vocabulary included) "
          f"| {load_s:.4f} | {load_s / compile_s:.3f} |")
    print(f"| process 1: serving spec, disk cache miss (spec + compile + store) | {runs[0]['seconds']:.4f} | 1 |")
    print(f"| process 2: serving spec, disk cache hit (load only, {size / 1024:.0f} KiB entry) | {runs[1]['seconds']:.4f} "
          f"| {runs[1]['seconds'] / runs[0]['seconds']:.3f} (speed-up {runs[0]['seconds'] / runs[1]['seconds']:.1f}x) |")
    print(f"| first mask after the miss / after the hit | {runs[0]['first_mask']:.4f} / "
          f"{runs[1]['first_mask']:.4f} | |")
    return {"compile_s": compile_s, "pickle_load_s": load_s, "pickle_bytes": len(blob),
            "disk_miss": runs[0], "disk_hit": runs[1], "disk_entry_bytes": size}


def bench_vllm(batches: list[int], model: str, max_tokens: int) -> list[dict]:
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from vllm import LLM, SamplingParams
    from vllm.sampling_params import StructuredOutputsParams

    llm = LLM(model=model, dtype="bfloat16", max_model_len=512, max_num_seqs=max(batches),
              enforce_eager=True, gpu_memory_utilization=0.15, seed=0)
    prompt = "Describe a person as JSON:"

    def run(params):
        t = time.perf_counter()
        outs = llm.generate([prompt] * len(params), params, use_tqdm=False)
        dt = time.perf_counter() - t
        return outs, dt

    spec = {"json_schema": SCHEMA}
    llm.generate([prompt], SamplingParams(max_tokens=8, extra_args={"constrain": spec}), use_tqdm=False)
    llm.generate([prompt], SamplingParams(max_tokens=8, structured_outputs=StructuredOutputsParams(json=SCHEMA)),
                 use_tqdm=False)
    print("| batch | mode | output tokens | seconds | tok/s | vs unconstrained twins |")
    print("| --- | --- | --- | --- | --- | --- |")
    import jsonschema
    rows = []
    for b in batches:
        cons = [SamplingParams(temperature=0.8, seed=k, max_tokens=max_tokens, extra_args={"constrain": spec})
                for k in range(b)]
        outs_c, dt_c = run(cons)
        lens = [len(o.outputs[0].token_ids) for o in outs_c]
        valid = sum(_valid(o.outputs[0].text, jsonschema) for o in outs_c)
        twins = [SamplingParams(temperature=0.8, seed=k, max_tokens=n, min_tokens=n, ignore_eos=True)
                 for k, n in enumerate(lens)]
        _, dt_u = run(twins)
        xg = [SamplingParams(temperature=0.8, seed=k, max_tokens=max_tokens,
                             structured_outputs=StructuredOutputsParams(json=SCHEMA)) for k in range(b)]
        outs_x, dt_x = run(xg)
        lens_x = [len(o.outputs[0].token_ids) for o in outs_x]
        valid_x = sum(_valid(o.outputs[0].text, jsonschema) for o in outs_x)
        twins_x = [SamplingParams(temperature=0.8, seed=k, max_tokens=n, min_tokens=n, ignore_eos=True)
                   for k, n in enumerate(lens_x)]
        _, dt_ux = run(twins_x)
        n_c, n_x = sum(lens), sum(lens_x)
        print(f"| {b} | unconstrained twins of constrain's | {n_c} | {dt_u:.2f} | {n_c / dt_u:.1f} | 1 |")
        print(f"| {b} | constrain (valid {valid}/{b}) | {n_c} | {dt_c:.2f} | {n_c / dt_c:.1f} | {dt_u / dt_c:.3f} |")
        print(f"| {b} | unconstrained twins of xgrammar's | {n_x} | {dt_ux:.2f} | {n_x / dt_ux:.1f} | 1 |")
        print(f"| {b} | vLLM xgrammar (valid {valid_x}/{b}) | {n_x} | {dt_x:.2f} | {n_x / dt_x:.1f} | {dt_ux / dt_x:.3f} |")
        sys.stdout.flush()
        rows.append({"batch": b, "constrain": {"tokens": n_c, "seconds": dt_c, "valid": valid, "twins_seconds": dt_u},
                     "xgrammar": {"tokens": n_x, "seconds": dt_x, "valid": valid_x, "twins_seconds": dt_ux}})
    return rows


def _valid(text: str, jsonschema) -> bool:
    try:
        jsonschema.validate(json.loads(text), SCHEMA)
        return True
    except Exception:  # noqa: BLE001
        return False


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("part", choices=["cache", "vllm"])
    ap.add_argument("--batch", type=int, nargs="+", default=[12, 32])
    ap.add_argument("--max-tokens", type=int, default=80)
    ap.add_argument("--model", default="/opt/constrain-vllm-venv/models/smollm2-135m-instruct")
    args = ap.parse_args(argv)
    if args.part == "cache":
        return {"cache": bench_cache()}
    return {"vllm": bench_vllm(args.batch, args.model, args.max_tokens)}


if __name__ == "__main__":
    main()
