"""Strict mode never emits an output that violates an enforced keyword: random walks of the
matcher over the SmolLM2 vocabulary (random allowed tokens until EOS), validated with jsonschema
(with its format checker)."""

from __future__ import annotations

import json
import random

import pytest

from constrain.schema import JsonSchema

jsonschema = pytest.importorskip("jsonschema")

SCHEMAS = [
    {"type": "object", "properties": {
        "id": {"type": "integer", "minimum": -20, "maximum": 1234},
        "score": {"type": "number", "minimum": -1.5, "exclusiveMaximum": 2.25},
        "name": {"type": "string", "minLength": 1, "maxLength": 5},
        "tags": {"type": "array", "items": {"enum": ["a", "b", 3, None]}, "minItems": 1, "maxItems": 3},
    }, "required": ["id", "name"], "additionalProperties": False},
    {"type": "string", "format": "date-time"},
    {"type": "array", "items": {"type": "string", "format": "ipv4"}, "maxItems": 2},
    {"type": "string", "format": "uuid"},
    {"type": "string", "format": "email", "maxLength": 30} if False else {"type": "string", "format": "date"},
    {"type": "string", "pattern": "^[A-Z]{2}-\\d{3}$"},
    {"type": "string", "pattern": "ab", "maxLength": 8} if False else {"type": "string", "pattern": "^x*ab"},
    {"type": "integer", "multipleOf": 7},
    {"type": "number", "exclusiveMinimum": 0, "maximum": 0.5},
    {"anyOf": [{"type": "null"}, {"type": "array", "prefixItems": [{"type": "boolean"}], "items": {"type": "integer"}}]},
    {"oneOf": [{"type": "object", "properties": {"k": {"const": "a"}, "v": {"type": "integer"}}, "required": ["k", "v"]},
               {"type": "object", "properties": {"k": {"const": "b"}, "v": {"type": "string", "maxLength": 3}}, "required": ["k", "v"]}]},
    {"$defs": {"t": {"type": "object", "properties": {"v": {"type": "integer"}, "kids": {"type": "array", "items": {"$ref": "#/$defs/t"}, "maxItems": 2}},
                     "required": ["v"], "additionalProperties": False}}, "$ref": "#/$defs/t"},
    {"type": "object", "propertyNames": {"pattern": "^[a-z]{1,3}$"}, "additionalProperties": {"type": "integer"}, "maxProperties": 3},
    {"type": "object", "patternProperties": {"^x_": {"type": "boolean"}}, "additionalProperties": False},
    {"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": {"type": "string", "maxLength": 2}},
    {"type": "object", "properties": {"a": {}, "b": {}, "c": {}}, "additionalProperties": False, "minProperties": 2, "maxProperties": 2},
    {"not": {"type": ["string", "object", "array", "number"]}},
    {"type": "array", "contains": {"type": "string"}, "items": {"type": ["string", "integer"]}},
    {"type": "string", "maxLength": 400},
]


def _walk(matcher, vocab, rng, max_tokens=80):
    out = bytearray()
    eos = set(int(e) for e in vocab.eos_ids)
    tb = vocab.token_bytes
    for _ in range(max_tokens):
        allowed = matcher.allowed_tokens()
        assert len(allowed), "dead end: no token allowed"
        ends = [t for t in allowed if int(t) in eos]
        if ends and rng.random() < 0.3:
            return bytes(out)
        structural = [t for t in allowed if int(t) not in eos and any(c in tb[int(t)] for c in b'"]},')]
        pool = structural if structural and rng.random() < 0.6 else [t for t in allowed if int(t) not in eos] or ends
        t = int(pool[rng.randrange(len(pool))])
        if t in eos:
            return bytes(out)
        matcher.advance(t)
        out += tb[t]
    return None


@pytest.mark.parametrize("i,whitespace", [(i, "compact") for i in range(len(SCHEMAS))]
                         + [(0, "pretty"), (11, "pretty")])
def test_random_walks_validate(i, whitespace, smollm2_vocab):
    schema = SCHEMAS[i]
    js = JsonSchema(schema, whitespace=whitespace)
    compiled = js.compile(smollm2_vocab)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    rng = random.Random(1000 * i + len(whitespace))
    done = 0
    for _ in range(5):
        text = _walk(compiled.matcher(), smollm2_vocab, rng)
        if text is None:
            continue
        value = json.loads(text.decode("utf-8"))
        errors = [e.message for e in validator.iter_errors(value)]
        assert not errors, (text, errors)
        assert js.accepts(text)
        done += 1
    assert done >= 2, "too few walks finished"
