"""``unevaluatedProperties`` / ``unevaluatedItems`` beside ``allOf`` and ``$ref`` (draft 2020-12
annotation semantics): brute force against ``jsonschema`` over every small object (array) of a
tiny universe. Accepted instances must be valid; where exact, every valid instance is accepted
in some key order (the grammar fixes the order of declared keys)."""

from __future__ import annotations

import itertools
import json
import random

import pytest

from constrain.schema import JsonSchema, UnsupportedKeyword
from schema_oracle import compile_or_settle

jsonschema = pytest.importorskip("jsonschema")

KEYS = ("a", "b", "c", "ca")
VALUES = (1, True, "x")
SUBS = ({}, {"type": "boolean"}, {"type": "integer"}, False, {"type": "string"})


def _objects():
    for choice in itertools.product((None,) + VALUES, repeat=len(KEYS)):
        yield {k: v for k, v in zip(KEYS, choice) if v is not None}


def _arrays():
    for n in range(4):
        yield from (list(c) for c in itertools.product(VALUES, repeat=n))


def _member(rng: random.Random) -> dict:
    s: dict = {}
    props = {k: rng.choice(SUBS) for k in KEYS if rng.random() < 0.35}
    if props:
        s["properties"] = props
    if rng.random() < 0.15:
        s["additionalProperties"] = rng.choice(SUBS)
    if rng.random() < 0.3:
        s["required"] = rng.sample(KEYS, 1)
    if rng.random() < 0.2:
        s["patternProperties"] = {"^c": rng.choice(SUBS)}
    if rng.random() < 0.1:
        s["unevaluatedProperties"] = rng.choice(SUBS)
    return s


def _compare(schema, instances, exact: bool) -> int:
    """Accepted instances (-1: refused); fails on an accepted invalid one, and when ``exact``
    on a rejected valid one."""
    validator = jsonschema.Draft202012Validator(schema)
    js, settled = compile_or_settle(schema, instances, validator)
    if js is None:
        return settled
    accepted = 0
    for inst in instances:
        ok = js.accepts(json.dumps(inst, separators=(",", ":")))
        valid = validator.is_valid(inst)
        assert valid or not ok, (schema, inst)
        if exact and valid and not ok:  # only key orders the grammar does not produce
            keys = list(inst) if isinstance(inst, dict) else []
            assert any(js.accepts(json.dumps({k: inst[k] for k in p}, separators=(",", ":")))
                       for p in itertools.permutations(keys)), (schema, inst)
        accepted += ok
    return accepted


def test_unevaluated_properties_beside_allof_and_ref():
    rng = random.Random(20)
    compiled = accepting = 0
    for _ in range(200):
        schema = {"$defs": {"d": _member(rng)}, "allOf": [_member(rng) for _ in range(rng.randint(1, 2))],
                  "unevaluatedProperties": rng.choice(SUBS)}
        schema.update({k: v for k, v in _member(rng).items() if k != "unevaluatedProperties"})
        if rng.random() < 0.5:
            schema["$ref"] = "#/$defs/d"
        n = _compare(schema, list(_objects()), exact=False)
        compiled += n >= 0
        accepting += n > 0
    assert compiled > 170 and accepting > 80, (compiled, accepting)


@pytest.mark.parametrize("schema", [
    {"allOf": [{"properties": {"a": {"type": "integer"}}}, {"properties": {"b": {}}}], "unevaluatedProperties": False},
    {"$defs": {"c": {"properties": {"a": {}}}}, "$ref": "#/$defs/c", "properties": {"b": {}},
     "unevaluatedProperties": {"type": "string"}},
    {"$defs": {"c": {"properties": {"a": {}}, "unevaluatedProperties": False}}, "$ref": "#/$defs/c",
     "properties": {"b": {}}},
    {"allOf": [{"patternProperties": {"^c": {}}}], "properties": {"a": {}}, "unevaluatedProperties": False},
    {"allOf": [{"additionalProperties": {"type": "integer"}}], "unevaluatedProperties": False},
])
def test_unevaluated_properties_cases(schema):
    assert _compare(schema, list(_objects()), exact=True) > 0


@pytest.mark.parametrize("schema", [
    {"allOf": [{"prefixItems": [{"type": "integer"}]}], "unevaluatedItems": False},
    {"allOf": [{"prefixItems": [{}]}, {"prefixItems": [{}, {"type": "string"}]}], "unevaluatedItems": {"type": "boolean"}},
    {"$defs": {"t": {"prefixItems": [{}]}}, "$ref": "#/$defs/t", "unevaluatedItems": False},
    {"allOf": [{"items": {"type": "integer"}}], "unevaluatedItems": False},
])
def test_unevaluated_items_cases(schema):
    assert _compare(schema, list(_arrays()), exact=True) > 0


@pytest.mark.parametrize("schema", [
    {"properties": {"a": {}}, "dependentSchemas": {"a": {"properties": {"b": {}}}}, "unevaluatedProperties": False},
    {"anyOf": [{"properties": {"a": {}}}, {"properties": {"b": {}}}], "unevaluatedProperties": False},
])
def test_conditional_applicators_stay_refused(schema):
    with pytest.raises(UnsupportedKeyword) as ei:
        JsonSchema(schema)
    assert ei.value.keyword == "unevaluatedProperties" and ei.value.pointer == "/"


@pytest.mark.parametrize("schema,exact", [
    ({"allOf": [{"properties": {"a": {}}}], "if": {"required": ["a"]}, "then": {"properties": {"b": {}}},
      "unevaluatedProperties": False}, True),
    ({"oneOf": [{"properties": {"a": {"const": 1}}, "required": ["a"]},
                {"properties": {"a": {"const": True}, "b": {}}, "required": ["a"]}],
      "unevaluatedProperties": False}, True),
    ({"anyOf": [{"type": "object", "properties": {"a": {}}, "required": ["a"], "additionalProperties": False},
                {"properties": {"b": {}}, "required": ["b"]}], "unevaluatedProperties": False}, True),
])
def test_branching_applicators_are_sound(schema, exact):
    """Each branch is compiled with the sibling unevaluatedProperties judged on the siblings'
    and that branch's annotations: exact when one branch applies at a time (if/then/else,
    disjoint oneOf or anyOf)."""
    assert _compare(schema, list(_objects()), exact=exact) > 0
