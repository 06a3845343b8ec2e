"""Driver run inside the vLLM venv by tests/test_serving_vllm.py: SmolLM2 in-process, concurrent
requests mixing regex, JSON Schema, Lark grammar, choice and no constraint, with a KV cache small
enough to force preemption. Prints one JSON line (``RESULT {...}``) for the test to check."""

import json
import os
import sys
import time

from serving_vllm_common import count_preemptions

os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
os.environ.setdefault("OMP_NUM_THREADS", "1")

PERSON = {"type": "object", "properties": {
    "name": {"type": "string", "pattern": "^[A-Z][a-z]{1,10}$"},
    "age": {"type": "integer", "minimum": 0, "maximum": 120},
    "city": {"enum": ["Paris", "Lima", "Oslo"]}},
    "required": ["name", "age", "city"], "additionalProperties": False}
LARK = 'start: "SELECT " COL ("," COL)~0..3 " FROM " TABLE ";"\nCOL: /[a-z]{1,8}/\nTABLE: /[a-z]{1,8}/'
SPECS = [  # unconstrained first: admitted first, they outrank (and preempt) the constrained ones
    ("Tell me a story.", None),
    ("List three fruits.", None),
    ("Give a US phone number.", {"regex": r"\(\d{3}\) \d{3}-\d{4}"}),
    ("Describe a person as JSON.", {"json_schema": PERSON}),
    ("Write a SQL query.", {"grammar": LARK}),
    ("Is the sky blue?", {"choice": ["yes", "no", "maybe"]}),
    ("Name a date.", {"regex": r"20[0-9]{2}-(0[1-9]|1[0-2])-[0-2][0-9]"}),
    ("Another person, JSON.", {"json_schema": json.dumps(PERSON)}),
    ("Pick a colour.", {"choice": ["red", "green", "blue"]}),
    ("Write an email address.", {"regex": r"[a-z]{2,10}@[a-z]{2,8}\.(com|org)"}),
]


def main() -> None:
    from vllm import LLM, SamplingParams


    from constrain.integrations import vllm as civ

    preempted = count_preemptions()

    model = sys.argv[1]
    t0 = time.perf_counter()
    llm = LLM(model=model, dtype="bfloat16", max_model_len=384, max_num_seqs=16, seed=0, enforce_eager=True, gpu_memory_utilization=0.15,
              num_gpu_blocks_override=int(os.environ.get("CONSTRAIN_TEST_KV_BLOCKS", "12")),
              enable_prefix_caching=False)
    start_s = time.perf_counter() - t0
    # a bad spec is refused up front, before it reaches the engine
    bad = []
    for spec in ({"regex": "(("}, {"json_schema": "{not json"}, {"oops": 1}):
        try:
            llm.generate(["x"], SamplingParams(max_tokens=2, extra_args={"constrain": spec}), use_tqdm=False)
            bad.append(None)
        except Exception as e:  # noqa: BLE001 - the test checks the message
            bad.append(f"{type(e).__name__}: {e}"[:300])
    prompts, params = [], []
    for k, (prompt, spec) in enumerate(SPECS * 2):
        prompts.append(prompt)
        # unconstrained requests run long, so the 4-block KV cache forces preemptions
        params.append(SamplingParams(temperature=0.7, seed=k, max_tokens=120 if spec else 250,
                                     extra_args={"constrain": spec} if spec else None))
    t0 = time.perf_counter()
    outs = llm.generate(prompts, params, use_tqdm=False)
    gen_s = time.perf_counter() - t0
    results = [{"spec": (SPECS * 2)[k][1], "text": o.outputs[0].text,
                "finish": o.outputs[0].finish_reason, "n_tokens": len(o.outputs[0].token_ids)}
               for k, o in enumerate(outs)]
    from vllm.v1.sample.logits_processor import _load_logitsprocs_by_fqcns
    from vllm.v1.sample.logits_processor import _load_logitsprocs_plugins
    by_name = _load_logitsprocs_by_fqcns(["constrain.integrations.vllm:ConstrainLogitsProcessor"])
    plugins = [c.__qualname__ for c in _load_logitsprocs_plugins() if c.__module__.startswith("constrain")]
    print("RESULT " + json.dumps({"results": results, "bad": bad, "stats": civ.STATS, "preemptions": preempted[0],
                                  "start_s": start_s, "gen_s": gen_s,
                                  "by_name": [c.__qualname__ for c in by_name], "plugins": plugins}))


if __name__ == "__main__":
    main()
