"""``if``/``then``/``else`` with a condition whose negation is exact (``type``, ``required``,
``properties`` of ``const``/``enum``/``type``), and ``not`` of string values: brute force against
``jsonschema`` over every small object of a tiny universe (exact: accepted == valid), and
mask-guided walks. Valid instances are accepted in some key order (the grammar fixes
the order of declared, required and additional keys)."""

from __future__ import annotations

import itertools
import json
import random

import pytest

from constrain.errors import ConstraintError
from constrain.schema import JsonSchema

jsonschema = pytest.importorskip("jsonschema")

KEYS = ("k", "a", "b")
VALUES = ("x", "y", 1, None)
CONDS = [{"properties": {"k": {"const": "x"}}}, {"properties": {"k": {"enum": ["x", 1]}}, "required": ["k"]},
         {"required": ["a"]}, {"type": "object", "properties": {"k": {"type": "string"}}},
         {"properties": {"k": {"const": "x"}, "a": {"type": "null"}}}, {"type": "string"}]
SUBS = [{"required": ["a"]}, {"required": ["b"]}, {"properties": {"a": {"type": "integer"}}},
        {"properties": {"b": {"const": "y"}}}, {"maxProperties": 1}, {"type": "object"}]


def _universe():
    yield from ("x", 1, None, [])
    for choice in itertools.product((None,) + VALUES, repeat=len(KEYS)):
        yield {k: v for k, v in zip(KEYS, choice) if v is not None}


def _exact(schema) -> int:
    js = JsonSchema(schema)
    val = jsonschema.Draft202012Validator(schema)
    accepted = 0
    for inst in _universe():
        text = json.dumps(inst, separators=(",", ":"))
        got = js.accepts(text)
        if got:
            assert val.is_valid(inst), (schema, text)
        elif val.is_valid(inst):  # rejected valid instances: only key orders the grammar does not produce
            keys = list(inst) if isinstance(inst, dict) else []
            assert any(js.accepts(json.dumps(dict(zip(p, (inst[k] for k in p))), separators=(",", ":")))
                       for p in itertools.permutations(keys)), (schema, text)
        accepted += got
    return accepted


def test_if_then_else_bruteforce():
    rng = random.Random(14)
    compiled = 0
    for _ in range(120):
        schema = {"if": rng.choice(CONDS)}
        if rng.random() < 0.8:
            schema["then"] = rng.choice(SUBS)
        if rng.random() < 0.8:
            schema["else"] = rng.choice(SUBS)
        if rng.random() < 0.4:
            schema["properties"] = {"k": {"type": ["string", "integer"]}}
        try:
            _exact(schema)
        except ConstraintError:
            continue
        compiled += 1
    assert compiled >= 100, compiled


def _if_member(rng: random.Random) -> dict:
    m = {"if": rng.choice(CONDS[:5]), "then": rng.choice(SUBS)}
    if rng.random() < 0.6:
        m["else"] = rng.choice(SUBS)
    return m


def test_two_ifs_in_allof_bruteforce():
    """Two ``allOf`` members with ``if`` (each rewritten to its exact ``anyOf`` before merging),
    also beside a sibling ``if`` and ``anyOf``: exact."""
    rng = random.Random(23)
    compiled = 0
    for _ in range(60):
        schema = {"allOf": [_if_member(rng), _if_member(rng)]}
        if rng.random() < 0.3:
            schema.update(_if_member(rng))
        if rng.random() < 0.3:
            schema["anyOf"] = [rng.choice(SUBS), rng.choice(SUBS)]
        try:
            _exact(schema)
        except ConstraintError:
            continue
        compiled += 1
    assert compiled >= 20, compiled


@pytest.mark.parametrize("schema", [
    {"not": {"const": "x"}}, {"type": "string", "not": {"enum": ["y", 1]}},
    {"properties": {"k": {"not": {"enum": ["x", None]}}}},
    {"properties": {"k": {"enum": ["x", "y", 1], "not": {"const": "x"}}}},
    {"properties": {"k": {"enum": ["x", "y"]}}, "if": {"properties": {"k": {"const": "x"}}},
     "then": {"required": ["a"]}, "else": {"required": ["b"]}},
])
def test_not_string_values(schema):
    assert _exact(schema) > 0


def test_if_refused_when_condition_cannot_be_negated():
    with pytest.raises(ConstraintError) as e:
        JsonSchema({"if": {"properties": {"k": {"minLength": 2}}}, "then": {"required": ["a"]}})
    assert e.value.keyword == "if"


def test_if_walks_validate(smollm2_vocab):
    from tests.test_schema_soundness import _walk

    schema = {"type": "object", "properties": {"kind": {"enum": ["action", "view"]}, "n": {"type": "integer"},
                                               "s": {"type": "string", "maxLength": 3}},
              "required": ["kind"], "additionalProperties": False,
              "if": {"properties": {"kind": {"const": "action"}}}, "then": {"required": ["n"]},
              "else": {"required": ["s"]}}
    compiled = JsonSchema(schema).compile(smollm2_vocab)
    val = jsonschema.Draft202012Validator(schema)
    rng = random.Random(3)
    done = 0
    for _ in range(6):
        text = _walk(compiled.matcher(), smollm2_vocab, rng, max_tokens=60)
        if text is not None:
            assert val.is_valid(json.loads(text)), text
            done += 1
    assert done >= 2
