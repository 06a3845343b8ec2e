"""Exact at any size: counted repetition (``minLength``/``maxLength``, ``minItems``/``maxItems``)
costs O(log N) rules and is exact at every count; large ``enum``/``const`` compile linearly."""

from __future__ import annotations

import json

import pytest

from constrain.schema import JsonSchema, compile_schema


@pytest.mark.parametrize("lo,hi", [(0, 300), (257, 257), (290, 333), (300, None), (0, 1000), (31, 1025)])
def test_long_string_bounds_exact(lo, hi):
    js = JsonSchema({"type": "string", "minLength": lo, **({} if hi is None else {"maxLength": hi})})
    top = (hi if hi is not None else lo) + 40
    for n in list(range(max(0, lo - 3), min(top, lo + 40))) + list(range(max(0, top - 80), top)):
        want = n >= lo and (hi is None or n <= hi)
        assert js.accepts(json.dumps("é" * (n - 1) + "\n" if n else "")) == want, n


@pytest.mark.parametrize("schema", [
    {"type": "array", "minItems": 3, "maxItems": 70},
    {"type": "array", "prefixItems": [{"type": "null"}, {"type": "boolean"}], "items": {"type": "integer"},
     "minItems": 1, "maxItems": 40},
    {"type": "array", "prefixItems": [{"type": "null"}], "items": {"type": "integer"}, "minItems": 37},
    {"type": "array", "items": {"type": "integer"}, "maxItems": 64},
])
def test_item_counts_exact(schema):
    import jsonschema

    js = JsonSchema(schema)
    for n in range(0, 75):
        value = [None, True][:n] + list(range(max(0, n - 2))) if "prefixItems" in schema else list(range(n))
        if len(schema.get("prefixItems", [])) == 1:
            value = [None] + list(range(n - 1)) if n else []
        text = json.dumps(value, separators=(",", ":"))
        assert js.accepts(text) == jsonschema.Draft202012Validator(schema).is_valid(value), text


@pytest.mark.parametrize("schema", [
    {"type": "string", "maxLength": 2**31 - 1},
    {"type": "string", "minLength": 10**6, "maxLength": 10**9},
    {"type": "array", "maxItems": 10**6},
    {"type": "array", "minItems": 10**6, "items": {"type": "integer"}},
])
def test_huge_bounds_are_logarithmic(schema):
    cfg = compile_schema(schema)
    assert len(cfg.rules) < 200 and len(cfg.terminals) < 20


def test_huge_max_length_accepts_long_values():
    js = JsonSchema({"type": "string", "maxLength": 2**31 - 1})
    assert js.accepts(json.dumps("x" * 5000))
    assert not js.accepts('"x')


def test_large_enum_is_an_exact_trie():
    import random

    rng = random.Random(7)
    alphabet = 'ab"\\é\n0'
    vals = sorted({"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6))) for _ in range(900)})
    vals += [1, 2.5, None, True, [1, "a"], {"k": [None]}]
    js = JsonSchema({"enum": vals})
    assert len(js.cfg.terminals) > 1  # the trie, not one regex
    dump = JsonSchema({}).dumps
    for v in vals:
        assert js.accepts(dump(v)), v
    members = {dump(v) for v in vals}
    for v in vals[:300]:
        text = dump(v)
        for probe in (text[:-1], text + "a", text[:-1] + 'x"', "[" + text + "]"):
            assert js.accepts(probe) == (probe in members), probe


@pytest.mark.parametrize("schema", [
    {"enum": [f"value_{i:06d}_x" for i in range(30000)]},
    {"const": 'ab"c\u00e9' * 4000},
])
def test_large_enum_and_const_compile(schema):
    js = JsonSchema(schema)
    first = schema["enum"][12345] if "enum" in schema else schema["const"]
    assert js.accepts(js.dumps(first))
    assert not js.accepts(js.dumps(first + "x"))
