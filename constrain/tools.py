"""``ToolCalls``: function calling in a model's own tag format, on `Tagged`.

Formats (what the model writes for one call):

* ``"hermes"`` (Hermes, Qwen 2.5/3, SmolLM3): ``<tool_call>\\n{"name": "f", "arguments": {...}}\\n</tool_call>``;
* ``"llama3"`` (Llama 3.1+ JSON tool calling): ``{"name": "f", "parameters": {...}}``;
* ``"mistral"``: ``[TOOL_CALLS][{"name": "f", "arguments": {...}}, ...]`` (one tag holds a list);
* a `ToolFormat` for any other tags.

Modes: ``"auto"`` (free text; a call starts where the trigger appears), ``"required"`` (only calls,
at least one, whitespace between), ``"none"`` (free text that never contains the trigger), or a
tool name (exactly that tool, required). ``parallel=False`` allows one call.

Each call's ``arguments`` are constrained by the tool's JSON Schema (objects without
``additionalProperties`` are closed, as `extract` does: outputs stay valid for the original
schema), and its ``name`` to the declared names. `ToolCalls.parse` returns typed `ToolCall`
objects (arguments validated by the tool's Pydantic model when it was given as one).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .compose import GrammarConstraint, OneOf, Sequence
from .errors import InvalidSyntax
from .tagged import Tag, Tagged

__all__ = ["ToolCalls", "ToolCall", "ToolFormat", "Tool", "ParsedToolCalls", "normalize_tools"]


@dataclass(frozen=True)
class Tool:
    """A declared tool: its name, JSON Schema of the arguments, and Pydantic model (or None)."""

    name: str
    parameters: dict
    description: str = ""
    model: Any = None


@dataclass
class ToolCall:
    """A parsed call: ``arguments`` is the JSON object, ``value`` the Pydantic instance (or the
    same dict when the tool has no model)."""

    name: str
    arguments: dict
    value: Any = None


@dataclass
class ParsedToolCalls:
    """`ToolCalls.parse` result: the free text (tags removed, stripped) and the calls in order."""

    content: str
    calls: list = field(default_factory=list)


@dataclass(frozen=True)
class ToolFormat:
    """A tag format: ``begin`` / ``end`` around one JSON envelope ``{"<name_key>": "...",
    "<arguments_key>": {...}}``; ``trigger`` (default ``begin``) opens it in free text; ``list_body``:
    the tag holds a JSON list of envelopes (Mistral)."""

    begin: str
    end: str = ""
    trigger: str | None = None
    name_key: str = "name"
    arguments_key: str = "arguments"
    list_body: bool = False


FORMATS = {
    "hermes": ToolFormat("<tool_call>\n", "\n</tool_call>", "<tool_call>"),
    "llama3": ToolFormat('{"name": "', "}", '{"name"', arguments_key="parameters"),
    "mistral": ToolFormat("[TOOL_CALLS]", "", list_body=True),
}


def _close(schema):
    from .extract import _close_objects

    return _close_objects(schema)


def normalize_tools(tools) -> list[Tool]:
    """Tools from OpenAI tool dicts (``{"type": "function", "function": {...}}`` or the inner
    ``{"name", "parameters"}``), JSON Schemas with a ``title``, or Pydantic model classes."""
    out: list[Tool] = []
    for k, t in enumerate(tools):
        if isinstance(t, Tool):
            out.append(t)
            continue
        if isinstance(t, type):
            from .schema.api import schema_of

            sch, model = schema_of(t)
            out.append(Tool(t.__name__, sch, (t.__doc__ or "").strip(), model))
            continue
        if not isinstance(t, dict):
            raise TypeError(f"tools[{k}] is {type(t).__name__}: expected an OpenAI tool dict, a JSON "
                            "Schema with a title, or a Pydantic model class")
        kind = t.get("type")
        if isinstance(t.get("function"), dict) and kind in (None, "function"):
            f = t["function"]
        elif "name" in t and kind in (None, "function"):
            f = t
        elif kind not in (None, "function", "object"):
            raise InvalidSyntax(f"tools[{k}] has type {kind!r}; only 'function' tools are supported")
        else:
            f = None
        if f is not None and "name" in f:
            params = f.get("parameters", {"type": "object", "properties": {}})
            out.append(Tool(f["name"], params, f.get("description", "")))
        elif f is None and "title" in t:
            out.append(Tool(t["title"], t, t.get("description", "")))
        else:
            raise InvalidSyntax(f"tools[{k}] has no name (an OpenAI tool needs function.name, a "
                                "JSON Schema a title)")
    names = [t.name for t in out]
    if len(set(names)) != len(names):
        raise InvalidSyntax(f"duplicate tool names in {names}")
    for t in out:
        if not isinstance(t.name, str) or not t.name or '"' in t.name or "\\" in t.name:
            raise InvalidSyntax(f"tool name {t.name!r} must be a non-empty string without quotes")
    return out


class ToolCalls(GrammarConstraint):
    """Tool calls in a model's format (see the module docstring).

    Parameters
    ----------
    tools : list
        OpenAI tool dicts, JSON Schemas with a ``title``, Pydantic model classes, or `Tool`.
    format : "hermes" | "llama3" | "mistral" | ToolFormat
    mode : "auto" | "required" | "none" | str
        A tool name restricts to that tool and requires a call.
    parallel : bool
        Several calls (True) or at most one.
    max_calls : int, optional
        With ``parallel``, at most this many calls (a small model may repeat a call until the
        token budget ends; this bounds it).
    whitespace : str
        JSON whitespace inside the envelopes (a bounded regex, see `JsonSchema`); the default
        allows the one space after ``:`` and ``,`` that chat templates write.
    limits : GrammarLimits, optional

    Raises
    ------
    InvalidSyntax
        Bad tools, an unknown format or mode, no tools for ``"auto"``/``"required"``.
    UnsupportedFeature
        A tool schema the JSON Schema compiler cannot enforce exactly.
    """

    def __init__(self, tools, *, format="hermes", mode: str = "auto", parallel: bool = True,
                 max_calls: int | None = None, whitespace: str = " ?", limits=None):
        from .schema.api import JsonSchema

        self.tools = normalize_tools(tools)
        fmt = FORMATS.get(format) if isinstance(format, str) else format
        if not isinstance(fmt, ToolFormat):
            raise InvalidSyntax(f"unknown tool format {format!r}: use {sorted(FORMATS)} or a ToolFormat")
        self.format, self.mode, self.parallel = fmt, mode, bool(parallel)
        self._max_calls = max_calls
        by_name = {t.name: t for t in self.tools}
        if mode in ("auto", "required", "none"):
            chosen = self.tools
        elif mode in by_name:
            chosen = [by_name[mode]]
        else:
            raise InvalidSyntax(f"mode must be 'auto', 'required', 'none' or a tool name "
                                f"({sorted(by_name)}), got {mode!r}")
        if mode != "none" and not chosen:
            raise InvalidSyntax(f"mode {mode!r} needs at least one tool")
        self.allowed = [t.name for t in chosen]
        trigger = fmt.trigger or fmt.begin
        if mode == "none":
            self.tagged = Tagged([], [trigger], limits=limits)
        else:
            body = self._body(chosen, fmt, whitespace, JsonSchema)
            tag = Tag(fmt.begin, body, fmt.end, name="tool_call")
            if max_calls is not None and int(max_calls) < 1:
                raise InvalidSyntax(f"max_calls must be >= 1, got {max_calls}")
            if not self.parallel:
                max_calls = 1
            self.max_calls = max_calls
            free = mode == "auto"
            most = 1 if fmt.list_body else max_calls  # Mistral: one tag holds the list
            self.tagged = Tagged([tag], [trigger], text=free, min_tags=0 if free else 1,
                                 max_tags=most, limits=limits)
        self.cfg, self.grammar, self._key = self.tagged.cfg, self.tagged.grammar, self.tagged._key

    def _body(self, tools, fmt: ToolFormat, ws: str, JsonSchema):
        if fmt.begin.endswith('{"name": "'):  # the envelope is split by the begin string (llama3)
            opts = [Sequence(t.name + f'", "{fmt.arguments_key}": ',
                             JsonSchema(_close(t.parameters), whitespace=ws)) for t in tools]
            return opts[0] if len(opts) == 1 else OneOf(*opts)
        envs = [{"type": "object", "properties": {fmt.name_key: {"const": t.name},
                                                   fmt.arguments_key: _close(t.parameters)},
                 "required": [fmt.name_key, fmt.arguments_key], "additionalProperties": False}
                for t in tools]
        if fmt.list_body:
            sch = {"type": "array", "items": {"anyOf": envs} if len(envs) > 1 else envs[0],
                   "minItems": 1}
            if not self.parallel:
                sch["maxItems"] = 1
            elif self._max_calls is not None:
                sch["maxItems"] = int(self._max_calls)
            return JsonSchema(sch, whitespace=ws)
        opts = [JsonSchema(e, whitespace=ws) for e in envs]
        return opts[0] if len(opts) == 1 else OneOf(*opts)

    def __repr__(self) -> str:
        return f"ToolCalls({self.allowed}, mode={self.mode!r}, parallel={self.parallel})"

    def parse(self, text: str | bytes) -> ParsedToolCalls:
        """The free text and the typed calls of an output of this constraint.

        Raises ValueError when a tag is incomplete or malformed (e.g. the output was cut short);
        pydantic.ValidationError when a tool's model rejects its arguments (custom validators).
        """
        fmt = self.format
        content, calls = [], []
        for seg in self.tagged.parse(text):
            if isinstance(seg, str):
                content.append(seg)
                continue
            raw = seg.body
            if fmt.begin.endswith('{"name": "'):
                raw = fmt.begin[fmt.begin.index("{"):] + raw + fmt.end
            val = json.loads(raw)
            for env in (val if isinstance(val, list) else [val]):
                calls.append(self._call(env))
        return ParsedToolCalls("".join(content).strip(), calls)

    def _call(self, env: dict) -> ToolCall:
        fmt = self.format
        name, args = env[fmt.name_key], env[fmt.arguments_key]
        tool = next(t for t in self.tools if t.name == name)
        value = args
        if tool.model is not None:
            m = tool.model
            value = m.model_validate(args) if hasattr(m, "model_validate") else m.validate_python(args)
        return ToolCall(name, args, value)
