"""``contains`` with ``minContains``/``maxContains``, ``prefixItems``, ``minItems``/``maxItems``:
brute force against ``jsonschema`` over every array of up to 4 items from a small pool. A
compiled schema must accept exactly the valid arrays (the pool's values are spelled the way the
grammar writes them, so the comparison is both ways)."""

from __future__ import annotations

import itertools
import json
import random
import warnings

import pytest

from constrain.schema import JsonSchema, UnsupportedKeyword
from schema_oracle import compile_or_settle

jsonschema = pytest.importorskip("jsonschema")

POOL = (1, "a", True, None, 2.5)
CONDITIONS = ({"type": "integer"}, {"type": "string"}, {"const": 1}, {"enum": ["a", None]},
              {"type": ["string", "null"]}, {"not": {"type": "integer"}}, {"minimum": 2})
ITEMS = ({}, {"type": ["integer", "string"]}, {"not": {"type": "boolean"}}, {"type": "number"})


def _arrays(n_max: int = 4):
    for n in range(n_max + 1):
        yield from (list(c) for c in itertools.product(POOL, repeat=n))


def _compare(schema) -> int:
    """Number of accepted arrays; -1 when refused. Fails on any disagreement."""
    validator = jsonschema.Draft202012Validator(schema)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        js, settled = compile_or_settle(schema, _arrays(), validator)
    if js is None:
        return settled
    accepted = 0
    for value in _arrays():
        text = json.dumps(value, separators=(",", ":"))
        ok = js.accepts(text)
        assert ok == validator.is_valid(value), (schema, text, ok)
        accepted += ok
    return accepted


def _schema(rng: random.Random) -> dict:
    s: dict = {"type": "array", "contains": rng.choice(CONDITIONS)}
    if rng.random() < 0.5:
        s["items"] = rng.choice(ITEMS)
    if rng.random() < 0.3:
        s["prefixItems"] = [rng.choice(ITEMS + CONDITIONS) for _ in range(rng.randint(1, 2))]
    for k, p in (("minContains", 0.5), ("maxContains", 0.5), ("minItems", 0.3), ("maxItems", 0.3)):
        if rng.random() < p:
            s[k] = rng.randint(0, 3)
    return s


@pytest.mark.parametrize("schema", [
    {"type": "array", "items": {"type": ["integer", "string"]}, "contains": {"type": "integer"},
     "minContains": 2, "maxContains": 3},
    {"type": "array", "contains": {"type": "string"}, "minContains": 2, "maxContains": 3},
    {"type": "array", "items": {"enum": [1, "a", None]}, "contains": {"const": 1}, "maxContains": 1},
    {"type": "array", "contains": {"type": "string"}, "minContains": 0, "maxContains": 0},
    {"type": "array", "contains": {"type": "string"}, "minItems": 3},
    {"type": "array", "contains": {"type": "string"}, "maxItems": 2},
    {"type": "array", "prefixItems": [{"type": "integer"}], "contains": {"type": "integer"}, "minContains": 2},
    {"type": "array", "items": {"type": "number"}, "contains": {"minimum": 2}, "minContains": 2, "maxItems": 3},
    {"type": "array", "contains": {}, "minContains": 2, "maxContains": 3},
])
def test_contains_counts(schema):
    assert _compare(schema) > 0


def test_contains_bruteforce():
    rng = random.Random(7)
    compiled = accepting = 0
    for _ in range(150):
        n = _compare(_schema(rng))
        compiled += n >= 0
        accepting += n > 0
    # not degenerate: most schemas compile (or are proven empty), many accept some array
    assert compiled > 100 and accepting > 50, (compiled, accepting)


def test_max_contains_needs_an_exact_negation():
    schema = {"type": "array", "contains": {"minimum": 2}, "maxContains": 1}
    with pytest.raises(UnsupportedKeyword) as ei:
        JsonSchema(schema)
    assert ei.value.keyword == "maxContains" and ei.value.pointer == "/"


def test_min_max_contains_ignored_before_2019():
    schema = {"$schema": "http://json-schema.org/draft-07/schema#", "type": "array",
              "contains": {"type": "integer"}, "maxContains": 1}
    js = JsonSchema(schema)
    assert js.accepts("[1,2]") and not js.accepts('["a"]')
