"""End to end with SmolLM2-135M-Instruct and its real tokenizer splits (``</think>`` is
``</`` ``think`` ``>``, ``<tool_call>`` five pieces): reasoning, tool calls, outcomes, streaming
extraction; masks at the marker equal brute force over the whole vocabulary."""

from __future__ import annotations

import warnings

import jsonschema
import numpy as np
import pydantic
import pytest
import torch

import constrain as cn
from constrain.bitmask import bitmask_to_bool
from constrain.errors import LimitExceeded, TokenRejected
from constrain.grammar.engine import GrammarLimits

pytestmark = pytest.mark.slow

ANSWER = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}


def brute(m, vocab) -> np.ndarray:
    """Every token's bytes fed to a fork (the matcher's own advance, not its masks)."""
    ok = np.zeros(vocab.size, dtype=bool)
    for i in range(vocab.size):
        f = m.fork()
        try:
            f.advance(i)
            ok[i] = True
        except TokenRejected:
            pass
    return ok


def test_reasoning_masks_at_the_marker_equal_brute_force(smollm2_tokenizer, smollm2_vocab):
    tok, v = smollm2_tokenizer, smollm2_vocab
    r = cn.Reasoning(cn.JsonSchema(ANSWER), max_thinking_tokens=50)
    m = r.compile(v).matcher()
    ids = tok.encode('Two plus two.</think>{"answer":4}')
    pieces = [tok.decode([i]) for i in ids]
    assert pieces[4:7] == ["</", "think", ">"]
    buf = np.zeros((1, v.words), dtype=np.int32)
    for k, t in enumerate(ids):
        if 3 <= k <= 8:  # around the marker and the answer's first tokens
            m.fill_mask(buf, 0)
            assert np.array_equal(bitmask_to_bool(buf, v.size)[0], brute(m, v)), pieces[:k]
        m.advance(t)
    assert m.is_accepting() and m.thinking_done
    # a token that completes the marker and goes on is allowed only if the answer can start so
    m2 = r.compile(v).matcher()
    m2.advance_many(tok.encode("Hm</think"))
    for s, ok in ((">{", True), (">\n", False), (">.", False)):
        ids2 = tok.encode(s)
        if len(ids2) == 1:
            assert m2.allows(ids2[0]) == ok, s


def _chat_ids(tok, messages):
    ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
    return ids if torch.is_tensor(ids) else ids["input_ids"]


def test_reasoning_thinking_equals_unconstrained_then_valid_answer(smollm2_tokenizer, smollm2_model):
    tok, model = smollm2_tokenizer, smollm2_model
    ids = _chat_ids(tok, [{"role": "user", "content": "What is 6 times 7? Think, then answer in JSON."}])
    budget = 12
    free = model.generate(ids, max_new_tokens=budget, do_sample=False)
    r = cn.Reasoning(cn.JsonSchema(ANSWER), max_thinking_tokens=budget)
    proc = cn.LogitsProcessor(r, tok)
    out = model.generate(ids, logits_processor=[proc], max_new_tokens=budget + 16, do_sample=False)
    gen = out[0, ids.shape[1]:].tolist()
    assert gen[:budget] == free[0, ids.shape[1]:].tolist()  # thinking is the model's own
    text = tok.decode(gen, skip_special_tokens=True)
    (o,) = proc.outcomes(out)
    assert o.status == "complete", (o, text)
    jsonschema.validate(r.parse(text), ANSWER)


TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "pattern": "^[A-Z][a-z]{1,15}$"}},
                   "required": ["city"]}}}]


def test_tool_call_required_with_hf_generate(smollm2_tokenizer, smollm2_model):
    tok, model = smollm2_tokenizer, smollm2_model
    c = cn.ToolCalls(TOOLS, mode="required", parallel=False)
    ids = _chat_ids(tok, [{"role": "system", "content": "Call a tool when needed."},
                          {"role": "user", "content": "Is it raining in Oslo?"}])
    proc = cn.LogitsProcessor(c, tok)
    out = model.generate(ids, logits_processor=[proc], max_new_tokens=64, do_sample=False)
    text = tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
    (o,) = proc.outcomes(out)
    assert o.status == "complete", (o, text)
    calls = c.parse(text).calls
    assert [k.name for k in calls] == ["get_weather"]
    jsonschema.validate(calls[0].arguments, TOOLS[0]["function"]["parameters"])


def test_outcomes_truncated_and_failed_rows(smollm2_tokenizer, smollm2_model):
    tok, model = smollm2_tokenizer, smollm2_model
    ids = _chat_ids(tok, [{"role": "user", "content": "Give me an email address."}])
    email = cn.Regex(r"[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}")
    proc = cn.LogitsProcessor(email, tok)
    out = model.generate(ids, logits_processor=[proc], max_new_tokens=4, do_sample=False)
    (o,) = proc.outcomes(out)
    assert o.status == "truncated" and not o.valid and o.num_tokens == 4
    # a grammar whose item limit is hit after a few tokens: both rows fail, one warning each
    g = cn.JsonSchema(ANSWER, limits=GrammarLimits(max_items_total=20))
    proc = cn.LogitsProcessor(g, tok)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out = model.generate(ids.repeat(2, 1), logits_processor=[proc], max_new_tokens=12,
                             do_sample=True, top_k=5, pad_token_id=tok.eos_token_id)
    outs = proc.outcomes(out)
    assert [x.status for x in outs] == ["failed", "failed"]
    assert all(isinstance(x.error, LimitExceeded) for x in outs)
    # one warning per failure (rows that share the failing prefix share one error)
    assert sum("failed and was ended" in str(w.message) for w in rec) == len({id(x.error) for x in outs})


class City(pydantic.BaseModel):
    name: str
    country: str
    population: int


def test_extract_stream_yields_partials(smollm2_tokenizer, smollm2_model):
    steps = list(cn.extract_stream(smollm2_model, smollm2_tokenizer,
                                   "Paris is the capital of France; 2.1 million people live there.",
                                   City, max_new_tokens=40, temperature=0.2))
    assert isinstance(steps[-1], City) and len(steps) >= 3
    partial_sets = [s.model_fields_set for s in steps[:-1]]
    assert partial_sets[0] == {"name"}  # fields arrive one by one, in order
    assert all(a < b or a == b for a, b in zip(partial_sets, partial_sets[1:]))
