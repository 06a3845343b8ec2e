"""JSONSchemaBench in its paper's metrics, and MaskBench's figures, for constrain and its peers.

    python benchmarks/bench_jsonschemabench.py --limit 6 --gen-limit 2 --mask-cases 40
    python -m benchmarks jsonschemabench --quick

Part 1, JSONSchemaBench (Geng et al. 2025), per subset of ``../shared/data/jsonschemabench``, on the
first ``--limit`` schemas of each subset (file order), SmolLM2-135M-Instruct on CPU, one thread:

* **declared coverage**: share of schemas the engine compiles (ours: ``JsonSchema(schema)``
  strict, within ``--timeout`` s; xgrammar ``compile_json_schema(strict_mode=False)``; llguidance
  ``grammar_from_json_schema`` + ``LLMatcher``; outlines-core ``build_regex_from_schema`` +
  ``Index``, run in a forked child killed after ``--timeout`` s since nothing bounds it in-process);
* **empirical coverage**: share of the generation sample (the first ``--gen-limit`` schemas per
  subset that constrain compiles; prompt = the schema text, cut at 2,000 characters;
  ``--max-tokens``) for which greedy constrained generation ends (EOS) with output valid under
  ``jsonschema`` (format checker on); an engine that cannot compile a schema of the sample scores
  0 on it; **compliance** = valid / generated (the schemas it compiled);
* **efficiency**: grammar compile time (GCT), time to first token (TTFT: compile + prefill + first
  mask + argmax) and time per output token (TPOT, after the first) against the same greedy loop
  unconstrained (whose outputs are validated too).

Part 2, MaskBench (llguidance's maskbench): schemas of the JSON-Schema-Test-Suite (draft2020-12,
``--mask-cases`` cases spread over its files) with their valid / invalid instances, serialised
compactly (``json.dumps(separators=(",", ":"))``) and tokenized with ``tok.encode``: time to first
mask (compile + first mask), time between masks (one mask fill + one advance per token), valid
instances refused (a token outside the mask, or EOS not allowed at the end), invalid instances
accepted (every token allowed and EOS allowed at the end). MaskBench's own instances for the
JSONSchemaBench schemas are not in ../shared/data (no licence upstream), hence the test suite.

Every engine gets compact JSON (no insignificant whitespace; separators ``,`` and ``:``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pickle
import random
import signal
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

C.single_thread()

import numpy as np  # noqa: E402

BENCH = C.SHARED / "data" / "jsonschemabench"
SUITE = C.SHARED / "data" / "json-schema-test-suite" / "tests" / "draft2020-12"
ENGINES = ("constrain", "xgrammar", "llguidance", "outlines-core")
PROMPT_CHARS = 2000
SYSTEM = "You are a helpful assistant that answers only with JSON, on one line."


# ----------------------------------------------------------------------------- time limits
class _Timeout(Exception):
    pass


def _alarm(_s, _f):
    raise _Timeout()


def _with_alarm(seconds: float, fn, *a):
    """``fn(*a)`` with SIGALRM after ``seconds`` (interrupts Python code only)."""
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn(*a)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _in_child(seconds: float, fn, *a):
    """``fn(*a)`` in a forked child, killed after ``seconds``; its (picklable) result, or an
    exception re-raised here (``_Timeout`` on the limit)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(r)
        try:
            out = ("ok", fn(*a))
        except BaseException as e:  # noqa: BLE001
            out = ("err", f"{type(e).__name__}: {e}"[:300])
        with os.fdopen(w, "wb") as f:
            f.write(pickle.dumps(out))
        os._exit(0)
    os.close(w)
    deadline = time.monotonic() + seconds
    chunks = []
    os.set_blocking(r, False)
    try:
        while True:
            try:
                b = os.read(r, 1 << 16)
                if not b:
                    break
                chunks.append(b)
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.kill(pid, signal.SIGKILL)
                    raise _Timeout() from None
                time.sleep(0.005)
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    status, val = pickle.loads(b"".join(chunks))
    if status == "err":
        raise RuntimeError(val)
    return val


# ----------------------------------------------------------------------------- engines
class Engines:
    """Compile a JSON Schema for each engine and drive its matcher through one interface:
    ``compile(name, schema) -> compiled``, ``matcher(name, compiled)`` with ``fill(buf)`` /
    ``advance(tok) -> bool``. ``buf``: int32 ``[1, words]`` bitmask."""

    def __init__(self, tok, names):
        import constrain as cn
        self.tok, self.names = tok, list(names)
        self.vocab = cn.Vocabulary.from_hf(tok)
        self.vocab.trie  # noqa: B018 - part of set-up
        self.size = self.vocab.size
        self.words = self.vocab.words
        self.eos = {int(e) for e in self.vocab.eos_ids} | {int(tok.eos_token_id)}
        self.peers = {}
        if "xgrammar" in names:
            self.peers["xgrammar"] = C.XGrammarEngine(tok, self.size)
        if "llguidance" in names:
            self.peers["llguidance"] = C.LLGuidanceEngine(tok, self.size)
        if "outlines-core" in names:
            self.peers["outlines-core"] = C.OutlinesEngine(tok, self.size, token_bytes=self.vocab.token_bytes)

    def compile(self, name: str, schema):
        text = json.dumps(schema)
        if name == "constrain":
            from constrain.schema import JsonSchema
            return JsonSchema(schema).compile(self.vocab, cache=False)
        if name == "xgrammar":
            return self.peers[name].compiler.compile_json_schema(
                text, any_whitespace=False, separators=(",", ":"), strict_mode=False)
        if name == "llguidance":
            llg = self.peers[name]
            M = llg._llg.LLMatcher
            g = M.grammar_from_json_schema(schema, defaults={"whitespace_flexible": False})
            m = M(llg.tokenizer, g, log_level=0)
            if m.is_error():
                raise RuntimeError(m.get_error())
            return m
        oc = self.peers[name]
        return oc._oc.Index(oc._oc.json_schema.build_regex_from_schema(text, ""), oc.vocabulary)

    def matcher(self, name: str, compiled):
        if name == "constrain":
            return C._OurMatcher(compiled.matcher())
        return self.peers[name].matcher(compiled)

    def alloc(self) -> np.ndarray:
        return np.zeros((1, self.words), dtype=np.int32)


def _validator(schema):
    import jsonschema
    try:
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        return cls(schema, format_checker=cls.FORMAT_CHECKER)
    except Exception:
        return None


def _is_valid(val, text: str) -> bool:
    try:
        doc = json.loads(text)
    except Exception:
        return False
    try:
        return val is None or bool(val.is_valid(doc))
    except Exception:
        return False


# ----------------------------------------------------------------------------- generation
class Generator:
    """Greedy decoding with SmolLM2 (KV cache), optionally masked by an engine's matcher."""

    def __init__(self, eng: Engines):
        import torch

        from constrain.models import load_smollm2_model
        self.torch = torch
        self.eng = eng
        self.model = load_smollm2_model()
        self.width = int(self.model.config.vocab_size)

    def prompt_ids(self, schema) -> list[int]:
        text = json.dumps(schema)[:PROMPT_CHARS]
        msgs = [{"role": "system", "content": SYSTEM},
                {"role": "user", "content": f"Give a JSON instance of this JSON Schema:\n{text}"}]
        return self.eng.tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True,
                                                return_dict=False)

    def run(self, ids: list[int], max_tokens: int, name: str | None = None, schema=None) -> dict:
        """One generation; ``name`` None = unconstrained. Times: compile, ttft (from the start,
        compile included), per-token times after the first."""
        torch, eng = self.torch, self.eng
        t0 = time.perf_counter()
        m = None
        compile_s = 0.0
        if name is not None:
            m = eng.matcher(name, eng.compile(name, schema))
            compile_s = time.perf_counter() - t0
        buf = eng.alloc()
        allowed = np.empty(self.width, dtype=bool)
        out, steps, past = [], [], None
        inp = torch.tensor([ids])
        finished = False
        ttft = None
        with torch.inference_mode():
            for k in range(max_tokens):
                ts = time.perf_counter()
                res = self.model(input_ids=inp, past_key_values=past, use_cache=True)
                past = res.past_key_values
                logits = res.logits[0, -1].float().numpy()
                if m is not None:
                    m.fill(buf)
                    allowed[:] = False
                    allowed[:eng.size] = C.bits(buf, eng.size)
                    if not allowed.any():
                        break
                    logits = np.where(allowed, logits, -np.inf)
                t = int(np.argmax(logits))
                te = time.perf_counter()
                if k == 0:
                    ttft = te - t0
                else:
                    steps.append(te - ts)
                if t in eng.eos:
                    finished = True
                    break
                if m is not None and not m.advance(t):
                    break
                out.append(t)
                inp = torch.tensor([[t]])
        text = b"".join(eng.vocab.token_bytes[t] or b"" for t in out).decode("utf-8", "replace")
        return {"compile_s": compile_s, "ttft_s": ttft, "tpot_s": float(np.mean(steps)) if steps else math.nan,
                "tokens": len(out), "finished": finished, "text": text}


# ----------------------------------------------------------------------------- part 1
def load_subsets(limit: int, subsets: list[str] | None) -> dict[str, list[dict]]:
    out = {}
    for path in sorted(BENCH.glob("*.jsonl")):
        if subsets and path.stem not in subsets:
            continue
        rows = []
        with open(path) as f:
            for line in f:
                if line.strip():
                    rows.append(json.loads(line))
                if limit and len(rows) >= limit:
                    break
        out[path.stem] = rows
    return out


def _compile_timed(eng: Engines, name: str, schema, timeout: float) -> float:
    """Compile + first mask in seconds (raises on refusal / timeout)."""
    def go():
        t = time.perf_counter()
        c = eng.compile(name, schema)
        eng.matcher(name, c).fill(eng.alloc())
        return time.perf_counter() - t
    if name == "outlines-core":
        return _in_child(timeout, go)
    if name == "constrain":
        return _with_alarm(timeout, go)
    return go()


def part_jsonschemabench(eng: Engines, gen: Generator | None, a, bar) -> dict:
    subsets = load_subsets(a.limit, a.subsets)
    res = {}
    for subset, rows in subsets.items():
        st = {"n": len(rows), "engines": {n: {"compiled": 0, "compile_s": [], "refusals": {},
                                               "generated": 0, "valid": 0, "finished": 0, "ttft_s": [],
                                               "tpot_s": [], "gen_compile_s": [], "invalid": []}
                                           for n in eng.names},
              "unconstrained": {"generated": 0, "valid": 0, "finished": 0, "ttft_s": [], "tpot_s": []}}
        gen_left = a.gen_limit
        for item in rows:
            schema = item["schema"]
            compiled = []
            for name in eng.names:
                e = st["engines"][name]
                try:
                    e["compile_s"].append(_compile_timed(eng, name, schema, a.timeout))
                    e["compiled"] += 1
                    compiled.append(name)
                except Exception as ex:  # noqa: BLE001 - any refusal counts as not covered
                    key = f"{type(ex).__name__}: {str(ex)[:60]}"
                    e["refusals"][key] = e["refusals"].get(key, 0) + 1
                bar.update(1)
            if gen is None or gen_left <= 0 or "constrain" not in compiled:
                continue
            gen_left -= 1
            val = _validator(schema)
            ids = gen.prompt_ids(schema)
            u = gen.run(ids, a.max_tokens)
            su = st["unconstrained"]
            su["generated"] += 1
            su["finished"] += u["finished"]
            su["valid"] += u["finished"] and _is_valid(val, u["text"])
            su["ttft_s"].append(u["ttft_s"])
            su["tpot_s"].append(u["tpot_s"])
            for name in eng.names:
                e = st["engines"][name]
                if name not in compiled:  # refused above: no output (counts against empirical coverage)
                    continue
                try:
                    r = (_in_child(a.timeout + 60, gen.run, ids, a.max_tokens, name, schema)
                         if name == "outlines-core" else gen.run(ids, a.max_tokens, name, schema))
                except Exception as ex:  # noqa: BLE001 - e.g. a limit hit while generating
                    key = "generation: " + f"{type(ex).__name__}"[:40]
                    e["refusals"][key] = e["refusals"].get(key, 0) + 1
                    continue
                e["generated"] += 1
                e["finished"] += r["finished"]
                good = r["finished"] and _is_valid(val, r["text"])
                e["valid"] += good
                if not good:
                    e["invalid"].append((item["id"], r["text"][:160]))
                e["ttft_s"].append(r["ttft_s"])
                e["tpot_s"].append(r["tpot_s"])
                e["gen_compile_s"].append(r["compile_s"])
        res[subset] = st
    return res


# ----------------------------------------------------------------------------- part 2
def load_mask_cases(n: int) -> list[dict]:
    """``n`` test-suite cases spread evenly over draft2020-12's files (optional/ excluded)."""
    cases = []
    for path in sorted(SUITE.glob("*.json")):
        for case in json.loads(path.read_text()):
            cases.append({"file": path.stem, **case})
    if n and n < len(cases):
        step = len(cases) / n
        cases = [cases[int(i * step)] for i in range(n)]
    return cases


def _feed(eng: Engines, name: str, compiled, ids: list[int], times: list[int]) -> bool:
    """Whether the engine accepts the whole token sequence and then allows EOS; appends the time
    of each mask fill + advance (ns) to ``times``."""
    m = eng.matcher(name, compiled)
    buf = eng.alloc()
    perf = time.perf_counter_ns
    for t in ids:
        t0 = perf()
        m.fill(buf)
        ok = C.has_bit(buf, t) and m.advance(t)
        times.append(perf() - t0)
        if not ok:
            return False
    m.fill(buf)
    return any(C.has_bit(buf, e) for e in eng.eos if e < eng.size)


def _mask_case(eng: Engines, name: str, case: dict, timeout: float) -> dict:
    t0 = time.perf_counter()
    compiled = eng.compile(name, case["schema"])
    eng.matcher(name, compiled).fill(eng.alloc())
    first = time.perf_counter() - t0
    out = {"first_mask_s": first, "between_ns": [], "valid": 0, "valid_refused": 0, "invalid": 0,
           "invalid_accepted": 0}
    for test in case["tests"]:
        text = json.dumps(test["data"], separators=(",", ":"), ensure_ascii=False)
        ids = eng.tok.encode(text, add_special_tokens=False)
        accepted = _feed(eng, name, compiled, ids, out["between_ns"])
        if test["valid"]:
            out["valid"] += 1
            out["valid_refused"] += not accepted
        else:
            out["invalid"] += 1
            out["invalid_accepted"] += accepted
    return out


def part_maskbench(eng: Engines, a, bar) -> dict:
    cases = load_mask_cases(a.mask_cases)
    res = {n: {"cases": len(cases), "compiled": 0, "first_mask_s": [], "between_ns": [], "valid": 0,
               "valid_refused": 0, "invalid": 0, "invalid_accepted": 0, "refusals": {}} for n in eng.names}
    for case in cases:
        for name in eng.names:
            r = res[name]
            try:
                if name == "outlines-core":
                    o = _in_child(a.timeout, _mask_case, eng, name, case, a.timeout)
                elif name == "constrain":
                    o = _with_alarm(a.timeout, _mask_case, eng, name, case, a.timeout)
                else:
                    o = _mask_case(eng, name, case, a.timeout)
            except Exception as ex:  # noqa: BLE001 - not compiled: no instance figures
                key = f"{type(ex).__name__}: {str(ex)[:50]}"
                r["refusals"][key] = r["refusals"].get(key, 0) + 1
                bar.update(1)
                continue
            r["compiled"] += 1
            r["first_mask_s"].append(o["first_mask_s"])
            r["between_ns"].extend(o["between_ns"])
            for k in ("valid", "valid_refused", "invalid", "invalid_accepted"):
                r[k] += o[k]
            bar.update(1)
    for r in res.values():  # keep the file small: the distribution, not every sample
        r["between_us"] = C.summarize_ns(r.pop("between_ns"))
    return res


# ----------------------------------------------------------------------------- summary / main
def _pct(v, q):
    v = [x for x in v if x is not None and not math.isnan(x)]
    return C.percentile(v, q) if v else math.nan


def summarize(jsb: dict, names: list[str]) -> dict:
    """Per engine over all subsets: coverage, compliance and efficiency medians (ms)."""
    out = {}
    for name in [*names, "unconstrained"]:
        sts = [st["unconstrained"] if name == "unconstrained" else st["engines"][name] for st in jsb.values()]
        n = sum(st["n"] for st in jsb.values())
        gen = sum(s["generated"] for s in sts)
        valid = sum(s["valid"] for s in sts)
        sample = sum(st["unconstrained"]["generated"] for st in jsb.values())  # one per sampled schema
        d = {"schemas": n, "generated": gen, "valid": valid, "sample": sample,
             "compliance": valid / gen if gen else math.nan,
             "empirical_coverage": valid / sample if sample else math.nan,
             "ttft_ms_p50": _pct([x for s in sts for x in s["ttft_s"]], 50) * 1e3,
             "tpot_ms_p50": _pct([x for s in sts for x in s["tpot_s"]], 50) * 1e3}
        if name != "unconstrained":
            comp = sum(s["compiled"] for s in sts)
            d.update(compiled=comp, declared_coverage=comp / n if n else math.nan,
                     compile_ms_p50=_pct([x for s in sts for x in s["compile_s"]], 50) * 1e3,
                     compile_ms_p90=_pct([x for s in sts for x in s["compile_s"]], 90) * 1e3)
        out[name] = d
    return out


def print_tables(out: dict) -> None:
    names = out["engines"]
    rows = []
    for subset, st in out["jsonschemabench"].items():
        for name in names:
            e = st["engines"][name]
            rows.append([subset, name, f"{e['compiled']}/{st['n']}", f"{e['valid']}/{e['generated']}",
                         _pct(e["compile_s"], 50) * 1e3, _pct(e["ttft_s"], 50) * 1e3, _pct(e["tpot_s"], 50) * 1e3])
        u = st["unconstrained"]
        rows.append([subset, "unconstrained", "-", f"{u['valid']}/{u['generated']}", None,
                     _pct(u["ttft_s"], 50) * 1e3, _pct(u["tpot_s"], 50) * 1e3])
    print(C.table(["subset", "engine", "compiled", "valid/generated", "GCT p50 ms", "TTFT p50 ms", "TPOT p50 ms"],
                  rows, title="\nJSONSchemaBench (SmolLM2, greedy)"))
    mrows = [[name, f"{r['compiled']}/{r['cases']}", _pct(r["first_mask_s"], 50) * 1e3, r["between_us"]["p50_us"],
              r["between_us"]["p99_us"], f"{r['valid_refused']}/{r['valid']}", f"{r['invalid_accepted']}/{r['invalid']}"]
             for name, r in out["maskbench"].items()]
    print(C.table(["engine", "compiled", "1st mask p50 ms", "between p50 us", "between p99 us", "valid refused",
                   "invalid accepted"], mrows, left=1, title="\nMaskBench figures on the JSON-Schema-Test-Suite"))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=6, help="schemas per subset (coverage, compile time)")
    ap.add_argument("--gen-limit", type=int, default=2, help="schemas per subset generated with SmolLM2 (0: none)")
    ap.add_argument("--max-tokens", type=int, default=96)
    ap.add_argument("--mask-cases", type=int, default=40, help="JSON-Schema-Test-Suite cases (0: none)")
    ap.add_argument("--timeout", type=float, default=10.0, help="per-schema compile limit (s)")
    ap.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    ap.add_argument("--subsets", nargs="*", default=None, help="only these subsets (file stems)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="also write the results here (JSON)")
    a = ap.parse_args(argv)
    from tqdm import tqdm
    warnings.simplefilter("ignore")
    random.seed(a.seed)
    C.torch_single_thread()
    names = list(dict.fromkeys(["constrain", *a.engines]))
    tok = C.load_tokenizer("smollm2")
    eng = Engines(tok, names)
    for name in names:  # kernels loaded / JIT caches read before any timed compile
        eng.matcher(name, eng.compile(name, {"type": "object", "properties": {"a": {"type": "integer"}}})).fill(eng.alloc())
    gen = Generator(eng) if a.gen_limit else None
    n_schemas = sum(len(v) for v in load_subsets(a.limit, a.subsets).values())
    out = {"engines": names, "model": "SmolLM2-135M-Instruct (GGUF Q4_1 dequantized to float32)",
           "args": vars(a), "versions": {n: getattr(eng.peers.get(n), "version", None) for n in names}}
    with tqdm(total=n_schemas * len(names), desc="jsonschemabench", unit="compile", file=sys.stderr) as bar:
        out["jsonschemabench"] = part_jsonschemabench(eng, gen, a, bar)
    out["summary"] = summarize(out["jsonschemabench"], names)
    cases = load_mask_cases(a.mask_cases) if a.mask_cases else []
    with tqdm(total=len(cases) * len(names), desc="maskbench", unit="case", file=sys.stderr) as bar:
        out["maskbench"] = part_maskbench(eng, a, bar) if cases else {}
    print_tables(out)
    if a.out:
        Path(a.out).write_text(json.dumps(out, indent=1, default=str))
    return out


if __name__ == "__main__":
    main()
