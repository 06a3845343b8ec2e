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

KEYS = ("a", "b", "c")
VALUES = (1, True, "x")
SUBS = ({}, {"type": "boolean"}, {"type": "integer"}, False, {"type": "string"})


def _instances():
    """Every object over KEYS (in KEYS order) with values from VALUES: 4^3 = 64."""
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
    if rng.random() < 0.2:
        s["patternProperties"] = {"^c": rng.choice(SUBS)}
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
