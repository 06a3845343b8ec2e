"""Keyword tables, options and JSON value helpers shared by the schema compiler's modules."""

from __future__ import annotations

from fractions import Fraction


_TYPES = ("null", "boolean", "object", "array", "number", "string", "integer")
_META = {  # annotations and structure keys that never constrain an instance
    "title", "description", "default", "examples", "$comment", "$schema", "$id", "id", "$anchor",
    "$dynamicAnchor", "$recursiveAnchor", "deprecated", "readOnly", "writeOnly", "$defs",
    "definitions", "contentMediaType", "contentEncoding", "contentSchema", "discriminator",
    "$vocabulary", "example", "nullable", "xml", "externalDocs", "markdownDescription",
}
# keywords with a meaning we either implement or must refuse (anything else is an unknown keyword
# and, per the specification, ignored)
_KNOWN = {
    "type", "enum", "const", "anyOf", "oneOf", "allOf", "not", "$ref", "$dynamicRef",
    "$recursiveRef", "if", "then", "else", "properties", "required", "additionalProperties",
    "patternProperties", "propertyNames", "minProperties", "maxProperties", "dependencies",
    "dependentRequired", "dependentSchemas", "unevaluatedProperties", "unevaluatedItems",
    "items", "prefixItems", "additionalItems", "minItems", "maxItems", "uniqueItems", "contains",
    "minContains", "maxContains", "minLength", "maxLength", "pattern", "format", "minimum",
    "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "divisibleBy", "extends",
    "disallow",
}
# keywords the compiler itself writes into merged schemas (never in a user's schema)
_INTERNAL = {"_forbidden", "_not_strings", "_extra_enum", "_patterns", "_formats", "_string_langs"}
# keywords whose value is a subschema or an array of subschemas (only these are walked for $id)
_SUBSCHEMA = {"items", "prefixItems", "additionalItems", "additionalProperties", "contains",
              "propertyNames", "not", "if", "then", "else", "allOf", "anyOf", "oneOf",
              "unevaluatedItems", "unevaluatedProperties", "extends"}
_REGEX_STRING_MAX = 256  # beyond this maxLength, strings use chunked rule-level repetition
_CHUNK = 32
_ENUM_MULTIPLES_MAX = 2000
_MOD_MAX = 1000
_ANY_ORDER_REQUIRED_MAX = 10
_ONEOF_REQUIRED_MAX = 64
_DEFAULT_BASE = "https://constrain.invalid/root.json"

# one JSON string "unit" (a decoded code point) as JSON text: a plain character or an escape


class SchemaOptions:
    """What a compilation may emit: ``ws`` (regex of insignificant whitespace), ``strict``,
    ``any_order`` (object keys in any order), ``max_depth`` (subschema nesting bound)."""

    __slots__ = ("ws", "strict", "any_order", "max_depth")

    def __init__(self, ws: str = "", strict: bool = True, any_order: bool = False, max_depth: int = 128):
        self.ws = ws
        self.strict = strict
        self.any_order = any_order
        self.max_depth = max_depth


def _ptr_join(ptr: str, *parts) -> str:
    for p in parts:
        ptr += "/" + str(p).replace("~", "~0").replace("/", "~1")
    return ptr


def _norm_items(s: dict):
    """(prefix schemas, schema of the remaining items) of an array schema, any draft."""
    items = s.get("items")
    if isinstance(items, list):
        return list(items), s.get("additionalItems", True)
    return list(s.get("prefixItems", [])), (True if items is None else items)


def _is_pow10(f: Fraction) -> bool:
    if f.numerator != 1:
        return False
    d = f.denominator
    while d % 10 == 0:
        d //= 10
    return d == 1


def _json_type(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "integer" if v.is_integer() else "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return "unknown"


def _json_eq(a, b) -> bool:
    """Equality in JSON Schema's sense (1 == 1.0, true != 1, objects by keys)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_eq(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_eq(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b
