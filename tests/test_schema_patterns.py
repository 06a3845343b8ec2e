"""Several ``pattern``s at once (``allOf`` members, or ``pattern`` beside ``format``): their
DFAs are intersected. Brute force against ``jsonschema`` over every short string of a small
alphabet (escapes included), both ways: accepted iff valid."""

from __future__ import annotations

import itertools
import json
import random

import pytest

from constrain.schema import JsonSchema
from schema_oracle import compile_or_settle

jsonschema = pytest.importorskip("jsonschema")

ALPHABET = 'ab1"\t'  # no newline: Python's $ matches before a final newline, ECMA's does not
PATTERNS = ("^a", "b$", "a", "^[ab]*$", "1", "^.{2}", '"', "^a*b*$", "\\d", "^(?:ab)+$", "[^a]")


def _strings(n_max: int = 4):
    for n in range(n_max + 1):
        yield from ("".join(c) for c in itertools.product(ALPHABET, repeat=n))


def _compare(schema) -> int:
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    js, settled = compile_or_settle(schema, _strings(), validator, allow_refusal=False)
    if js is None:
        return settled
    accepted = 0
    for value in _strings():
        ok = js.accepts(json.dumps(value))
        assert ok == validator.is_valid(value), (schema, value, ok)
        accepted += ok
    return accepted


def test_two_patterns_bruteforce():
    rng = random.Random(4)
    accepting = 0
    for _ in range(40):
        pats = rng.sample(PATTERNS, rng.randint(2, 3))
        schema = {"type": "string", "pattern": pats[0], "allOf": [{"pattern": p} for p in pats[1:]]}
        if rng.random() < 0.4:
            schema["maxLength"] = rng.randint(1, 3)
        if rng.random() < 0.3:
            schema["minLength"] = rng.randint(1, 3)
        accepting += _compare(schema) > 0
    assert accepting > 12, accepting


def test_patterns_in_allof_members_only():
    assert _compare({"allOf": [{"type": "string", "pattern": "^a"}, {"pattern": "b$"}, {"pattern": "1"}]}) > 0


def test_pattern_with_enum_filters_values():
    schema = {"enum": ["ab", "a1b", "b", 3], "allOf": [{"pattern": "^a"}, {"pattern": "b$"}]}
    js = JsonSchema(schema)
    assert [v for v in ["ab", "a1b", "b", 3] if js.accepts(json.dumps(v))] == ["ab", "a1b", 3]


@pytest.mark.parametrize("value,ok", [("2024-01-02", True), ("2023-01-02", False), ("2024-13-01", False),
                                      ("2024-02-30", False), ("x2024-01-02", False)])
def test_pattern_beside_format(value, ok):
    schema = {"type": "string", "format": "date", "pattern": "^2024"}
    assert JsonSchema(schema).accepts(json.dumps(value)) == ok


def test_two_formats_intersect():
    schema = {"allOf": [{"type": "string", "format": "ipv4"}, {"format": "hostname"}]}
    js = JsonSchema(schema)
    assert js.accepts('"1.2.3.4"') and not js.accepts('"a.b"') and not js.accepts('"::1"')


def test_merged_patterns_survive_a_sibling_anyof():
    """The merged second pattern is a compiler-internal keyword: it must travel into each
    ``anyOf`` branch with the other sibling keywords."""
    schema = {"allOf": [{"type": "string", "pattern": "^a"}, {"pattern": "b$"}],
              "anyOf": [{"maxLength": 2}, {"minLength": 4}]}
    assert _compare(schema) > 0
