"""JSON Schema → grammar IR (`constrain.grammar.ir.CFG`), directly (no intermediate regex).

Every string value, number and key is one *terminal* (a regex over the JSON text, compiled to a
byte DFA by the engine); objects, arrays, ``anyOf`` and ``$ref`` are grammar rules, so recursion
is native and bounded counts (``maxItems``, ``maxLength`` beyond a few hundred) are linear-size
chains of rules rather than giant automata.

Exactness contract
------------------
With ``strict=True`` every keyword that constrains instances is either enforced *exactly* (every
text the grammar accepts validates against the schema) or refused with `UnsupportedFeature`
naming the keyword and its JSON pointer. A few deliberate *under*-approximations keep output
natural and never make it invalid: numbers with bounds are written without an exponent, enum
objects only in their own key order, ``\\u`` escapes of surrogates are never produced, and by
default object keys come in ``properties`` order. With ``strict=False`` an unenforceable keyword is
ignored with a `UserWarning` (the grammar then over-approximates the schema).
"""

from __future__ import annotations

import re
import warnings
from urllib.parse import urljoin, urldefrag

from ..grammar.ir import CFG, Rule, Terminal
from ..grammar.normalize import productive_symbols, reachable_symbols
from .arrays import ArraysMixin
from .combinators import CombinatorsMixin
from .contains import ContainsMixin
from .counting import CountingMixin
from .numbers import NumbersMixin
from .oneof import OneOfMixin
from .oneof_objects import OneOfObjectsMixin
from .oneof_values import OneOfValuesMixin
from .unevaluated import UnevaluatedMixin
from .objects import ObjectsMixin
from .refs import RefsMixin
from .strings import StringsMixin
from .values import ValuesMixin
from .checks import check_json
from .errors import InvalidSchema, SchemaLimitExceeded, UnsupportedKeyword
from .common import SchemaOptions, _DEFAULT_BASE, _INTERNAL, _KNOWN, _META, _TYPES, _json_eq
from .jsontext import _NUMBER, _UNIT, _not_keys_pattern
from .keydfa import not_keys_dfa, unit_string_dfa
from ..regex.api import regex_dfa

__all__ = ["compile_schema", "SchemaOptions", "WHITESPACE_PRETTY"]

# applicators: keywords that evaluate subschemas at the same instance location
_APPLICATORS = ("allOf", "anyOf", "oneOf", "if", "dependentSchemas", "$dynamicRef", "$recursiveRef",
                "dependencies")

# JSON whitespace presets. Both are bounded: a model cannot emit runaway newlines.
WHITESPACE_PRETTY = r"(?:\n[ \t]{0,40}|[ ]?)"


# ------------------------------------------------------------------ the compiler


class _Compiler(CountingMixin, RefsMixin, CombinatorsMixin, OneOfMixin, OneOfObjectsMixin, OneOfValuesMixin, ValuesMixin, NumbersMixin,
                StringsMixin, ArraysMixin, ContainsMixin, ObjectsMixin, UnevaluatedMixin):
    """One compilation: the IR being built (rules, interned terminals) and the dispatch from a
    schema to a grammar symbol. Each keyword family lives in its mixin's module."""

    def __init__(self, root, opts: SchemaOptions):
        self.root = root
        self.o = opts
        self.rules: list[Rule] = []
        self.terms: dict[str, str] = {}  # pattern -> name
        self.term_objs: dict[str, Terminal] = {}
        self.n = 0
        self.counted: dict = {}  # (kind, symbol, count) -> symbol, see CountingMixin
        self.memo: dict = {}  # ref uri -> nonterminal (for recursion)
        self.ids: dict[str, object] = {}  # absolute uri (no fragment) -> schema
        self.anchors: dict[str, object] = {}  # absolute uri#anchor -> schema
        self._any = None
        self._strings_any = None
        self.depth = 0
        self.draft = self._detect_draft(root)
        base = _DEFAULT_BASE
        if isinstance(root, dict):
            rid = root.get("$id", root.get("id") if self.draft <= 4 else None)
            if isinstance(rid, str):
                base = urljoin(base, rid)
        self.root_base = urldefrag(base)[0]
        self._index(root, self.root_base)
        ws = opts.ws
        self.P = {
            "{": self.rx(r"\{" + (f"(?:{ws})" if ws else "")),
            "}": self.rx((f"(?:{ws})" if ws else "") + r"\}"),
            "[": self.rx(r"\[" + (f"(?:{ws})" if ws else "")),
            "]": self.rx((f"(?:{ws})" if ws else "") + r"\]"),
            ",": self.rx(f"(?:{ws}),(?:{ws})" if ws else ","),
        }
        self.colon = f"(?:{ws}):(?:{ws})" if ws else ":"
        self._colon = None  # its DFA, built on first use

    # -- errors --------------------------------------------------------------------------------
    def unsupported(self, keyword: str, ptr: str, detail: str = "") -> None:
        """Strict: raise `UnsupportedKeyword`; lenient: warn (the caller then ignores the keyword)."""
        if self.o.strict:
            raise UnsupportedKeyword(keyword, pointer=ptr, detail=detail)
        warnings.warn(f"JSON Schema keyword {keyword!r} at {ptr or '/'} is not enforced"
                      + (f" ({detail})" if detail else ""), UserWarning, stacklevel=4)

    def invalid(self, msg: str, ptr: str, keyword: str | None = None) -> InvalidSchema:
        """The error for a malformed schema at ``ptr``; ``keyword`` defaults to the message's first
        word when that is a keyword (messages read "minLength must be ...")."""
        if keyword is None:
            first = msg.split(" ", 1)[0].strip("'\"")
            keyword = first if first in _KNOWN or first in _META else None
        return InvalidSchema(msg, keyword=keyword, pointer=ptr)

    # -- IR building -----------------------------------------------------------------------------
    def _terminal(self, pattern: str, **extra) -> str:
        """The name of the terminal for ``pattern``, interned (``extra``: `Terminal` fields such
        as a prebuilt ``dfa`` or a ``literal``, used when the pattern is new)."""
        name = self.terms.get(pattern)
        if name is None:
            name = f"T{len(self.terms)}"
            self.terms[pattern] = name
            self.term_objs[name] = Terminal(name, pattern, **extra)
        return name

    def rx(self, pattern: str) -> str:
        return self._terminal(pattern)

    def rx_dfa(self, pattern: str, dfa) -> str:
        """A terminal with a prebuilt DFA (``pattern`` states the same language for Python
        ``re``; the engine uses the DFA)."""
        return self._terminal(pattern, dfa=dfa)

    def _colon_dfa(self):
        """The DFA of the key-value separator (built once per compiler)."""
        if self._colon is None:
            self._colon = regex_dfa(self.colon)
        return self._colon

    def not_keys(self, excluded: list[str], colon: bool) -> str:
        """A terminal for a JSON string whose value is none of ``excluded`` (then the key's colon
        when ``colon``): `jsontext._not_keys_pattern`'s language, with its DFA built directly
        from the keys' trie (`keydfa`) rather than compiled from the regex."""
        pattern = _not_keys_pattern(excluded) + (self.colon if colon else "")
        if pattern in self.terms:
            return self.terms[pattern]
        dfa = not_keys_dfa(excluded, self._colon_dfa() if colon else None)
        return self.rx(pattern) if dfa is None else self.rx_dfa(pattern, dfa)

    def unit_string(self, mn: int, mx: int | None, colon: bool = False) -> str:
        """The terminal ``"`` + ``_UNIT{mn,mx}`` + ``"`` (+ the colon), its DFA built directly
        (`keydfa.unit_string_dfa`)."""
        count = "*" if (mn, mx) == (0, None) else f"{{{mn},{'' if mx is None else mx}}}"
        pattern = f'"{_UNIT}{count}"' + (self.colon if colon else "")
        if pattern in self.terms:
            return self.terms[pattern]
        return self.rx_dfa(pattern, unit_string_dfa(mn, mx, self._colon_dfa() if colon else None))

    def literal(self, text: str) -> str:
        """A terminal matching exactly ``text``, marked literal (the engine then builds its DFA
        from per-character pieces, linear in the length, instead of a regex compilation)."""
        return self._terminal(re.escape(text), literal=text)

    def lit(self, text: str) -> str:
        return self.rx(re.escape(text))

    def nt(self, hint: str = "N") -> str:
        self.n += 1
        return f"{hint}_{self.n}"

    def rule(self, lhs: str, *rhs) -> None:
        self.rules.append(Rule(lhs, tuple(rhs)))

    def alt(self, syms: list, hint="alt") -> str | None:
        syms = [s for s in dict.fromkeys(syms) if s is not None]
        if not syms:
            return None
        if len(syms) == 1:
            return syms[0]
        A = self.nt(hint)
        for s in syms:
            self.rule(A, s)
        return A

    def seq(self, syms: list, hint="seq") -> str | None:
        if any(s is None for s in syms):
            return None
        A = self.nt(hint)
        self.rule(A, *syms)
        return A

    # -- generic JSON ---------------------------------------------------------------------------
    def any_value(self) -> str:
        if self._any is None:
            V = self._any = self.nt("ANY")
            S = self.unit_string(0, None)
            members = self.nt("members")
            elems = self.nt("elems")
            self.rule(V, S)
            self.rule(V, self.rx(_NUMBER))
            for w in ("true", "false", "null"):
                self.rule(V, self.lit(w))
            kv = self.nt("kv")
            self.rule(kv, self.unit_string(0, None, colon=True), V)
            self.rule(members, kv)
            self.rule(members, members, self.P[","], kv)
            self.rule(V, self.P["{"], self.P["}"])
            self.rule(V, self.P["{"], members, self.P["}"])
            self.rule(elems, V)
            self.rule(elems, elems, self.P[","], V)
            self.rule(V, self.P["["], self.P["]"])
            self.rule(V, self.P["["], elems, self.P["]"])
        return self._any

    # -- entry -------------------------------------------------------------------------------------
    def compile(self) -> CFG:
        start = self.gen(self.root, "", self.root_base)
        if start is None:
            raise InvalidSchema("the schema accepts no value (it is unsatisfiable)", pointer="")
        S = "start"
        self.rule(S, start)
        # keep the rules that derive some text and that the start reaches (dead states of
        # counting rules and unsatisfiable $ref targets derive nothing): the normal form's passes
        is_term = self.term_objs.__contains__
        prod = productive_symbols([(r.lhs, r.rhs) for r in self.rules], is_term)
        if S not in prod:
            raise InvalidSchema("the schema accepts no value (it is unsatisfiable)", pointer="")
        rules = [r for r in self.rules if all(x in prod or is_term(x) for x in r.rhs)]
        reach = reachable_symbols([(r.lhs, r.rhs) for r in rules], S)
        rules = [r for r in rules if r.lhs in reach]
        used = {x for r in rules for x in r.rhs}
        terms = {t.name: t for t in self.term_objs.values() if t.name in used}
        return CFG(S, tuple(rules), terms)

    # -- schema → symbol --------------------------------------------------------------------------
    def gen(self, schema, ptr: str, base: str) -> str | None:
        if schema is True or schema == {}:
            return self.any_value()
        if schema is False:
            return None
        if not isinstance(schema, dict):
            raise self.invalid(f"a schema must be an object or a boolean, not {type(schema).__name__}", ptr)
        self.depth += 1
        if self.depth > self.o.max_depth:
            raise SchemaLimitExceeded("schema_depth", self.o.max_depth,
                                      "subschemas nest deeper (or a $ref chain expands without recursion)",
                                      pointer=ptr)
        try:
            return self._gen(schema, ptr, self.base_of(schema, base))
        finally:
            self.depth -= 1

    def _gen(self, s: dict, ptr: str, base: str) -> str | None:
        """Dispatch: references and applicators are rewritten or merged away first, then the
        remaining assertions compile per instance type (`typed`)."""
        s = dict(s)
        if self.draft <= 3 and s.get("required") is True:  # draft 3: a boolean per property
            s.pop("required")
        if ("unevaluatedProperties" in s or "unevaluatedItems" in s) and ("allOf" in s or "$ref" in s):
            s = self.close_unevaluated(s, ptr, base)
        if "$ref" in s:
            ref = s.pop("$ref")
            rest = {k: v for k, v in s.items() if k in _KNOWN or k in _INTERNAL} if self.draft > 7 else {}
            if not rest:
                return self.ref_symbol(ref, base, ptr)
            node, _nbase, key = self.resolve(ref, base, ptr)
            if key is None:
                return self._gen(rest, ptr, base)
            s = {"allOf": [rest, node]}  # $ref with sibling assertions: intersect (own keys first)
        s = self.lower_unevaluated(s)
        s = self.lower_dynamic_refs(s, ptr)
        if "allOf" in s:
            s = self.merge_allof(s, ptr, base)
            if s is False:
                return None
            if s is True:
                return self.any_value()
        for k in ("anyOf", "oneOf"):
            if k in s:
                return self.alternatives(s, k, ptr, base)
        if "not" in s:
            s = self.apply_not(s, ptr, base)
            if s is None:
                return None
            if "anyOf" in s:  # not(required: [a, b]) = a absent or b absent
                return self.alternatives(s, "anyOf", ptr, base)
        if "if" in s:
            branch = self.apply_if(s, ptr, base)
            if branch == "anyOf":
                return self.alternatives(s, "anyOf", ptr, base, exclusive=True)
            if branch is not None:
                merged = self.merge_allof({"allOf": [s, branch]}, ptr, base)
                return None if merged is False else self._gen(merged, ptr, base)
        return self.typed(self.drop_unenforced(s, ptr), ptr, base)

    def lower_dynamic_refs(self, s: dict, ptr: str) -> dict:
        """``$recursiveRef: "#"`` is a ``$ref`` to the root (no ``$recursiveAnchor`` chains
        across documents here); any other dynamic reference is refused."""
        for k in ("$dynamicRef", "$recursiveRef"):
            if k in s:
                ref = s.pop(k)
                if k == "$recursiveRef" and ref == "#":
                    s["allOf"] = list(s.get("allOf", [])) + [{"$ref": "#"}]
                else:
                    self.unsupported(k, ptr)
        return s

    def drop_unenforced(self, s: dict, ptr: str) -> dict:
        """Remove the keywords `typed` does not compile: trivial ones silently, the others
        through `unsupported` (strict: refused)."""
        s.pop("then", None)
        s.pop("else", None)
        for k in ("unevaluatedProperties", "unevaluatedItems", "extends", "disallow"):
            if k in s:
                v = s.pop(k)
                if v not in ({}, True):
                    self.unsupported(k, ptr)
        if self.draft <= 7:  # draft 7 lets validators check content; refuse rather than guess
            for k in ("contentMediaType", "contentEncoding"):
                if k in s and "string" in self.types_of(s, ptr):
                    self.unsupported(k, ptr)
                    s.pop(k)
        return s

    # -- types -----------------------------------------------------------------------------------------
    def types_of(self, s, ptr) -> list[str]:
        t = s.get("type")
        if t is None:
            return ["null", "boolean", "object", "array", "number", "string"]
        ts = [t] if isinstance(t, str) else t
        if not isinstance(ts, list):
            raise self.invalid("type must be a string or an array of strings", ptr)
        out = []
        for x in ts:
            if isinstance(x, dict) and self.draft <= 3:
                self.unsupported("type", ptr, "draft-3 schema in type")
                continue
            if x == "any":
                return ["null", "boolean", "object", "array", "number", "string"]
            if x not in _TYPES:
                raise self.invalid(f"unknown type {x!r}", ptr, "type")
            out.append(x)
        if "number" in out and "integer" in out:
            out.remove("integer")
        return out

    def typed(self, s: dict, ptr: str, base: str) -> str | None:
        types = self.types_of(s, ptr)
        extra_enum = s.pop("_extra_enum", None)
        if "const" in s or "enum" in s or extra_enum is not None:
            vals = []
            if "enum" in s:
                if not isinstance(s["enum"], list):
                    raise self.invalid("enum must be an array", ptr)
                vals = list(s["enum"])
            if "const" in s:
                c = s["const"]
                vals = [c] if "enum" not in s else [v for v in vals if _json_eq(v, c)]
            if extra_enum is not None:
                vals = extra_enum if ("enum" not in s and "const" not in s) else \
                    [v for v in vals if any(_json_eq(v, e) for e in extra_enum)]
            if "_not_strings" in s:  # `apply_not` of string values
                vals = [v for v in vals if not (isinstance(v, str) and v in s["_not_strings"])]
            return self.enum(vals, s, types, ptr, base)
        syms = []
        for t in types:
            if t == "null":
                syms.append(self.lit("null"))
            elif t == "boolean":
                syms.append(self.rx("true|false"))
            elif t in ("integer", "number"):
                syms.append(self.number(s, t, ptr))
            elif t == "string":
                syms.append(self.string(s, ptr))
            elif t == "array":
                syms.append(self.array(s, ptr, base))
            elif t == "object":
                syms.append(self.obj_dependent(s, ptr, base))
        return self.alt(syms, "type")


def compile_schema(schema, *, whitespace: str = "", strict: bool = True, any_order: bool = False,
                   max_depth: int = 128) -> CFG:
    """Compile a JSON Schema (dict or bool) into the grammar IR. ``whitespace`` is a bounded regex
    (over JSON text) allowed around punctuation; "" means compact output. ``max_depth`` bounds the
    nesting of subschemas (`SchemaLimitExceeded` beyond it); the schema document itself may nest
    JSON containers at most 500 deep. Every error is a `ConstraintError` with ``keyword`` and
    ``pointer``."""
    if not isinstance(schema, (dict, bool)):
        raise InvalidSchema(f"a JSON Schema must be an object or a boolean, not {type(schema).__name__}")
    check_json(schema)
    c = _Compiler(schema, SchemaOptions(whitespace, strict, any_order, max_depth))
    try:
        return c.compile()
    except RecursionError:  # deep Python recursion below max_depth (a very deep $ref chain)
        raise SchemaLimitExceeded("schema_depth", max_depth, "Python recursion limit reached "
                                  "while compiling nested subschemas") from None
