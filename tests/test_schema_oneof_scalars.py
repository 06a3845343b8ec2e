"""``oneOf`` whose branches overlap on scalar types (strings with pattern/format/lengths/enum,
numbers with bounds, booleans, null) is decided exactly ("exactly one branch") per type family:
brute force against ``jsonschema`` over a pool of values, both ways (accepted iff valid)."""

from __future__ import annotations

import json
import random

import pytest

from constrain.errors import ConstraintError
from constrain.schema import JsonSchema
from schema_oracle import compile_or_settle

jsonschema = pytest.importorskip("jsonschema")

POOL = [
    {"type": "string", "pattern": "^a"}, {"type": "string", "pattern": "b$"}, {"type": "string", "maxLength": 1},
    {"type": "string", "minLength": 2, "maxLength": 3}, {"type": "string", "format": "date"}, {"type": "string"},
    {"enum": ["a", "ab", 1, None, True]}, {"const": "b"}, {"type": ["string", "null"], "pattern": "a"},
    {"type": "integer", "minimum": 0, "maximum": 5}, {"type": "integer", "exclusiveMinimum": 2},
    {"type": "number", "maximum": 3}, {"type": "number", "minimum": -1, "exclusiveMaximum": 2.5},
    {"enum": [2, 2.5, -1]}, {"type": "boolean"}, {"const": False}, {"type": "null"},
    {"type": ["integer", "boolean"]}, {"allOf": [{"type": "string"}, {"pattern": "a"}]},
]
VALUES = ["", "a", "b", "ab", "ba", "aab", "abc", "abcd", "x", "2024-01-02", "2024-01-0a",
          -2, -1, -0.5, 0, 1, 2, 2.5, 3, 3.5, 5, 6, 7.25, True, False, None, [], {}]


def _compare(schema) -> int:
    """Accepted values; -1 when refused. Fails on any disagreement with jsonschema."""
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    js, settled = compile_or_settle(schema, VALUES, validator)
    if js is None:
        return settled
    accepted = 0
    for value in VALUES:
        ok = js.accepts(json.dumps(value, separators=(",", ":")))
        assert ok == validator.is_valid(value), (schema, value, ok)
        accepted += ok
    return accepted


@pytest.mark.parametrize("schema", [
    {"oneOf": [{"type": "string", "pattern": "^a"}, {"type": "string", "pattern": "b$"}]},
    {"oneOf": [{"type": "string"}, {"type": "string", "format": "date"}]},
    {"oneOf": [{"type": "integer", "minimum": 0}, {"type": "integer", "maximum": 5}]},
    {"oneOf": [{"type": "number", "minimum": 0}, {"type": "number", "maximum": 5}, {"const": 7.25}]},
    {"oneOf": [{"type": "boolean"}, {"const": True}, {"type": "null"}, {"enum": [None, 1]}]},
    {"oneOf": [{"type": "string", "maxLength": 2}, {"enum": ["a", "abc", 2]}, {"type": "integer"}]},
    {"type": "string", "oneOf": [{"oneOf": [{"enum": ["a", "b"]}, {"pattern": "^a"}]},
                                 {"anyOf": [{"maxLength": 1}, {"const": "abc"}]}]},
    {"$defs": {"d": {"type": "string", "pattern": "b$"}}, "oneOf": [{"$ref": "#/$defs/d"}, {"type": "string", "pattern": "^a"}]},
])
def test_oneof_scalar_overlaps(schema):
    assert _compare(schema) > 0


def test_oneof_scalar_bruteforce():
    rng = random.Random(11)
    compiled = 0
    for _ in range(250):
        schema = {"oneOf": rng.sample(POOL, rng.randint(2, 4))}
        if rng.random() < 0.2:
            schema["type"] = rng.choice(["string", "number", "integer"])
        compiled += _compare(schema) >= 0
    assert compiled > 220, compiled


def test_non_integer_only_pieces_are_refused():
    with pytest.raises(ConstraintError) as ei:
        JsonSchema({"oneOf": [{"type": "integer"}, {"type": "number", "minimum": 0}]})
    assert ei.value.keyword == "oneOf" and ei.value.pointer == "/"


def test_string_langs_compare_by_body():
    """Merged schemas holding string languages are compared by the allOf merge: by body text,
    never by their DFA arrays (which have no truth value)."""
    from constrain.regex import parser as rxp
    from constrain.regex.automata import build_dfa
    from constrain.schema.common import _json_eq
    from constrain.schema.dfaops import StringLang

    a, b = StringLang("a", build_dfa(rxp.parse("a"))), StringLang("a", build_dfa(rxp.parse("a")))
    assert _json_eq({"_string_langs": [a]}, {"_string_langs": [b]})
    assert not _json_eq([a], [StringLang("b", a.dfa)])
    body, dfa = a
    assert body == "a" and dfa.fullmatch(b"a")
