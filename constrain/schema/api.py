"""``JsonSchema``: a JSON Schema (dict, JSON text, or Pydantic model) as a grammar constraint."""

from __future__ import annotations

import json
from typing import Any

from ..errors import InvalidSyntax
from .errors import InvalidSchema
from ..matcher import CompiledConstraint, Completable, Constraint
from ..vocab import Vocabulary

__all__ = ["JsonSchema", "schema_of"]

_WS_CHARS = {0x20, 0x09, 0x0A, 0x0D}


def schema_of(obj) -> tuple[dict | bool, Any]:
    """(JSON Schema, pydantic model or adapter or None) from a dict/bool, JSON text, a Pydantic
    model class, or any type a ``pydantic.TypeAdapter`` accepts (``list[Model]``, ``Literal``...)."""
    if isinstance(obj, (dict, bool)):
        return obj, None
    if isinstance(obj, (str, bytes)):
        try:
            s = json.loads(obj)
        except json.JSONDecodeError as e:
            raise InvalidSyntax(f"schema is not valid JSON: {e.msg}", source=obj if isinstance(obj, str) else None,
                                position=e.pos) from None
        if not isinstance(s, (dict, bool)):
            raise InvalidSyntax("a JSON Schema must be an object or a boolean")
        return s, None
    if not isinstance(obj, type) and isinstance(obj, (int, float, list, tuple, set, frozenset, bytearray,
                                                      type(None))):
        raise InvalidSchema(f"a JSON Schema must be an object or a boolean, not {type(obj).__name__}")
    try:
        import pydantic
    except ImportError:  # pragma: no cover
        raise TypeError(f"cannot make a JSON Schema from {obj!r}") from None
    if isinstance(obj, type) and issubclass(obj, pydantic.BaseModel):
        return obj.model_json_schema(), obj
    try:
        ta = pydantic.TypeAdapter(obj)
        return ta.json_schema(), ta
    except Exception as e:
        raise TypeError(f"cannot make a JSON Schema from {obj!r}: {e}") from None


def _whitespace_pattern(ws: str) -> str:
    from ..regex import parser as rxp
    from .compiler import WHITESPACE_PRETTY

    if ws in ("compact", "", None):
        return ""
    if ws == "pretty":
        return WHITESPACE_PRETTY
    tree = rxp.parse(ws)

    def check(node):
        if isinstance(node, rxp.Chars):
            for lo, hi in node.set:
                if any(c not in _WS_CHARS for c in range(lo, min(hi, lo + 200) + 1)) or hi - lo > 4:
                    raise InvalidSyntax(f"whitespace pattern {ws!r} must match only JSON whitespace "
                                        "(space, tab, newline, carriage return)")
        elif isinstance(node, (rxp.Concat,)):
            for p in node.parts:
                check(p)
        elif isinstance(node, rxp.Alt):
            for p in node.options:
                check(p)
        elif isinstance(node, rxp.Repeat):
            if node.max is None:
                raise InvalidSyntax(f"whitespace pattern {ws!r} must be bounded (use {{0,N}}, not * or +): "
                                    "unbounded whitespace lets a model emit runaway newlines")
            check(node.node)

    check(tree)
    return ws


class JsonSchema(Completable, Constraint):
    """The output must be a JSON value valid against a JSON Schema.

    Parameters
    ----------
    schema : dict | bool | str | type
        A JSON Schema (dict or boolean), its JSON text, or a Pydantic model class (any type a
        ``pydantic.TypeAdapter`` accepts, e.g. ``list[Person]``).
    whitespace : "compact" | "pretty" | str
        ``"compact"`` (default): no insignificant whitespace. ``"pretty"``: after ``{ [ ,`` and
        before ``} ]`` a newline plus up to 40 spaces/tabs, or one space; one space allowed around
        ``:`` and ``,``. Any other string is a *bounded* regex over JSON whitespace used at each of
        those places (an unbounded one raises `InvalidSyntax`).
    strict : bool
        True (default): a keyword that cannot be enforced exactly raises `UnsupportedKeyword`
        (an `UnsupportedFeature`; ``.keyword`` and ``.pointer`` name it). False: it is ignored with a `UserWarning` and
        ``oneOf`` is treated as ``anyOf``.
    any_order : bool
        False (default): object keys come in ``properties`` order, then additional keys. True:
        any order (at most 10 required keys per object; keys may repeat).

    Raises
    ------
    InvalidSchema, UnsupportedKeyword, SchemaLimitExceeded
        At construction (the grammar is built here); subclasses of `InvalidSyntax`,
        `UnsupportedFeature` and `LimitExceeded` with ``keyword`` and ``pointer`` attributes.
    """

    def __init__(self, schema, *, whitespace: str = "compact", strict: bool = True,
                 any_order: bool = False, limits=None):
        import warnings

        from ..grammar.api import Grammar
        from .compiler import compile_schema

        self.schema, self.model = schema_of(schema)
        self.whitespace = whitespace
        self.strict = strict
        self.any_order = any_order
        ws = _whitespace_pattern(whitespace)
        if strict:
            self.cfg = compile_schema(self.schema, whitespace=ws, strict=True, any_order=any_order)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("always")
                self.cfg = compile_schema(self.schema, whitespace=ws, strict=False, any_order=any_order)
        self.grammar = Grammar.from_cfg(self.cfg, limits=limits)
        self._key = json.dumps(self.schema, sort_keys=False, separators=(",", ":"))

    def __repr__(self) -> str:
        name = getattr(self.model, "__name__", None)
        return (f"JsonSchema({name or self._key[:60]!s}, whitespace={self.whitespace!r}, "
                f"strict={self.strict}, any_order={self.any_order})")

    def cache_key(self) -> tuple:
        return ("jsonschema", self._key, self.whitespace, self.strict, self.any_order,
                self.grammar.limits)

    def _compile(self, vocab: Vocabulary) -> CompiledConstraint:
        return self.grammar._compile(vocab)

    def accepts(self, text: str | bytes) -> bool:
        """Whether ``text`` is an output the constraint allows (no vocabulary needed)."""
        return self.grammar.accepts(text)

    def dumps(self, value) -> str:
        """``value`` serialised the way this constraint writes JSON (compact separators, keys in
        the value's order) — a text `accepts` should take when ``value`` is valid."""
        if self.whitespace in ("compact", "", None):
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        return json.dumps(value, ensure_ascii=False, indent=2 if self.whitespace == "pretty" else None)

    def parse(self, text: str):
        """Parse an output: a Pydantic instance when built from a model, else the JSON value."""
        if self.model is not None:
            if hasattr(self.model, "model_validate_json"):
                return self.model.model_validate_json(text)
            return self.model.validate_json(text)
        return json.loads(text)
