"""JsonSchema: what each keyword accepts and rejects (``accepts``, no vocabulary), strictness
errors, whitespace, Pydantic models, and size/time bounds."""

from __future__ import annotations

import json
from typing import Literal, Optional

import pytest

import constrain as cn
from constrain.schema import JsonSchema

CASES = [
    ({"type": "object", "properties": {"a": {"type": "integer", "minimum": 3, "maximum": 120},
                                       "b": {"type": "string", "maxLength": 3}}, "required": ["a"]},
     ['{"a":3}', '{"a":120,"b":"xyz"}', '{"a":5,"b":"x","c":1}'],
     ['{"a":2}', '{"a":121}', '{"b":"x"}', '{"a":5,"b":"xyzw"}', '{"b":"x","a":5}', '{"a":5,"a":1}']),
    ({"type": "number", "minimum": -1.5, "exclusiveMaximum": 2.25},
     ["-1.5", "0", "2.2499", "2", "-0.3", "2.24999999"], ["-1.51", "2.25", "2.250", "2.3", "3", "1e0"]),
    ({"type": "number", "exclusiveMinimum": 0}, ["0.001", "5", "1.0"], ["0", "0.0", "-1", "-0.5"]),
    ({"type": "integer", "exclusiveMinimum": -3, "maximum": 1000}, ["-2", "0", "999", "1000"],
     ["-3", "1001", "1.5", "01"]),
    ({"type": "string", "pattern": "^[a-z]+\\d$"}, ['"abc1"'], ['"abc"', '"1"', '"abc١"']),
    ({"type": "string", "pattern": "x"}, ['"abxcd"', '"x"'], ['"abc"']),
    ({"type": "string", "pattern": "^a|b$"}, ['"az"', '"zb"'], ['"za"', '"bz"']),
    ({"type": "string", "pattern": '"\\\\'}, ['"a\\"\\\\b"'], ['"a\\"b"']),
    ({"type": "string", "format": "date"}, ['"2024-02-28"'], ['"2024-13-01"', '"2024-02-30"']),
    ({"type": "string", "format": "uuid"}, ['"123e4567-e89b-12d3-a456-426614174000"'], ['"123"']),
    ({"type": "string", "format": "ipv4"}, ['"10.0.0.255"'], ['"256.0.0.1"']),
    ({"type": "string", "minLength": 2, "maxLength": 3}, ['"ab"', '"a\\nb"', '"日本語"'], ['"a"', '"abcd"']),
    ({"type": "string", "pattern": "^v[0-9]+$|^[a-z]{2}$", "minLength": 3, "maxLength": 4},
     ['"v12"', '"v123"'], ['"v1"', '"v1234"', '"ab"']),
    ({"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 3},
     ["[1]", "[1,2,3]"], ["[]", "[1,2,3,4]", '["a"]']),
    ({"type": "array", "prefixItems": [{"type": "string"}, {"type": "null"}], "items": False},
     ['[]', '["a"]', '["a",null]'], ['[null]', '["a",null,1]']),
    ({"type": "array", "contains": {"const": 5}}, ["[5]", "[1,5,2]"], ["[]", "[1,2]"]),
    ({"type": "integer", "multipleOf": 3}, ["0", "3", "-9", "123"], ["1", "-4", "3.0"]),
    ({"type": "integer", "multipleOf": 7, "minimum": 10, "maximum": 30}, ["14", "28"], ["7", "35", "15"]),
    ({"enum": [1.0, "a", None, {"x": 1}]}, ["1", "1.0", '"a"', "null", '{"x":1}'], ["2", '"b"', "true"]),
    ({"const": False}, ["false"], ["0", "true"]),
    ({"anyOf": [{"type": "string"}, {"type": "integer", "minimum": 0}]}, ['"x"', "4"], ["-1", "null"]),
    ({"oneOf": [{"type": "string"}, {"type": "integer"}]}, ['"x"', "4"], ["null"]),
    ({"type": ["string", "null"]}, ['"x"', "null"], ["1"]),
    ({"not": {"type": "string"}}, ["1", "null", "[]"], ['"x"']),
    ({"allOf": [{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
                {"properties": {"a": {"minimum": 2}}}]}, ['{"a":2}'], ['{"a":1}', "{}"]),
    ({"$defs": {"node": {"type": "object", "properties": {"v": {"type": "integer"},
                                                         "next": {"$ref": "#/$defs/node"}},
                         "required": ["v"], "additionalProperties": False}},
      "$ref": "#/$defs/node"},
     ['{"v":1}', '{"v":1,"next":{"v":2,"next":{"v":3}}}'], ['{"v":1,"next":{}}', '{"v":1,"x":2}']),
    ({"type": "object", "additionalProperties": {"type": "number"}}, ['{}', '{"x":1,"y":2.5}'],
     ['{"x":"a"}']),
    ({"type": "object", "properties": {"a": {"type": "null"}}, "additionalProperties": False,
      "maxProperties": 0}, ["{}"], ['{"a":null}']),
    ({"type": "object", "properties": {"a": {}, "b": {}, "c": {}}, "additionalProperties": False,
      "minProperties": 2, "maxProperties": 2}, ['{"a":1,"b":2}', '{"b":1,"c":2}'],
     ['{"a":1}', '{"a":1,"b":2,"c":3}']),
    ({"type": "object", "patternProperties": {"^x-": {"type": "integer"}},
      "additionalProperties": False}, ['{"x-a":1}', "{}"], ['{"y":1}', '{"x-a":"s"}']),
    ({"type": "object", "propertyNames": {"maxLength": 2}, "additionalProperties": {"type": "integer"}},
     ['{"ab":1}'], ['{"abc":1}']),
    ({"type": "object", "properties": {"k": {"type": "integer"}}, "additionalProperties": {"type": "string"}},
     ['{"k":1,"kk":"x"}', '{"kk":"x"}'], ['{"k":1,"k":"x"}', '{"k":"x"}']),
    (True, ["1", '{"a":[null]}'], ["", "nul"]),
    ({"$schema": "http://json-schema.org/draft-04/schema#", "type": "number", "minimum": 5,
      "exclusiveMinimum": True}, ["5.5"], ["5"]),
    ({"$schema": "http://json-schema.org/draft-07/schema#", "type": "array",
      "items": [{"type": "integer"}], "additionalItems": False}, ["[1]"], ["[1,2]"]),
]


@pytest.mark.parametrize("schema,good,bad", CASES, ids=lambda x: json.dumps(x)[:50] if isinstance(x, (dict, bool)) else "")
def test_accepts(schema, good, bad):
    js = JsonSchema(schema)
    for g in good:
        assert js.accepts(g), g
    for b in bad:
        assert not js.accepts(b), b


@pytest.mark.parametrize("schema,keyword,pointer", [
    ({"type": "array", "uniqueItems": True}, "uniqueItems", "/"),
    ({"properties": {"a": {"type": "object", "if": {"minProperties": 1}, "then": {"required": ["x"]}}}}, "if", "/properties/a"),
    ({"properties": {"s": {"type": "string", "pattern": "(?<=a)b"}}}, "pattern", "/properties/s"),
    ({"type": "object", "propertyNames": {"format": "date", "pattern": "^2"}}, "format", "/propertyNames"),
    ({"oneOf": [{"type": "integer"}, {"minimum": 0}]}, "oneOf", "/"),
    ({"type": "number", "multipleOf": 0.3}, "multipleOf", "/"),
    ({"type": "string", "pattern": "^(?:\\S+\\s+){0,40}\\S+$", "maxLength": 3000}, "maxLength", "/"),
    ({"$ref": "http://example.com/other.json"}, "$ref", "/"),
])
def test_strict_refuses_and_lenient_warns(schema, keyword, pointer):
    with pytest.raises(cn.UnsupportedFeature) as ei:
        JsonSchema(schema)
    assert ei.value.keyword == keyword and ei.value.pointer == pointer
    assert keyword in str(ei.value) and pointer in str(ei.value)
    with pytest.warns(UserWarning):
        JsonSchema(schema, strict=False)


def test_unknown_format_is_an_annotation():
    with pytest.warns(UserWarning, match="annotation"):
        js = JsonSchema({"type": "string", "format": "my-format", "maxLength": 3})
    assert js.accepts('"abc"') and not js.accepts('"abcd"')


@pytest.mark.parametrize("schema", [
    {"type": "strng"}, {"type": "string", "minLength": -1}, {"properties": []}, {"enum": 3},
    '{"type": ', 5, {"type": "string", "pattern": "("},
])
def test_invalid_schema(schema):
    with pytest.raises(cn.InvalidSyntax):
        JsonSchema(schema)


def test_whitespace():
    s = {"type": "object", "properties": {"a": {"type": "array", "items": {"type": "integer"}}}}
    compact = JsonSchema(s)
    assert compact.accepts('{"a":[1,2]}') and not compact.accepts('{"a": [1, 2]}')
    pretty = JsonSchema(s, whitespace="pretty")
    assert pretty.accepts(json.dumps({"a": [1, 2]}, indent=2))
    assert pretty.accepts('{"a": [1, 2]}')
    assert not pretty.accepts('{\n\n\n"a":[1]}')  # runaway newlines are impossible
    custom = JsonSchema(s, whitespace=r"[ ]{0,2}")
    assert custom.accepts('{  "a" :[1 ,2]}') and not custom.accepts('{   "a":[1]}')
    with pytest.raises(cn.InvalidSyntax):
        JsonSchema(s, whitespace=r"\s*")
    with pytest.raises(cn.InvalidSyntax):
        JsonSchema(s, whitespace=r"x?")


def test_any_order():
    s = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}},
         "required": ["a", "b"], "additionalProperties": False}
    assert not JsonSchema(s).accepts('{"b":"x","a":1}')
    js = JsonSchema(s, any_order=True)
    assert js.accepts('{"b":"x","a":1}') and js.accepts('{"a":1,"b":"x"}')
    assert not js.accepts('{"a":1}')


def test_bounded_sizes_are_small_grammars():
    """Size, not time (no timing asserts): counted repetition costs O(log n) rules."""
    js = JsonSchema({"type": "string", "maxLength": 10000})
    arr = JsonSchema({"type": "array", "items": {"type": "integer"}, "maxItems": 1000, "minItems": 2})
    lst = JsonSchema({"type": "array", "items": {"type": "string", "maxLength": 100}, "maxItems": 50})
    assert len(js.cfg.rules) < 100 and len(arr.cfg.rules) < 100
    assert js.accepts('"' + "é" * 10000 + '"') and not js.accepts('"' + "a" * 10001 + '"')
    assert arr.accepts("[" + ",".join(["1"] * 1000) + "]")
    assert not arr.accepts("[" + ",".join(["1"] * 1001) + "]") and not arr.accepts("[1]")
    assert lst.accepts(json.dumps(["x" * 100] * 50, separators=(",", ":")))


def test_pydantic_models():
    pydantic = pytest.importorskip("pydantic")
    from pydantic import BaseModel, Field

    class Pet(BaseModel):
        kind: Literal["cat", "dog"]
        age: int = Field(ge=0, lt=30)

    class Person(BaseModel):
        name: str = Field(max_length=20)
        email: Optional[str] = None
        pets: list[Pet] = Field(max_length=3)
        friend: Optional["Person"] = None

    js = JsonSchema(Person)
    p = Person(name="Ann", pets=[Pet(kind="cat", age=3)], friend=Person(name="Bob", pets=[]))
    assert js.accepts(p.model_dump_json())
    assert js.accepts('{"name":"A","pets":[]}')
    assert not js.accepts('{"name":"A","pets":[{"kind":"cow","age":1}]}')
    assert not js.accepts('{"name":"A","pets":[{"kind":"cat","age":30}]}')
    assert js.parse('{"name":"A","pets":[]}') == Person(name="A", pets=[])
    assert JsonSchema(list[Pet]).accepts('[{"kind":"dog","age":0}]')
    assert JsonSchema(json.dumps(Pet.model_json_schema())).accepts('{"kind":"dog","age":0}')
    del pydantic


def test_unsatisfiable_and_boolean_false():
    with pytest.raises(cn.InvalidSyntax):
        JsonSchema(False)
    with pytest.raises(cn.InvalidSyntax):
        JsonSchema({"type": "integer", "minimum": 5, "maximum": 4})


def test_lenient_oneof_is_anyof():
    with pytest.warns(UserWarning, match="'oneOf' at / is not enforced"):
        js = JsonSchema({"oneOf": [{"type": "integer"}, {"minimum": 0}]}, strict=False)
        assert js.accepts("1") and js.accepts('"x"')


def _brute_force_objects(schema, keys, value=1):
    """Every object over subsets of ``keys``, in every key order, and a few non-objects: the
    grammar never accepts an instance jsonschema rejects; returns the valid instances it rejects
    in every key order (keys may be restricted to one order, never to fewer objects)."""
    import itertools

    import jsonschema
    js, v = JsonSchema(schema), jsonschema.Draft202012Validator(schema)
    missed = []
    sets = [sub for r in range(len(keys) + 1) for sub in itertools.combinations(keys, r)]
    for inst in [None, "s", 1, []]:
        assert js.accepts(json.dumps(inst)) == v.is_valid(inst), (schema, inst)
    for sub in sets:
        accepted = False
        for order in itertools.permutations(sub):
            text = json.dumps(dict.fromkeys(order, value), separators=(",", ":"))
            if js.accepts(text):
                assert v.is_valid(dict.fromkeys(order, value)), (schema, text)
                accepted = True
        if not accepted and v.is_valid(dict.fromkeys(sub, value)):
            missed.append(sub)
    return missed


@pytest.mark.parametrize("branches", [
    [["a"], ["b"]], [["a", "b"], ["c"]], [["a"], ["a", "b"]], [["a", "b"], ["b", "c", "d"], []],
    [["a", "b"], ["a", "c"]],
])
def test_oneof_of_required_keys_is_exact(branches):
    schema = {"oneOf": [{"required": r} for r in branches]}
    assert _brute_force_objects(schema, ["a", "b", "c", "d"]) == []


@pytest.mark.parametrize("schema,keys", [
    ({"properties": {"a": {"type": "integer"}}, "patternProperties": {".*": {"type": "number"}}},
     ["a", "b", ""]),
    ({"patternProperties": {"x": {"const": 1}, "": {"const": 1}}}, ["x", "y"]),
])
def test_pattern_properties_matching_every_key(schema, keys):
    assert _brute_force_objects(schema, keys) == []
    assert not JsonSchema(schema).accepts('{"b":"s"}' if "a" in keys else '{"y":2}')


@pytest.mark.parametrize("excluded", [
    [], [""], ["a", "ab", "abc"], ["name", "nam", "age"], ['x"y', "\\", "a\nb", "\x01"], ["é", "日本", "a\""],
])
def test_not_keys_pattern_against_json_decoding(excluded):
    """The extra-key terminal: exactly the JSON strings (canonical escapes) not decoding to a
    declared key, checked on every string over a small alphabet up to length 3."""
    import itertools
    import re

    from constrain.schema.jsontext import _not_keys_pattern
    pat = re.compile(_not_keys_pattern(excluded))
    alphabet = sorted(set("".join(excluded)) | {"z"})
    for n in range(4):
        for chars in itertools.product(alphabet, repeat=n):
            s = "".join(chars)
            text = json.dumps(s, ensure_ascii=False)
            assert bool(pat.fullmatch(text)) == (s not in excluded), (excluded, text)
