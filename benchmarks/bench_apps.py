"""What applications ask for: tag overhead per token, tool calls on untuned prompts, reasoning.

Parts (``--part``):

* ``overhead``: per-token cost (``fill_mask`` + ``advance``) of replaying fixed SmolLM2 token
  sequences through a tagged constraint versus its body alone: ``ToolCalls`` (required / auto
  with a free-text preface) versus the call's JSON envelope, ``Reasoning`` versus its answer
  schema. Cold = a freshly built constraint's first pass (compile excluded), warm = a second
  matcher on the same compiled constraint. xgrammar's structural tag versus its JSON Schema,
  side by side, when installed.
* ``tools``: SmolLM2 on tool-calling prompts written once and not tuned, batched greedy decoding:
  ``mode="required"`` (share complete, share whose calls are declared with valid arguments) and
  ``mode="auto"`` (outputs whose unconstrained greedy text has no trigger must equal it).
* ``reasoning``: ``Reasoning(JsonSchema, max_thinking_tokens=N)``: the first N tokens equal
  unconstrained decoding with the same seed (greedy and sampled), answers validate.

Run: ``PYTHONPATH=$PWD python benchmarks/bench_apps.py --part all``. Timings on a shared 2-core
machine are noisy: compare the ratios.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import single_thread  # noqa: E402

single_thread()

import numpy as np  # noqa: E402

TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "Current weather in a city",
     "parameters": {"type": "object", "properties": {
         "city": {"type": "string"}, "unit": {"enum": ["celsius", "fahrenheit"]}}, "required": ["city"]}}},
    {"type": "function", "function": {"name": "send_email", "description": "Send an email",
     "parameters": {"type": "object", "properties": {
         "to": {"type": "string"}, "subject": {"type": "string"}, "body": {"type": "string"}},
         "required": ["to", "subject", "body"]}}},
    {"type": "function", "function": {"name": "create_event", "description": "Add a calendar event",
     "parameters": {"type": "object", "properties": {
         "title": {"type": "string"}, "date": {"type": "string", "format": "date"},
         "attendees": {"type": "array", "items": {"type": "string"}}}, "required": ["title", "date"]}}},
    {"type": "function", "function": {"name": "convert_currency", "description": "Convert money",
     "parameters": {"type": "object", "properties": {
         "amount": {"type": "number"}, "from": {"type": "string", "pattern": "^[A-Z]{3}$"},
         "to": {"type": "string", "pattern": "^[A-Z]{3}$"}}, "required": ["amount", "from", "to"]}}},
]

# Written once, before any run; not edited after seeing outputs.
PROMPTS = [
    "What's the weather in Lisbon right now?",
    "Email my boss at jane@corp.com that I'll be late tomorrow.",
    "Put a dentist appointment on my calendar for 2026-03-14.",
    "How much is 250 US dollars in euros?",
    "Is it colder in Oslo or in Helsinki today? Use fahrenheit.",
    "Schedule a team lunch with Ana and Bo on 2026-01-09 and tell them by email at team@x.io.",
    "Tell me a joke about penguins.",
    "What is the capital of Australia?",
]

ANSWER = {"type": "object", "properties": {"answer": {"type": "integer"}, "confidence":
                                           {"enum": ["low", "medium", "high"]}},
          "required": ["answer", "confidence"], "additionalProperties": False}


# ---------------------------------------------------------------------------------- overhead
def _replay(compiled, ids, vocab) -> float:
    """Mean seconds per token of fill_mask + advance (GC off during the pass, as timeit does)."""
    import gc

    m = compiled.matcher()
    buf = np.zeros((1, vocab.words), dtype=np.int32)
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        for t in ids:
            m.fill_mask(buf, 0)
            m.advance(t)
        m.fill_mask(buf, 0)
        dt = time.perf_counter() - t0
    finally:
        gc.enable()
    assert m.is_accepting()
    return dt / (len(ids) + 1)


def _ours(cases, vocab, reps: int) -> list[tuple[float, float]]:
    """(cold, warm) seconds per token for each (make, ids) case: the best of ``reps`` runs, the
    cases interleaved within each repetition (so that load spikes and order effects hit all)."""
    colds = [[] for _ in cases]
    warms = [[] for _ in cases]
    for _ in range(reps):
        for k, (make, ids) in enumerate(cases):
            comp = make().compile(vocab, cache=False)
            colds[k].append(_replay(comp, ids, vocab))
            warms[k].append(_replay(comp, ids, vocab))
    return [(min(c), min(w)) for c, w in zip(colds, warms)]


def _xgr(tok, spec, kind, ids, reps):
    import xgrammar as xgr
    import torch

    info = xgr.TokenizerInfo.from_huggingface(tok, vocab_size=len(tok))
    colds, warms = [], []
    for _ in range(reps):
        comp = xgr.GrammarCompiler(info, max_threads=1, cache_enabled=False)
        g = comp.compile_structural_tag(json.dumps(spec)) if kind == "tag" else \
            comp.compile_json_schema(json.dumps(spec))
        for out in (colds, warms):
            m = xgr.GrammarMatcher(g)
            buf = torch.zeros((1, (len(tok) + 31) // 32), dtype=torch.int32)
            t0 = time.perf_counter()
            for t in ids:
                m.fill_next_token_bitmask(buf)
                assert m.accept_token(t)
            m.fill_next_token_bitmask(buf)
            out.append((time.perf_counter() - t0) / (len(ids) + 1))  # native: no Python GC inside
    return min(colds), min(warms)


def part_overhead(reps: int) -> None:
    import constrain as cn
    from constrain.models import load_smollm2_tokenizer
    from constrain.tools import FORMATS, normalize_tools

    tok = load_smollm2_tokenizer()
    vocab = cn.Vocabulary.from_hf(tok)
    tools = normalize_tools(TOOLS)
    args = {"title": "Team lunch", "date": "2026-01-09", "attendees": ["Ana", "Bo", "Chen"]}
    env = json.dumps({"name": "create_event", "arguments": args})
    call = f"<tool_call>\n{env}\n</tool_call>"
    fmt = FORMATS["hermes"]

    def envelope():  # a fresh body each time, so that "cold" starts with empty caches
        return cn.ToolCalls(TOOLS, mode="required").tagged.tags[0].body
    think = ("Okay, the user wants the product of six and seven. Six times seven is forty-two; "
             "I am sure of it.")
    answer = json.dumps({"answer": 42, "confidence": "high"})
    rows = [
        ("tool call, required", lambda: cn.ToolCalls(TOOLS, mode="required"), call,
         envelope, env),
        ("tool call, auto + text", lambda: cn.ToolCalls(TOOLS, mode="auto"),
         "Sure, I will add it to your calendar now. " + call, envelope, env),
        ("reasoning", lambda: cn.Reasoning(cn.JsonSchema(ANSWER, whitespace=" ?")),
         think + "</think>" + answer, lambda: cn.JsonSchema(ANSWER, whitespace=" ?"), answer),
    ]
    cn.JsonSchema(ANSWER).compile(vocab)  # JIT and vocabulary warm-up outside the timings
    print(f"\n## Per-token cost: tag constraint vs body alone (SmolLM2, best of {reps}; "
          "fill_mask + advance per token, us)\n")
    print("| case | tokens (tag / body) | tag cold | body cold | ratio cold | tag warm | body warm | ratio warm |")
    print("|---|---|---|---|---|---|---|---|")
    for name, make_tag, text, make_body, body_text in rows:
        ids_t, ids_b = tok.encode(text), tok.encode(body_text)
        (tc, tw), (bc, bw) = _ours([(make_tag, ids_t), (make_body, ids_b)], vocab, reps)
        print(f"| {name} | {len(ids_t)} / {len(ids_b)} | {tc * 1e6:.0f} | {bc * 1e6:.0f} | "
              f"{tc / bc:.2f}x | {tw * 1e6:.1f} | {bw * 1e6:.1f} | {tw / bw:.2f}x |")
    try:
        env_schema = {"anyOf": [
            {"type": "object", "properties": {"name": {"const": t.name}, "arguments": t.parameters},
             "required": ["name", "arguments"]} for t in tools]}
        spec = {"type": "structural_tag", "format": {
            "type": "triggered_tags", "triggers": ["<tool_call>"], "at_least_one": False,
            "stop_after_first": False, "tags": [{"type": "tag", "begin": fmt.begin, "end": fmt.end,
                                                  "content": {"type": "json_schema", "json_schema": env_schema}}]}}
        text = "Sure, I will add it to your calendar now. " + call
        tc, tw = _xgr(tok, spec, "tag", tok.encode(text), reps)
        bc, bw = _xgr(tok, env_schema, "json", tok.encode(env), reps)
        print(f"| xgrammar: structural tag, auto + text | {len(tok.encode(text))} / "
              f"{len(tok.encode(env))} | {tc * 1e6:.0f} | {bc * 1e6:.0f} | {tc / bc:.2f}x | "
              f"{tw * 1e6:.1f} | {bw * 1e6:.1f} | {tw / bw:.2f}x |")
    except Exception as e:  # pragma: no cover - peer not installed or API changed
        print(f"| xgrammar | n/a: {type(e).__name__}: {str(e)[:80]} |")


# ---------------------------------------------------------------------------------- model parts
def _batch(tok, messages_list):
    import torch

    texts = [tok.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in messages_list]
    tok.padding_side = "left"
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    return enc, torch


def _gen_texts(tok, out, plen):
    """Generated texts, each cut at its first end-of-sequence id (any of the vocabulary's)."""
    from constrain.vocab import vocabulary_for

    stop = set(vocabulary_for(tok).eos_ids.tolist()) | {tok.eos_token_id}
    res = []
    for row in out[:, plen:].tolist():
        cut = next((j for j, t in enumerate(row) if t in stop), len(row))
        res.append(tok.decode(row[:cut]))
    return res


def part_tools(max_new: int) -> None:
    import jsonschema

    import constrain as cn
    from constrain.models import load_smollm2_model, load_smollm2_tokenizer

    tok, model = load_smollm2_tokenizer(), load_smollm2_model()
    sys_msg = ("You are a helpful assistant with tools. To call a tool, write <tool_call>\n"
               '{"name": <tool name>, "arguments": <JSON arguments>}\n</tool_call>. Tools: '
               + json.dumps([t["function"] for t in TOOLS]))
    msgs = [[{"role": "system", "content": sys_msg}, {"role": "user", "content": p}] for p in PROMPTS]
    enc, torch = _batch(tok, msgs)
    plen = enc["input_ids"].shape[1]
    params = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}
    kw = dict(do_sample=False, pad_token_id=tok.pad_token_id)
    print(f"\n## Tool calls, SmolLM2-135M, {len(PROMPTS)} untuned prompts, greedy, batch "
          f"{len(PROMPTS)}, max_new_tokens={max_new}\n")
    t0 = time.perf_counter()
    free = _gen_texts(tok, model.generate(**enc, max_new_tokens=max_new, **kw), plen)
    t_free = time.perf_counter() - t0
    print("| mode | outputs complete | closed calls: declared + args valid | other | wall s |")
    print("|---|---|---|---|---|")
    print(f"| unconstrained | - | {sum('<tool_call>' in t for t in free)} outputs contain the trigger | - | {t_free:.0f} |")
    for mode, parallel in (("required", False), ("required", True), ("auto", True)):
        c = cn.ToolCalls(TOOLS, mode=mode, parallel=parallel)
        proc = cn.LogitsProcessor(c, tok)
        t0 = time.perf_counter()
        out = model.generate(**enc, logits_processor=[proc], max_new_tokens=max_new, **kw)
        wall = time.perf_counter() - t0
        texts, outs = _gen_texts(tok, out, plen), proc.outcomes(out)
        complete = sum(o.status == "complete" for o in outs)
        closed = valid = cut = 0
        for text, o in zip(texts, outs):
            end = c.format.end
            upto = text if o.status == "complete" else text[:text.rfind(end) + len(end)] \
                if text.rfind(end) >= 0 else ""  # a truncated output: its closed calls
            cut += o.status != "complete" and text.count("<tool_call>") > upto.count("<tool_call>")
            for k in c.parse(upto).calls:
                closed += 1
                valid += k.name in params and \
                    jsonschema.Draft202012Validator(params[k.name]).is_valid(k.arguments)
        other = [f"{cut} calls cut by the budget"]
        if mode == "auto":
            no_trigger = [i for i, t in enumerate(free) if "<tool_call>" not in t]
            same = sum(texts[i] == free[i] for i in no_trigger)
            other.append(f"{same}/{len(no_trigger)} trigger-free outputs identical to unconstrained")
        other.append("statuses " + ",".join(o.status[0] for o in outs))
        label = f"{mode}{'' if parallel else ', single'}"
        print(f"| {label} | {complete}/{len(outs)} | {valid}/{closed} | {'; '.join(other)} | {wall:.0f} |")
        for i, t in enumerate(texts):
            print(f"    {label}[{i}] {outs[i].status}: {t[:120]!r}")


def part_reasoning(budget: int, seeds: int) -> None:
    import jsonschema

    import constrain as cn
    from constrain.models import load_smollm2_model, load_smollm2_tokenizer

    tok, model = load_smollm2_tokenizer(), load_smollm2_model()
    qs = ["What is 6 times 7?", "How many legs do three spiders have?",
          "What is 100 minus 58?", "How many days are in two weeks?"]
    msgs = [[{"role": "user", "content": q + " Think step by step, then answer in JSON."}] for q in qs]
    enc, torch = _batch(tok, msgs)
    plen = enc["input_ids"].shape[1]
    r = cn.Reasoning(cn.JsonSchema(ANSWER, whitespace=" ?"), max_thinking_tokens=budget)
    print(f"\n## Reasoning, SmolLM2-135M, {len(qs)} prompts, thinking budget {budget} tokens\n")
    print("| decoding | thinking identical to unconstrained | answers | wall s |")
    print("|---|---|---|---|")
    for label, sample_kw in [("greedy", dict(do_sample=False))] + [
            (f"sampled T=0.8 seed {s}", dict(do_sample=True, temperature=0.8, top_k=0, seed=s))
            for s in range(seeds)]:
        kw = {k: v for k, v in sample_kw.items() if k != "seed"}
        if "seed" in sample_kw:
            torch.manual_seed(sample_kw["seed"])
        free = model.generate(**enc, max_new_tokens=budget, pad_token_id=tok.pad_token_id, **kw)
        if "seed" in sample_kw:
            torch.manual_seed(sample_kw["seed"])
        proc = cn.LogitsProcessor(r, tok)
        t0 = time.perf_counter()
        out = model.generate(**enc, logits_processor=[proc], max_new_tokens=budget + 32,
                             pad_token_id=tok.pad_token_id, **kw)
        wall = time.perf_counter() - t0
        same, n, valid = 0, 0, 0
        for i in range(len(qs)):
            f = free[i, plen:].tolist()
            if tok.eos_token_id in f:  # unconstrained ended early: compare up to its EOS
                f = f[:f.index(tok.eos_token_id)]
            n += 1
            same += out[i, plen:plen + len(f)].tolist() == f
        outs, texts = proc.outcomes(out), _gen_texts(tok, out, plen)
        for o, text in zip(outs, texts):
            if o.status == "complete":
                try:
                    jsonschema.validate(r.parse(text), ANSWER)
                    valid += 1
                except Exception:
                    pass
        statuses = ",".join(o.status[0] for o in outs)
        n_complete = sum(o.status == "complete" for o in outs)
        print(f"| {label} | {same}/{n} | {n_complete}/{len(qs)} complete, {valid}/{n_complete} valid "
              f"({statuses}) | {wall:.0f} |")
        for i, t in enumerate(texts):
            print(f"    [{i}] {outs[i].status}: ...{t[-90:]!r}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=["overhead", "tools", "reasoning", "all"], default="all")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--max-new", type=int, default=72)
    ap.add_argument("--budget", type=int, default=24)
    ap.add_argument("--seeds", type=int, default=2)
    a = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    if a.part in ("overhead", "all"):
        part_overhead(a.reps)
    if a.part in ("reasoning", "all"):
        part_reasoning(a.budget, a.seeds)
    if a.part in ("tools", "all"):
        part_tools(a.max_new)


if __name__ == "__main__":
    main()
