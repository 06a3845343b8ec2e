"""Serving specs (`constrain.integrations.spec`): the reasoning wrapper and tool calls, checked
by walking a tiny byte vocabulary against the constraints built in Python."""

from __future__ import annotations

import json

import pytest

import constrain as cn
from constrain.integrations.spec import SpecError, constraint_of, parse_spec

TOOLS = [{"type": "function", "function": {"name": "get", "parameters": {
    "type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"],
    "additionalProperties": False}}}]


@pytest.fixture(scope="module")
def vocab():
    # one token per byte: a text is accepted iff its byte walk is
    return cn.Vocabulary.from_bytes([None, *[bytes([b]) for b in range(32, 127)], b"\n"],
                                    eos_ids=[0], size=100)


def _walk(compiled, text: str) -> bool:
    m = compiled.matcher()
    for b in text.encode():
        t = b - 31 if b != 10 else 96
        if not m.allows(t):
            return False
        m.advance(t)
    return m.is_accepting()


def test_reasoning_wraps_any_kind(vocab):
    c = constraint_of({"regex": "[0-9]+", "reasoning": {"end": "</t>"}})
    assert isinstance(c, cn.Reasoning) and c.end == "</t>"
    compiled = c.compile(vocab)
    assert _walk(compiled, "free text, any <t> but not the end</t>42")
    assert not _walk(compiled, "thinking</t>4a")
    assert not _walk(compiled, "no marker 42")
    assert constraint_of({"regex": "[0-9]+", "reasoning": True}).end == "</think>"


def test_reasoning_spec_is_canonical():
    a = parse_spec({"reasoning": {"max_thinking_tokens": 4, "end": "</t>"}, "choice": ["x"]})
    b = parse_spec(json.dumps({"choice": ["x"], "reasoning": {"end": "</t>", "max_thinking_tokens": 4}}))
    assert a == b and a[0] == "reasoning"
    assert constraint_of({"choice": ["x"], "reasoning": {"max_thinking_tokens": 4}}).max_thinking_tokens == 4


def test_tool_calls_spec(vocab):
    c = constraint_of({"tool_calls": {"tools": TOOLS, "mode": "required"}})
    assert isinstance(c, cn.ToolCalls)
    compiled = c.compile(vocab)
    assert _walk(compiled, '<tool_call>\n{"name": "get", "arguments": {"n": 3}}\n</tool_call>')
    assert not _walk(compiled, '<tool_call>\n{"name": "put", "arguments": {"n": 3}}\n</tool_call>')
    assert not _walk(compiled, '<tool_call>\n{"name": "get", "arguments": {"n": "x"}}\n</tool_call>')


@pytest.mark.parametrize("bad", [
    {"regex": "a", "reasoning": 5},
    {"regex": "a", "reasoning": {"stop": "x"}},
    {"regex": "a", "reasoning": {"max_thinking_tokens": "5"}},
    {"reasoning": True},
    {"tool_calls": {"tools": []}},
    {"tool_calls": [1]},
    {"tool_calls": {"tools": TOOLS, "extra": 1}},
    {"tool_calls": {"tools": TOOLS, "mode": "sometimes"}},
])
def test_bad_specs_are_spec_errors(bad):
    with pytest.raises(SpecError):
        constraint_of(bad)
