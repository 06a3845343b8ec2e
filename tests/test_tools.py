"""`ToolCalls`: tool normalisation, formats, modes, the language (declared tools only, arguments
valid for the tool's schema) and the typed parser."""

from __future__ import annotations

import json
import random

import jsonschema
import pydantic
import pytest

import constrain as cn
from constrain.errors import InvalidSyntax
from constrain.tools import ToolFormat, normalize_tools

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                    "unit": {"enum": ["celsius", "fahrenheit"]}},
                   "required": ["city"]}}}


class SendEmail(pydantic.BaseModel):
    """Send an email."""
    to: str
    body: str


SEARCH = {"title": "search", "type": "object", "properties": {"q": {"type": "string"},
                                                              "k": {"type": "integer", "minimum": 1}},
          "required": ["q", "k"]}
TOOLS = [WEATHER, SendEmail, SEARCH]


def hermes(name, args, *, ws=" "):
    return f'<tool_call>\n{{"name":{ws}"{name}",{ws}"arguments":{ws}{json.dumps(args)}}}\n</tool_call>'


def test_normalize_tools():
    tools = normalize_tools(TOOLS + [{"name": "noop"}])
    assert [t.name for t in tools] == ["get_weather", "SendEmail", "search", "noop"]
    assert tools[1].model is SendEmail and tools[2].parameters["required"] == ["q", "k"]
    with pytest.raises(InvalidSyntax):
        normalize_tools([WEATHER, WEATHER])
    with pytest.raises(InvalidSyntax):
        normalize_tools([{"type": "object", "properties": {}}])
    with pytest.raises(InvalidSyntax):
        normalize_tools([{"type": "retrieval"}])
    with pytest.raises(TypeError):
        normalize_tools([42])


def test_hermes_required_language_and_parse():
    c = cn.ToolCalls(TOOLS, mode="required")
    one = hermes("get_weather", {"city": "Paris", "unit": "celsius"})
    two = one + "\n" + hermes("SendEmail", {"to": "a@b.c", "body": "hi"}, ws="")
    assert c.accepts(one) and c.accepts(two) and c.accepts(two + "\n")
    assert not c.accepts("")  # at least one call
    assert not c.accepts("Sure! " + one)  # no free text in required mode
    assert not c.accepts(hermes("delete_all", {}))  # undeclared tool
    assert not c.accepts(hermes("get_weather", {"city": 3}))  # invalid arguments
    assert not c.accepts(hermes("get_weather", {"unit": "celsius"}))  # missing required
    assert not c.accepts(hermes("search", {"q": "x", "k": 0}))  # minimum
    assert not c.accepts(hermes("get_weather", {"city": "P", "zip": "1"}))  # closed objects
    parsed = c.parse(two)
    assert parsed.content == "" and [k.name for k in parsed.calls] == ["get_weather", "SendEmail"]
    assert parsed.calls[0].arguments == {"city": "Paris", "unit": "celsius"}
    assert parsed.calls[1].value == SendEmail(to="a@b.c", body="hi")


def test_auto_none_named_and_single():
    auto = cn.ToolCalls(TOOLS, mode="auto")
    call = hermes("search", {"q": "x", "k": 2})
    assert auto.accepts("Just text, no call.") and auto.accepts("Let me look. " + call + " Done.")
    assert not auto.accepts("Let me look. <tool_call>\n{oops}\n</tool_call>")
    p = auto.parse("Let me look. " + call + " Done.")
    assert p.content == "Let me look.  Done." and p.calls[0].arguments == {"q": "x", "k": 2}
    none = cn.ToolCalls(TOOLS, mode="none")
    assert none.accepts("Free text") and not none.accepts("a " + call)
    named = cn.ToolCalls(TOOLS, mode="search")
    assert named.accepts(call) and not named.accepts(hermes("get_weather", {"city": "P"}))
    single = cn.ToolCalls(TOOLS, mode="required", parallel=False)
    assert single.accepts(call) and not single.accepts(call + "\n" + call)
    two = cn.ToolCalls(TOOLS, mode="auto", max_calls=2)
    assert two.accepts(f"a {call} b {call}") and not two.accepts(f"a {call} b {call} {call}")
    with pytest.raises(InvalidSyntax):
        cn.ToolCalls(TOOLS, max_calls=0)
    with pytest.raises(InvalidSyntax):
        cn.ToolCalls(TOOLS, mode="delete_all")
    with pytest.raises(InvalidSyntax):
        cn.ToolCalls(TOOLS, format="acme")


def test_llama3_mistral_and_custom_formats():
    ll = cn.ToolCalls(TOOLS, format="llama3", mode="auto")
    txt = 'Calling. {"name": "search", "parameters": {"q": "x", "k": 1}}'
    assert ll.accepts(txt) and not ll.accepts('{"name": "search", "parameters": {"q": 1, "k": 1}}')
    assert ll.parse(txt).calls[0].arguments == {"q": "x", "k": 1}
    mi = cn.ToolCalls(TOOLS, format="mistral", mode="required")
    txt = '[TOOL_CALLS][{"name": "search", "arguments": {"q": "x", "k": 1}}, {"name": "get_weather", "arguments": {"city": "P"}}]'
    assert mi.accepts(txt) and [k.name for k in mi.parse(txt).calls] == ["search", "get_weather"]
    assert not cn.ToolCalls(TOOLS, format="mistral", parallel=False).accepts(txt)
    fmt = ToolFormat("<function_call>", "</function_call>", arguments_key="args")
    cu = cn.ToolCalls(TOOLS, format=fmt)
    txt = 'ok <function_call>{"name": "search", "args": {"q": "y", "k": 3}}</function_call>'
    assert cu.accepts(txt) and cu.parse(txt).calls[0].arguments == {"q": "y", "k": 3}


def test_random_valid_calls_accepted_and_validate():
    """Arguments drawn at random: the constraint accepts exactly the valid ones."""
    rng = random.Random(0)
    c = cn.ToolCalls(TOOLS, mode="required")
    schema = normalize_tools(TOOLS)[2].parameters
    for _ in range(40):
        args = {"q": rng.choice(["", "a b", 'q"uote', "é"]), "k": rng.randint(-2, 5)}
        if rng.random() < 0.3:
            del args["q"]
        valid = jsonschema.Draft202012Validator(schema).is_valid(args)
        assert c.accepts(hermes("search", args)) == valid, args
