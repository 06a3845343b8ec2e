"""The schema compiler prunes its IR with the grammar normal form's passes
(`normalize.productive_symbols` / `reachable_symbols`): what it hands to the engine has only rules
that derive text and that the start reaches, and a schema whose only values would be infinite is
refused at compile time with `InvalidSchema`."""

from __future__ import annotations

import pytest

from constrain.grammar.normalize import productive_symbols, reachable_symbols
from constrain.schema.compiler import compile_schema
from constrain.schema.errors import InvalidSchema

SCHEMAS = [
    {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"$ref": "#"}}},
    {"type": "array", "items": {"anyOf": [{"type": "string"}, {"$ref": "#"}]}, "maxItems": 3},
    {"type": "object", "properties": {"x": {"enum": [1, "y", None]}}, "required": ["x"],
     "additionalProperties": False},
    {"$defs": {"unused": {"type": "string"}}, "type": "boolean"},
]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_compiled_rules_are_productive_and_reachable(schema):
    cfg = compile_schema(schema)
    pairs = [(r.lhs, r.rhs) for r in cfg.rules]
    lhs = {a for a, _ in pairs}
    assert lhs <= productive_symbols(pairs, cfg.terminals.__contains__)
    assert lhs <= reachable_symbols(pairs, cfg.start)
    assert {s for _, rhs in pairs for s in rhs} <= lhs | set(cfg.terminals)
    assert set(cfg.terminals) <= {s for _, rhs in pairs for s in rhs}


def test_only_infinite_values_is_unsatisfiable():
    with pytest.raises(InvalidSchema, match="unsatisfiable"):
        compile_schema({"type": "object", "properties": {"a": {"$ref": "#"}}, "required": ["a"]})
