"""``oneOf`` whose branches overlap on objects is rewritten exactly ("exactly one branch holds"
as the product of per-branch failure atoms: a required key absent, a property value the other
branch rejects, a key a closed branch does not declare): brute force against ``jsonschema`` over
every object on a small pool of keys and values, both ways (accepted iff valid, up to key order)."""

from __future__ import annotations

import itertools
import json
import random

import pytest

from constrain.errors import ConstraintError
from constrain.schema import JsonSchema
from constrain.schema.oneof_objects import OneOfObjectsMixin
from schema_oracle import compile_or_settle

jsonschema = pytest.importorskip("jsonschema")

KEYS = ("a", "b", "c")
VALUES = (1, "x", "y", True)
SUBS = ({}, {"type": "string"}, {"type": "integer"}, {"const": "x"}, {"enum": ["x", 1]}, False,
        {"type": ["string", "boolean"]}, {"enum": ["y"]}, {"type": "string", "pattern": "^x"},
        {"type": "string", "maxLength": 0})


def _objects():
    for choice in itertools.product((None,) + VALUES, repeat=len(KEYS)):
        yield {k: v for k, v in zip(KEYS, choice) if v is not None}


@pytest.fixture(autouse=True)
def _inexact(monkeypatch):
    """Records each object overlap the exact rewrite gave up on (the compiler then falls back
    to a sound under-approximation, or refuses)."""
    gave_up = []
    real = OneOfObjectsMixin.oneof_objects_exact

    def spy(self, *args):
        got = real(self, *args)
        gave_up.append(got is None)
        return got

    monkeypatch.setattr(OneOfObjectsMixin, "oneof_objects_exact", spy)
    _GAVE_UP[:] = [gave_up]
    yield


_GAVE_UP: list = []


def _compare(schema, exact: bool | None = None) -> int:
    """Accepted objects (-1: refused); fails on an accepted invalid object, and (when the exact
    rewrite was used, or ``exact``) on a valid one that no key order of it is accepted in."""
    validator = jsonschema.Draft202012Validator(schema)
    objects = list(_objects())
    gave_up = _GAVE_UP[0]
    gave_up.clear()
    js, settled = compile_or_settle(schema, objects, validator)
    if js is None:
        return settled
    if exact is None:
        exact = not any(gave_up)
    assert not exact or not any(gave_up), ("not rewritten exactly", schema)
    accepted = 0
    for inst in objects:
        ok = js.accepts(json.dumps(inst, separators=(",", ":")))
        valid = validator.is_valid(inst)
        assert valid or not ok, ("invalid accepted", schema, inst)
        if exact and valid and not ok:
            assert any(js.accepts(json.dumps({k: inst[k] for k in p}, separators=(",", ":")))
                       for p in itertools.permutations(inst)), ("valid rejected", schema, inst)
        accepted += ok
    return accepted


def _branch(rng: random.Random) -> dict:
    s: dict = {"type": "object"}
    props = {k: rng.choice(SUBS) for k in KEYS if rng.random() < 0.5}
    if props:
        s["properties"] = props
    if rng.random() < 0.5:
        s["required"] = rng.sample(KEYS, rng.choice((1, 1, 2)))
    if rng.random() < 0.25:
        s["additionalProperties"] = False
    return s


@pytest.mark.parametrize("schema", [
    # a discriminator that is not required (the empty object matches both: invalid)
    {"oneOf": [{"type": "object", "properties": {"a": {"const": "x"}}},
               {"type": "object", "properties": {"a": {"const": "y"}}}]},
    # same properties, different required
    {"oneOf": [{"type": "object", "properties": {"a": {}, "b": {}}, "required": ["a", "b"]},
               {"type": "object", "properties": {"a": {}, "b": {}}, "required": ["a"]}]},
    # a required key on one side, a typed property on the other
    {"oneOf": [{"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
               {"type": "object", "properties": {"b": {"type": "string"}}}]},
    # closed branches declaring different keys
    {"oneOf": [{"type": "object", "properties": {"a": {}, "b": {}}, "additionalProperties": False},
               {"type": "object", "properties": {"a": {}}, "additionalProperties": False},
               {"type": "object", "properties": {"c": {"type": "integer"}}, "additionalProperties": False}]},
    # a finite value set under one branch checked against the other's subschema
    {"oneOf": [{"type": "object", "properties": {"a": {"enum": ["x", 1]}}, "required": ["b"]},
               {"type": "object", "properties": {"a": {"type": "string"}}}]},
    # identical shared properties, branches behind $ref, other types beside
    {"$defs": {"p": {"type": "object", "properties": {"a": {"type": "string", "pattern": "^x"}, "b": {}},
                     "required": ["b"]}},
     "oneOf": [{"$ref": "#/$defs/p"},
               {"type": ["object", "string"], "properties": {"a": {"type": "string", "pattern": "^x"}}}]},
    # string subschemas that differ by pattern (the strings outside the other's language)
    {"oneOf": [{"type": "object", "properties": {"a": {"type": "string", "pattern": "^x"}}},
               {"type": "object", "properties": {"a": {"type": ["string", "boolean"], "pattern": "y$"}},
                "required": ["a"]}]},
    # three overlapping branches
    {"oneOf": [{"type": "object", "required": ["a"]}, {"type": "object", "properties": {"b": {"const": 1}}},
               {"type": "object", "properties": {"c": {"type": "string"}}, "required": ["c"]}]},
])
def test_oneof_object_overlaps(schema):
    assert _compare(schema, exact=True) > 0, "refused"


def test_oneof_object_bruteforce():
    rng = random.Random(14)
    counts = {"exact": 0, "approximate": 0, "refused": 0}
    for _ in range(150):
        schema = {"oneOf": [_branch(rng) for _ in range(rng.choice((2, 2, 3)))]}
        got = _compare(schema)
        counts["refused" if got < 0 else "approximate" if any(_GAVE_UP[0]) else "exact"] += 1
    assert counts["exact"] >= 60 and counts["approximate"] + counts["refused"] > 0, counts


def test_oneof_objects_not_negatable_are_refused():
    # "a is a non-integer number" is not expressible (the branches overlap on {"a": 1})
    schema = {"oneOf": [{"type": "object", "properties": {"a": {"type": "integer"}}},
                        {"type": "object", "properties": {"b": {"type": "string"}}}]}
    with pytest.raises(ConstraintError) as e:
        JsonSchema(schema)
    assert getattr(e.value, "keyword", None) == "oneOf"
