"""Per-request constraint specs for serving engines: ``{"regex": ...}``, ``{"json_schema": ...}``,
``{"grammar": ...}``, ``{"choice": [...]}`` or ``{"tool_calls": {"tools": [...], "format": "hermes",
"mode": "required", ...}}`` (the keyword arguments of `constrain.ToolCalls`), as a dict or its JSON text.
Any of them may carry ``"reasoning": {"end": "</think>", "start": null, "max_thinking_tokens": null}``
(or ``true`` for those defaults): free thinking text first, then the constraint (`constrain.Reasoning`).

``constraint_of(spec)`` validates a spec and returns its `Constraint`; equal specs share one
object (an LRU of 256 entries), so the DFA/grammar build happens once per process and compiled
constraints come from the compile cache. Bad specs raise `SpecError` (a ``ValueError``), which
vLLM answers with HTTP 400.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from ..errors import ConstraintError
from ..matcher import Constraint

__all__ = ["SpecError", "KINDS", "parse_spec", "constraint_of", "compile_spec", "spec_of_extra_args"]

KINDS = ("regex", "json_schema", "grammar", "choice", "tool_calls")
REASONING_KEY = "reasoning"
_REASONING_ARGS = {"end": str, "start": str, "max_thinking_tokens": int}
_TOOL_ARGS = ("tools", "format", "mode", "parallel", "max_calls")
EXTRA_ARGS_KEY = "constrain"
MAX_SPEC_CHARS = 1 << 20  # a spec's JSON text; larger ones are refused before any parsing


class SpecError(ValueError):
    """A per-request constraint spec that cannot be used (says which key and why)."""


def parse_spec(spec: Any) -> tuple[str, str]:
    """``(kind, canonical text)`` of a spec dict or JSON text. Raises `SpecError`."""
    if isinstance(spec, (str, bytes)):
        if len(spec) > MAX_SPEC_CHARS:
            raise SpecError(f"constrain spec is {len(spec)} characters; the limit is {MAX_SPEC_CHARS}")
        try:
            spec = json.loads(spec)
        except json.JSONDecodeError as e:
            raise SpecError(f"constrain spec is not valid JSON: {e}") from None
    if not isinstance(spec, dict):
        raise SpecError(f"constrain spec must be an object with one of {KINDS}, not {type(spec).__name__}")
    if REASONING_KEY in spec:
        return _parse_reasoning(spec)
    keys = [k for k in spec if k in KINDS]
    unknown = sorted(set(spec) - set(KINDS))
    if unknown:
        raise SpecError(f"unknown constrain spec keys {unknown}; expected exactly one of {KINDS}")
    if len(keys) != 1:
        raise SpecError(f"constrain spec needs exactly one of {KINDS}, got {keys or 'none'}")
    kind = keys[0]
    value = spec[kind]
    if kind == "json_schema":
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as e:
                raise SpecError(f"constrain json_schema is not valid JSON: {e}") from None
        if not isinstance(value, (dict, bool)):
            raise SpecError(f"constrain json_schema must be an object, not {type(value).__name__}")
        text = json.dumps(value, separators=(",", ":"))  # key order matters: properties order
    elif kind == "choice":
        if (not isinstance(value, list) or not value
                or not all(isinstance(c, str) and c for c in value)):
            raise SpecError("constrain choice must be a non-empty list of non-empty strings")
        text = json.dumps(value)
    elif kind == "tool_calls":
        text = _tool_calls_text(value)
    else:
        if not isinstance(value, str) or not value:
            raise SpecError(f"constrain {kind} must be a non-empty string")
        text = value
    if len(text) > MAX_SPEC_CHARS:
        raise SpecError(f"constrain {kind} is {len(text)} characters; the limit is {MAX_SPEC_CHARS}")
    return kind, text


def constraint_of(spec: Any) -> Constraint:
    """The `Constraint` of a spec (cached per canonical spec). Raises `SpecError`."""
    return _build(*parse_spec(spec))


def compile_spec(spec: Any, vocab, disk=None):
    """A spec compiled against ``vocab``. With a `constrain.cache.DiskCache` (``disk``, or the
    process-wide one of `constrain.cache.enable_disk_cache`), a hit is looked up by the spec's
    canonical text and costs one file read: no regex, schema or grammar is built."""
    from ..matcher import _disk_cache

    kind, text = parse_spec(spec)
    disk = disk if disk is not None else _disk_cache()
    if disk is None:
        return _build(kind, text).compile(vocab)
    key = f"constrain.integrations.spec:{kind}:{text}"
    compiled = disk.get(key, vocab)
    if compiled is None:
        compiled = _build(kind, text).compile(vocab)
        disk.put(key, vocab, compiled)
    return compiled


def _parse_reasoning(spec: dict) -> tuple[str, str]:
    """``("reasoning", canonical text)`` of a spec with a ``reasoning`` key."""
    opts = spec[REASONING_KEY]
    if opts is True:
        opts = {}
    if not isinstance(opts, dict):
        raise SpecError("constrain reasoning must be true or an object with keys "
                        f"{sorted(_REASONING_ARGS)}, not {type(opts).__name__}")
    for k, v in opts.items():
        want = _REASONING_ARGS.get(k)
        if want is None:
            raise SpecError(f"unknown constrain reasoning key {k!r}; expected {sorted(_REASONING_ARGS)}")
        if v is not None and (not isinstance(v, want) or isinstance(v, bool)):
            raise SpecError(f"constrain reasoning {k} must be {want.__name__}, not {type(v).__name__}")
    inner = parse_spec({k: v for k, v in spec.items() if k != REASONING_KEY})
    return "reasoning", json.dumps({"inner": list(inner), **opts}, sort_keys=True)


def _tool_calls_text(value: Any) -> str:
    if not isinstance(value, dict) or not isinstance(value.get("tools"), list) or not value["tools"]:
        raise SpecError('constrain tool_calls must be an object with a non-empty "tools" list '
                        "(OpenAI tool dicts or JSON Schemas)")
    unknown = sorted(set(value) - set(_TOOL_ARGS))
    if unknown:
        raise SpecError(f"unknown constrain tool_calls keys {unknown}; expected {list(_TOOL_ARGS)}")
    return json.dumps(value, separators=(",", ":"))  # key order kept: tools' property order


@functools.lru_cache(maxsize=256)
def _build(kind: str, text: str) -> Constraint:
    import constrain as cn

    try:
        if kind == "reasoning":
            opts = json.loads(text)
            inner = _build(*opts.pop("inner"))
            return cn.Reasoning(inner, **{"end": "</think>", **opts})
        if kind == "tool_calls":
            return cn.ToolCalls(**json.loads(text))
        if kind == "regex":
            return cn.Regex(text)
        if kind == "json_schema":
            return cn.JsonSchema(json.loads(text))
        if kind == "choice":
            return cn.Regex("|".join(_literal(c) for c in json.loads(text)))
        from ..grammar.loader import available

        if text in available():
            return cn.Grammar.load(text)
        return cn.Grammar(text)
    except (ConstraintError, ValueError, TypeError, KeyError) as e:
        raise SpecError(f"constrain {kind} is not usable: {type(e).__name__}: {e}") from None


def _literal(s: str) -> str:
    return "".join("\\" + ch if ch in ".^$*+?{}[]\\|()" else ch for ch in s)


def spec_of_extra_args(extra_args: dict | None) -> Any | None:
    """The raw spec under ``extra_args["constrain"]`` (None when absent)."""
    if not extra_args:
        return None
    return extra_args.get(EXTRA_ARGS_KEY)


