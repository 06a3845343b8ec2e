"""Every bad schema is a typed `ConstraintError` carrying ``keyword`` and ``pointer``: never a
``decimal.InvalidOperation``, bare ``TypeError``/``ValueError`` or ``RecursionError``."""

from __future__ import annotations

import math

import pytest

from constrain.errors import ConstraintError, InvalidSyntax, LimitExceeded, UnsupportedFeature
from constrain.schema import InvalidSchema, JsonSchema, SchemaLimitExceeded, UnsupportedKeyword


def _nested_properties(depth: int) -> dict:
    s: dict = {"type": "integer"}
    for _ in range(depth):
        s = {"type": "object", "properties": {"a": s}}
    return s


def _ref_chain(n: int) -> dict:
    defs = {f"d{i}": {"$ref": f"#/$defs/d{i + 1}"} for i in range(n)}
    defs[f"d{n}"] = {"type": "string"}
    return {"$defs": defs, "$ref": "#/$defs/d0"}


@pytest.mark.parametrize("schema,cls,keyword,pointer", [
    ({"type": "number", "minimum": float("nan")}, InvalidSchema, "minimum", "/minimum"),
    ({"type": "number", "maximum": math.inf}, InvalidSchema, "maximum", "/maximum"),
    ({"type": "integer", "exclusiveMinimum": -math.inf}, InvalidSchema, "exclusiveMinimum", "/exclusiveMinimum"),
    ({"type": "object", "properties": {1: {"type": "string"}}}, InvalidSchema, "properties", "/properties"),
    ({"type": "string", "default": object()}, InvalidSchema, "default", "/default"),
    ({"type": "string", "examples": [b"x"]}, InvalidSchema, "0", "/examples/0"),
    ({1, 2}, InvalidSchema, None, "/"),
    ({"type": "string", "minLength": -1}, InvalidSchema, "minLength", "/"),
    ({"properties": {"x": {"type": "strin"}}}, InvalidSchema, "type", "/properties/x"),
    ({"type": "string", "pattern": "(?<=a)b"}, UnsupportedKeyword, "pattern", "/"),
])
def test_typed_errors(schema, cls, keyword, pointer):
    with pytest.raises(cls) as ei:
        JsonSchema(schema)
    assert isinstance(ei.value, ConstraintError)
    assert ei.value.keyword == keyword and ei.value.pointer == pointer
    assert isinstance(ei.value, (InvalidSyntax, UnsupportedFeature, LimitExceeded))


@pytest.mark.parametrize("schema", [_nested_properties(2000), _nested_properties(200), _ref_chain(300)])
def test_depth_is_a_limit(schema):
    with pytest.raises(SchemaLimitExceeded) as ei:
        JsonSchema(schema)
    assert isinstance(ei.value, LimitExceeded) and ei.value.pointer != "/"


def test_moderate_depth_compiles():
    js = JsonSchema(_nested_properties(60))
    text = '{"a":' * 60 + "1" + "}" * 60
    assert js.accepts(text)


def test_unique_items_refusal_names_keyword_and_pointer():
    """``uniqueItems`` over an unbounded item domain stays refused; the error says which keyword
    and where (the pointer of the array schema holding it)."""
    schema = {"type": "object", "properties": {"xs": {"type": "array", "items": {"type": "string"},
                                                      "uniqueItems": True}}}
    with pytest.raises(UnsupportedKeyword) as ei:
        JsonSchema(schema)
    assert ei.value.keyword == "uniqueItems" and ei.value.pointer == "/properties/xs"
    assert "uniqueItems" in str(ei.value) and "/properties/xs" in str(ei.value)
