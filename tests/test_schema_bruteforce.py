"""Brute force against ``jsonschema``: object schemas combined with ``allOf`` (the keywords whose
meaning depends on the schema object they sit in: ``properties``, ``patternProperties``,
``additionalProperties``, ``required``), over every small object of a tiny universe. An accepted
instance must be valid (soundness); every refusal is a typed error. Also: ``format: hostname``
never accepts an IDNA A-label it cannot check."""

from __future__ import annotations

import itertools
import json
import random
import warnings

import pytest

from constrain.errors import ConstraintError
from constrain.schema import JsonSchema

jsonschema = pytest.importorskip("jsonschema")

KEYS = ("a", "b", "c", "ca")
VALUES = (1, True, "x")
SUBS = ({}, {"type": "boolean"}, {"type": "integer"}, False, {"type": "string"})


def _instances():
    """Every object over KEYS (in KEYS order) with values from VALUES: 4^4 = 256."""
    for choice in itertools.product((None,) + VALUES, repeat=len(KEYS)):
        yield {k: v for k, v in zip(KEYS, choice) if v is not None}


def _member(rng: random.Random) -> dict:
    s: dict = {}
    props = {k: rng.choice(SUBS) for k in KEYS if rng.random() < 0.4}
    if props:
        s["properties"] = props
    if rng.random() < 0.5:
        s["additionalProperties"] = rng.choice(SUBS)
    if rng.random() < 0.3:
        s["required"] = rng.sample(KEYS, rng.randint(1, 2))
    if rng.random() < 0.3:
        s["patternProperties"] = {"^c": rng.choice(SUBS)}
        if rng.random() < 0.5:
            s["patternProperties"]["[ab]"] = rng.choice(SUBS)
    return s


def _schema(rng: random.Random) -> dict:
    s = _member(rng)
    s["allOf"] = [_member(rng) for _ in range(rng.randint(1, 2))]
    return s


def _check(schema) -> int:
    """Number of accepted instances; fails on an accepted invalid one."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            js = JsonSchema(schema)
    except ConstraintError:
        return -1
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    validator = cls(schema)
    accepted = 0
    for inst in _instances():
        text = json.dumps(inst, separators=(",", ":"))
        if js.accepts(text):
            accepted += 1
            assert validator.is_valid(inst), (schema, text)
    return accepted


def test_allof_additional_properties_issue_case():
    schema = {"allOf": [{"properties": {"foo": {}}}], "additionalProperties": {"type": "boolean"}}
    js = JsonSchema(schema)
    assert not js.accepts('{"foo":1,"bar":true}')
    assert js.accepts('{"foo":true,"bar":true}')
    assert js.accepts("{}")


def test_allof_objects_bruteforce():
    rng = random.Random(14)
    compiled = accepting = 0
    for _ in range(300):
        n = _check(_schema(rng))
        compiled += n >= 0
        accepting += n > 0
    # the generator is not degenerate: most schemas compile and accept something
    assert compiled > 150 and accepting > 60, (compiled, accepting)


@pytest.mark.parametrize("host", ["xn--X", "xn--hello-txk", "XN--aa---o47jg78q", "ab--c.com",
                                  "-a.com", "a-.com", "a..b", "a" * 64])
def test_hostname_refuses_unchecked_a_labels(host):
    js = JsonSchema({"type": "string", "format": "hostname"})
    assert not js.accepts(json.dumps(host))


@pytest.mark.parametrize("host", ["example.com", "a-b.c", "abc--d.org", "x1", "a" * 62])
def test_hostname_accepts_plain_labels(host):
    assert JsonSchema({"type": "string", "format": "hostname"}).accepts(json.dumps(host))


def _dependent(rng: random.Random) -> dict:
    s = _member(rng)
    s.pop("allOf", None)
    kw = rng.choice(["dependentRequired", "dependentSchemas", "dependencies"])
    deps = {}
    for k in rng.sample(KEYS, rng.randint(1, 3)):
        if kw == "dependentRequired" or (kw == "dependencies" and rng.random() < 0.5):
            deps[k] = rng.sample(KEYS, rng.randint(0, 2))
        else:
            deps[k] = _member(rng)
    s[kw] = deps
    if rng.random() < 0.3:
        s["enum"] = [dict(zip(KEYS[:n], VALUES)) for n in range(4)]
    return s


def test_dependencies_bruteforce():
    rng = random.Random(41)
    compiled = accepting = 0
    for _ in range(250):
        schema = _dependent(rng)
        if "dependencies" in schema:
            schema["$schema"] = "http://json-schema.org/draft-07/schema#"
        n = _check(schema)
        compiled += n >= 0
        accepting += n > 0
    assert compiled > 120 and accepting > 60, (compiled, accepting)


def test_key_regions_match_python_re():
    """Each region regex holds exactly the plain-ASCII keys matching that set of patterns."""
    import re

    from constrain.regex import parser as rxp
    from constrain.schema.jsontext import _ANY_TREE
    from constrain.schema.keysets import key_regions

    pats = [("x-", r"x-"), ("^[a-z]+$", r"^[a-z]+$"), ("b1", r"b1")]
    trees = [rxp.Concat((_ANY_TREE, rxp.parse("x-"), _ANY_TREE)), rxp.parse("[a-z]+"),
             rxp.Concat((_ANY_TREE, rxp.parse("b1"), _ANY_TREE))]
    names = ["foo", "x-bar", ""]
    regions = key_regions(trees, names)
    rng = random.Random(3)
    for _ in range(5000):
        key = "".join(rng.choice("abx-1fo ~") for _ in range(rng.randint(0, 7)))
        hit = frozenset(i for i, (_, p) in enumerate(pats) if re.search(p, key))
        for region, rx in regions.items():
            assert bool(re.fullmatch(rx, key)) == (region == hit and key not in names), (key, region)


ONEOF_POOL = [
    {"type": "string", "pattern": "^a+$"}, {"type": "string", "pattern": "^b"}, {"type": "string", "pattern": "b$"},
    {"type": "string", "format": "date"}, {"type": "string", "format": "ipv4"}, {"type": "string", "maxLength": 1},
    {"type": "string", "minLength": 3}, {"enum": ["aa", "b", 1, None]}, {"const": "ab"},
    {"type": "integer", "minimum": 0, "maximum": 5}, {"type": "number", "exclusiveMinimum": 5},
    {"type": "number", "maximum": 0}, {"type": "null"}, {"type": ["string", "integer"]},
    {"type": "object", "properties": {"k": {"const": 1}}, "required": ["k"]},
    {"type": "object", "properties": {"k": {"const": 2}}, "required": ["k"]},
    {"type": "object", "properties": {"j": {}}, "additionalProperties": False},
    {"properties": {"a": {"type": "string"}}, "required": ["a"]}, {"properties": {"b": {}}, "required": ["b"]},
    {"required": ["a", "j"]}, {"properties": {"a": {}, "j": {}}, "additionalProperties": False},
]
ONEOF_VALUES = ["", "a", "aa", "b", "ab", "ba", "bab", "2024-01-02", "1.2.3.4", "abc", 0, 3, 5, 5.5, 7, -1,
                -0.5, None, True, {"k": 1}, {"k": 2}, {"j": 1}, {"k": 1, "j": 2}, {}, [], [1],
                {"a": "x"}, {"b": 1}, {"a": "x", "b": 1}, {"a": 1}, {"a": "x", "j": 1}, {"j": 1, "a": "x"},
                {"a": "x", "b": 2, "j": 3}]


def test_oneof_disjointness_is_sound():
    rng = random.Random(5)
    compiled = 0
    for _ in range(400):
        schema = {"oneOf": rng.sample(ONEOF_POOL, rng.randint(2, 3))}
        if rng.random() < 0.3:
            schema["type"] = rng.choice(["string", "number", "object"])
        try:
            js = JsonSchema(schema)
        except ConstraintError:
            continue
        compiled += 1
        validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
        for value in ONEOF_VALUES:
            text = json.dumps(value, separators=(",", ":"))
            if js.accepts(text):
                assert validator.is_valid(value), (schema, text)
    assert compiled > 150, compiled
