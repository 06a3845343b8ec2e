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

import functools
import itertools
import json
import math
import re
import warnings
from decimal import Decimal
from fractions import Fraction
from urllib.parse import unquote, urljoin, urldefrag

from ..errors import InvalidSyntax, LimitExceeded, UnsupportedFeature
from ..grammar.ir import CFG, Rule, Terminal
from ..regex import charset as cs
from ..regex import parser as rxp
from ..regex.automata import build_dfa, same_language
from .formats import format_pattern

__all__ = ["compile_schema", "SchemaOptions", "WHITESPACE_PRETTY"]

# JSON whitespace presets. Both are bounded: a model cannot emit runaway newlines.
WHITESPACE_PRETTY = r"(?:\n[ \t]{0,40}|[ ]?)"

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
_HEX4_NOSUR = r"(?:[0-9a-cA-Ce-fE-F][0-9a-fA-F]{3}|[dD][0-7][0-9a-fA-F]{2})"
_UNIT = r'(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u' + _HEX4_NOSUR + r"))"
_STRING = f'"{_UNIT}*"'
_NUMBER = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
_INTEGER = r"-?(?:0|[1-9][0-9]*)"


class SchemaOptions:
    __slots__ = ("ws", "strict", "any_order", "draft")

    def __init__(self, ws: str = "", strict: bool = True, any_order: bool = False):
        self.ws = ws
        self.strict = strict
        self.any_order = any_order
        self.draft = 2020


def _ptr_join(ptr: str, *parts) -> str:
    for p in parts:
        ptr += "/" + str(p).replace("~", "~0").replace("/", "~1")
    return ptr


# ------------------------------------------------------------------ regex tree → JSON-text regex
_CTRL_SHORT = {8: "b", 9: "t", 10: "n", 12: "f", 13: "r"}


def _class(ranges) -> str:
    """A regex for one code point of the (non-empty) set: a bare ASCII letter or digit, or the
    shorter of the class and its negation (within `cs.ALL`, so surrogates stay excluded)."""
    def esc(c):
        if c < 0x80 and chr(c).isalnum():
            return chr(c)
        return f"\\U{c:08x}" if c > 0xFFFF else f"\\u{c:04x}"

    def body(rs):
        return "".join(esc(lo) if lo == hi else f"{esc(lo)}-{esc(hi)}" for lo, hi in rs)
    if len(ranges) == 1 and ranges[0][0] == ranges[0][1]:
        return esc(ranges[0][0])
    neg = cs.negate(ranges)
    if neg and len(neg) < len(ranges):
        return "[^" + body(neg) + "\\ud800-\\udfff]"
    return "[" + body(ranges) + "]"


_SPECIAL = cs.normalize([(0, 0x1F), (0x22, 0x22), (0x5C, 0x5C)])  # written only as escapes
_PLAIN = cs.intersect(cs.ALL, cs.negate(_SPECIAL))
_CONTROLS = ((0, 0x1F),)
_CONTROLS_JSON = r"\\[bfnrt]|\\u00[01][0-9a-fA-F]"  # every control character, every form


@functools.lru_cache(maxsize=4096)
def _chars_json(s) -> str | None:
    """A regex over JSON text for one code point of the set ``s`` (canonical escapes plus the
    ``\\u00XX`` forms of control characters). Cached: the same sets recur across a schema."""
    plain = cs.intersect(s, _PLAIN)
    alts = []
    if plain:
        alts.append(_class(plain))
    sp = cs.intersect(s, _SPECIAL)
    if cs.intersect(sp, _CONTROLS) == _CONTROLS:  # all of them: one compact alternative
        alts.append(_CONTROLS_JSON)
        sp = cs.intersect(sp, cs.negate(_CONTROLS))
    for lo, hi in sp:
        for c in range(lo, hi + 1):
            if c == 0x22:
                alts.append(r'\\"')
            elif c == 0x5C:
                alts.append(r"\\\\")
            else:
                hx = f"{c:04x}"
                u = r"\\u00" + hx[2] + (f"[{hx[3]}{hx[3].upper()}]" if hx[3].isalpha() else hx[3])
                alts.append((r"\\" + _CTRL_SHORT[c] + "|" + u) if c in _CTRL_SHORT else u)
    if not alts:
        return None
    return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"


def _tree_json(node) -> str | None:
    """Serialise a `constrain.regex.parser` tree over code points as a regex over JSON text."""
    if isinstance(node, rxp.Chars):
        return _chars_json(node.set)
    if isinstance(node, rxp.Concat):
        out = []
        for p in node.parts:
            s = _tree_json(p)
            if s is None:
                return None
            out.append(s)
        return "".join(f"(?:{s})" if s else "" for s in out)
    if isinstance(node, rxp.Alt):
        opts = [s for s in (_tree_json(o) for o in node.options) if s is not None]
        if not opts:
            return None
        return "(?:" + "|".join(opts) + ")"
    if isinstance(node, rxp.Repeat):
        s = _tree_json(node.node)
        if s is None:
            return "" if node.min == 0 else None
        hi = "" if node.max is None else str(node.max)
        if node.min == 0 and node.max is None:
            return f"(?:{s})*"
        return f"(?:{s}){{{node.min},{hi}}}"
    raise TypeError(node)  # pragma: no cover


def _tree_len(node) -> tuple[int, float]:
    """(min, max) length in code points of the tree's language (max may be inf)."""
    if isinstance(node, rxp.Chars):
        return (1, 1)
    if isinstance(node, rxp.Concat):
        lo, hi = 0, 0
        for p in node.parts:
            a, b = _tree_len(p)
            lo, hi = lo + a, hi + b
        return lo, hi
    if isinstance(node, rxp.Alt):
        if not node.options:
            return (0, 0)
        ls = [_tree_len(o) for o in node.options]
        return min(a for a, _ in ls), max(b for _, b in ls)
    a, b = _tree_len(node.node)
    return a * node.min, (math.inf if node.max is None and b > 0 else b * (node.max or 0))


def _flat_parts(node) -> tuple:
    """The parts of nested `Concat`s, flattened (a non-Concat is its own single part)."""
    if isinstance(node, rxp.Concat):
        return tuple(q for p in node.parts for q in _flat_parts(p))
    return (node,)


def _clip_len(tree, mn: int, mx: int | None):
    """The strings of ``tree`` whose length (code points) lies in [mn, mx], exactly, when every
    top-level branch varies in length in at most one place, a repetition of a fixed-length part
    (``^[a-z0-9-]+$``, ``^v[0-9]{1,3}$``): that repetition's count range is narrowed. None when
    some branch has more than one variable part."""
    branches = tree.options if isinstance(tree, rxp.Alt) else (tree,)
    out = []
    for b in branches:
        parts = _flat_parts(b)
        lens = [_tree_len(p) for p in parts]
        var = [i for i, (lo, hi) in enumerate(lens) if lo != hi]
        fixed = sum(lo for lo, hi in lens if lo == hi)
        if not var:
            if mn <= fixed and (mx is None or fixed <= mx):
                out.append(b)
            continue
        i = var[0]
        rep = parts[i]
        if len(var) > 1 or not isinstance(rep, rxp.Repeat):
            return None
        k, k_hi = _tree_len(rep.node)
        if k != k_hi or k == 0:
            return None
        lo = max(rep.min, -(-(mn - fixed) // k))
        hi = rep.max if mx is None else (mx - fixed) // k if rep.max is None else min(rep.max, (mx - fixed) // k)
        if max(lo, hi or 0) > _REGEX_STRING_MAX:
            return None  # counted repetitions this long are refused rather than expanded
        if hi is None or lo <= hi:
            out.append(rxp.Concat(parts[:i] + (rxp.Repeat(rep.node, lo, hi),) + parts[i + 1:]))
    return out[0] if len(out) == 1 else rxp.Alt(tuple(out))


_ANY_TREE = rxp.Repeat(rxp.Chars(cs.ALL), 0, None)
_ANY_DFA = build_dfa(_ANY_TREE)


# ------------------------------------------------------------------ number ranges as digit regexes
def _same_len(a: str, b: str) -> str:
    n = len(a)
    if a == b:
        return a
    if a == "0" * n and b == "9" * n:
        return f"[0-9]{{{n}}}" if n > 1 else "[0-9]"
    if n == 1:
        return f"[{a}-{b}]"
    if a[0] == b[0]:
        return a[0] + "(?:" + _same_len(a[1:], b[1:]) + ")"
    parts = [a[0] + "(?:" + _same_len(a[1:], "9" * (n - 1)) + ")"]
    if int(b[0]) - int(a[0]) > 1:
        parts.append(f"[{int(a[0]) + 1}-{int(b[0]) - 1}][0-9]{{{n - 1}}}")
    parts.append(b[0] + "(?:" + _same_len("0" * (n - 1), b[1:]) + ")")
    return "(?:" + "|".join(parts) + ")"


def _nat_range(lo: int, hi: int | None) -> str | None:
    """Decimal strings (no leading zeros) of the integers in [lo, hi] (hi None = unbounded)."""
    if hi is not None and hi < lo:
        return None
    parts = []
    L = len(str(lo))
    Lmax = len(str(hi)) if hi is not None else L
    for n in range(L, Lmax + 1):
        a = max(lo, 0 if n == 1 else 10 ** (n - 1))
        b = 10 ** n - 1 if hi is None else min(hi, 10 ** n - 1)
        if a <= b:
            parts.append(_same_len(str(a), str(b)))
    if hi is None:
        parts.append(f"[1-9][0-9]{{{L},}}")
    return "(?:" + "|".join(parts) + ")" if parts else None


def _int_range(lo: int | None, hi: int | None) -> str | None:
    alts = []
    if hi is None or hi >= 0:
        p = _nat_range(max(lo, 0) if lo is not None else 0, hi)
        if p:
            alts.append(p)
    if lo is None or lo < 0:  # negatives: -y with y in [max(1, -hi), -lo]
        ylo = 1 if hi is None or hi >= 0 else -hi
        yhi = None if lo is None else -lo
        p = _nat_range(max(ylo, 1), yhi)
        if p:
            alts.append("-" + p)
    return "(?:" + "|".join(alts) + ")" if alts else None


class _Frac:
    """Fraction digit strings ``f`` with bounds on the value ``0.f`` (digit-by-digit automaton)."""

    FREE, POS = "FREE", "POS"  # lower states: any; must be > 0
    ZERO = "ZERO"              # upper state: must be all zeros

    def __init__(self):
        self.memo = {}

    def norm_lo(self, digits, incl):
        if digits is None:
            return self.FREE
        d = digits.rstrip("0")
        if not d:
            return self.FREE if incl else self.POS
        return (d, incl)

    def norm_hi(self, digits, incl):
        if digits is None:
            return self.FREE
        d = digits.rstrip("0")
        if not d:
            return self.ZERO if incl else None
        return (d, incl)

    def seq(self, lo, hi):
        """(empty_ok, regex of the non-empty digit strings or None)."""
        key = (lo, hi)
        if key in self.memo:
            return self.memo[key]
        if hi is None:
            r = (False, None)
        elif lo == self.FREE and hi == self.FREE:
            r = (True, "[0-9]+")
        elif lo == self.FREE and hi == self.ZERO:
            r = (True, "0+")
        elif lo == self.POS and hi == self.FREE:
            r = (False, "[0-9]*[1-9][0-9]*")
        elif lo == self.POS and hi == self.ZERO:
            r = (False, None)
        else:
            empty_ok = (lo == self.FREE) and (hi in (self.FREE, self.ZERO) or isinstance(hi, tuple))
            groups: dict = {}
            for d in "0123456789":
                nl = self._step_lo(lo, d)
                nh = self._step_hi(hi, d)
                if nl is False or nh is False or nh is None:
                    continue
                groups.setdefault((nl, nh), []).append(d)
            alts = []
            for (nl, nh), ds in groups.items():
                e, p = self.seq(nl, nh)
                cls = ds[0] if len(ds) == 1 else f"[{''.join(ds)}]"
                if p is None and not e:
                    continue
                tail = "" if p is None else (f"(?:{p})?" if e else f"(?:{p})")
                alts.append(cls + tail)
            r = (empty_ok, ("(?:" + "|".join(alts) + ")") if alts else None)
        self.memo[key] = r
        return r

    def _step_lo(self, lo, d):
        if lo == self.FREE:
            return self.FREE
        if lo == self.POS:
            return self.FREE if d != "0" else self.POS
        digits, incl = lo
        if d > digits[0]:
            return self.FREE
        if d < digits[0]:
            return False
        return self.norm_lo(digits[1:], incl)

    def _step_hi(self, hi, d):
        if hi == self.FREE:
            return self.FREE
        if hi == self.ZERO:
            return self.ZERO if d == "0" else False
        digits, incl = hi
        if d < digits[0]:
            return self.FREE
        if d > digits[0]:
            return False
        return self.norm_hi(digits[1:], incl)


def _split_dec(x: Decimal) -> tuple[int, str]:
    """Non-negative decimal → (integer part, fraction digits)."""
    s = format(x, "f")
    if "." in s:
        i, f = s.split(".")
    else:
        i, f = s, ""
    return int(i), f


def _pos_dec(lo: Decimal | None, lo_incl: bool, hi: Decimal | None, hi_incl: bool) -> str | None:
    """JSON numbers without exponent, non-negative, without sign, in the range (lo ≥ 0)."""
    fr = _Frac()
    lo = lo if lo is not None else Decimal(0)
    if lo < 0:
        lo, lo_incl = Decimal(0), True
    if hi is not None and (hi < lo or (hi == lo and not (lo_incl and hi_incl))):
        return None
    il, fl = _split_dec(lo)
    alts = []

    def emit(int_pat, flo, fhi):
        e, p = fr.seq(flo, fhi)
        if p is None and not e:
            return
        frac = "" if p is None else (f"(?:\\.{p})?" if e else f"\\.{p}")
        alts.append(f"(?:{int_pat}){frac}")

    if hi is None:
        emit(str(il), fr.norm_lo(fl, lo_incl), fr.FREE)
        p = _nat_range(il + 1, None)
        if p:
            emit(p, fr.FREE, fr.FREE)
    else:
        ih, fh = _split_dec(hi)
        if il == ih:
            emit(str(il), fr.norm_lo(fl, lo_incl), fr.norm_hi(fh, hi_incl))
        else:
            emit(str(il), fr.norm_lo(fl, lo_incl), fr.FREE)
            if ih - il > 1:
                emit(_nat_range(il + 1, ih - 1), fr.FREE, fr.FREE)
            emit(str(ih), fr.FREE, fr.norm_hi(fh, hi_incl))
    return "(?:" + "|".join(alts) + ")" if alts else None


def _dec_range(lo, lo_incl, hi, hi_incl) -> str | None:
    """JSON numbers (no exponent) in the range; bounds are Decimal or None."""
    alts = []
    if hi is None or hi > 0 or (hi == 0 and hi_incl):
        p = _pos_dec(lo if lo is not None and lo > 0 else Decimal(0),
                     lo_incl if lo is not None and lo > 0 else (lo is None or lo < 0 or lo_incl),
                     hi, hi_incl)
        if p:
            alts.append(p)
    if lo is None or lo < 0:  # -y, y in (max(0, -hi), -lo]
        if hi is not None and hi < 0:
            ylo, ylo_incl = -hi, hi_incl
        else:
            ylo, ylo_incl = Decimal(0), False
        yhi = None if lo is None else -lo
        p = _pos_dec(ylo, ylo_incl, yhi, lo_incl)
        if p:
            alts.append("-" + p)
    return "(?:" + "|".join(alts) + ")" if alts else None


# ------------------------------------------------------------------ the compiler
class _Compiler:
    def __init__(self, root, opts: SchemaOptions):
        self.root = root
        self.o = opts
        self.rules: list[Rule] = []
        self.terms: dict[str, str] = {}  # pattern -> name
        self.term_objs: dict[str, Terminal] = {}
        self.n = 0
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

    # -- drafts, ids -------------------------------------------------------------------------
    @staticmethod
    def _detect_draft(root) -> int:
        s = root.get("$schema", "") if isinstance(root, dict) else ""
        if not isinstance(s, str):
            return 2020
        for tag, d in (("draft-03", 3), ("draft-04", 4), ("draft-06", 6), ("draft-07", 7),
                       ("2019-09", 2019), ("2020-12", 2020)):
            if tag in s:
                return d
        return 2020

    def _index(self, node, base, ptr=""):
        if isinstance(node, dict):
            nid = node.get("$id") if "$id" in node else (node.get("id") if self.draft <= 4 else None)
            if isinstance(nid, str):
                if nid.startswith("#") and self.draft <= 7:
                    self.anchors[urljoin(base, nid)] = node
                else:
                    base = urldefrag(urljoin(base, nid))[0]
                    self.ids.setdefault(base, node)
            anc = node.get("$anchor")
            if isinstance(anc, str):
                self.anchors[base + "#" + anc] = node
            danc = node.get("$dynamicAnchor")
            if isinstance(danc, str):
                self.anchors.setdefault(base + "#" + danc, node)
            self._bases = getattr(self, "_bases", {})
            self._bases[id(node)] = base
            for k, v in node.items():
                if k in ("properties", "patternProperties", "$defs", "definitions",
                         "dependentSchemas", "dependencies") and isinstance(v, dict):
                    for kk, vv in v.items():
                        self._index(vv, base, _ptr_join(ptr, k, kk))
                elif k in _SUBSCHEMA and isinstance(v, dict):
                    self._index(v, base, _ptr_join(ptr, k))
                elif k in _SUBSCHEMA and isinstance(v, list):
                    for i, vv in enumerate(v):
                        self._index(vv, base, _ptr_join(ptr, k, i))

    def base_of(self, node, default):
        return getattr(self, "_bases", {}).get(id(node), default)

    # -- errors --------------------------------------------------------------------------------
    def unsupported(self, keyword: str, ptr: str, detail: str = "") -> None:
        """Strict: raise; lenient: warn (the keyword is then ignored by the caller)."""
        where = ptr or "/"
        if self.o.strict:
            e = UnsupportedFeature(keyword, detail=f"at {where}" + (f": {detail}" if detail else ""))
            e.keyword, e.pointer = keyword, where
            raise e
        warnings.warn(f"JSON Schema keyword {keyword!r} at {where} is not enforced"
                      + (f" ({detail})" if detail else ""), UserWarning, stacklevel=4)

    def invalid(self, msg: str, ptr: str):
        e = InvalidSyntax(f"invalid JSON Schema at {ptr or '/'}: {msg}")
        e.pointer = ptr or "/"
        return e

    # -- IR building -----------------------------------------------------------------------------
    def rx(self, pattern: str) -> str:
        name = self.terms.get(pattern)
        if name is None:
            name = f"T{len(self.terms)}"
            self.terms[pattern] = name
            self.term_objs[name] = Terminal(name, pattern)
        return name

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
            S = self.rx(_STRING)
            members = self.nt("members")
            elems = self.nt("elems")
            self.rule(V, S)
            self.rule(V, self.rx(_NUMBER))
            for w in ("true", "false", "null"):
                self.rule(V, self.lit(w))
            kv = self.nt("kv")
            self.rule(kv, self.rx(_STRING + self.colon), V)
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
            raise InvalidSyntax("the JSON Schema accepts no value (it is unsatisfiable)")
        S = "start"
        self.rule(S, start)
        # drop rules that use a nonterminal with no productions (dead states of counting rules,
        # unsatisfiable $ref targets): they derive nothing
        rules = self.rules
        while True:
            defined = {r.lhs for r in rules}
            kept = [r for r in rules if all(x in defined or x in self.term_objs for x in r.rhs)]
            if len(kept) == len(rules):
                break
            rules = kept
        if S not in {r.lhs for r in rules}:
            raise InvalidSyntax("the JSON Schema accepts no value (it is unsatisfiable)")
        used = {x for r in rules for x in r.rhs}
        terms = {t.name: t for t in self.term_objs.values() if t.name in used}
        return CFG(S, tuple(rules), terms)

    # -- $ref ------------------------------------------------------------------------------------
    def resolve(self, ref: str, base: str, ptr: str):
        """(target schema, its base uri, canonical key) for a $ref."""
        if not isinstance(ref, str):
            raise self.invalid("$ref must be a string", ptr)
        absu = urljoin(base, ref)
        doc_uri, frag = urldefrag(absu)
        if doc_uri not in self.ids and not (doc_uri == self.root_base):
            self.unsupported("$ref", ptr, f"remote or unknown reference {ref!r}")
            return True, base, None
        doc = self.ids.get(doc_uri, self.root)
        if frag and not frag.startswith("/"):
            node = self.anchors.get(doc_uri + "#" + frag)
            if node is None:
                raise self.invalid(f"unknown anchor in $ref {ref!r}", ptr)
            return node, self.base_of(node, doc_uri), absu
        node = doc
        for part in (frag.split("/")[1:] if frag else []):
            part = unquote(part).replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise self.invalid(f"$ref {ref!r} does not resolve", ptr)
        return node, self.base_of(node, doc_uri), doc_uri + "#" + frag

    def ref_symbol(self, ref, base, ptr) -> str | None:
        node, nbase, key = self.resolve(ref, base, ptr)
        if key is None:
            return self.gen(True, ptr, base)
        if key in self.memo:
            return self.memo[key]
        A = self.nt("ref")
        self.memo[key] = A
        body = self.gen(node, "#" + key.split("#", 1)[1] if "#" in key else ptr, nbase)
        if body is None:
            self.memo[key] = None  # unsatisfiable target; earlier uses keep a rule-less symbol
            return None
        self.rule(A, body)
        return A

    # -- schema → symbol --------------------------------------------------------------------------
    def gen(self, schema, ptr: str, base: str) -> str | None:
        if schema is True or schema == {}:
            return self.any_value()
        if schema is False:
            return None
        if not isinstance(schema, dict):
            raise self.invalid(f"a schema must be an object or a boolean, not {type(schema).__name__}", ptr)
        self.depth += 1
        if self.depth > 200:
            raise LimitExceeded("schema_depth", 200, f"nesting (or non-recursive $ref expansion) at {ptr}")
        try:
            return self._gen(schema, ptr, self.base_of(schema, base))
        finally:
            self.depth -= 1

    def _gen(self, s: dict, ptr: str, base: str) -> str | None:
        s = dict(s)
        # draft 3 / 4 compatibility
        if self.draft <= 3 and s.get("required") is True:
            s.pop("required")
        if "$ref" in s:
            ref = s.pop("$ref")
            if self.draft <= 7:
                rest = {}
            else:
                rest = {k: v for k, v in s.items() if k in _KNOWN}
            if not rest:
                return self.ref_symbol(ref, base, ptr)
            node, nbase, key = self.resolve(ref, base, ptr)
            if key is None:
                return self._gen(rest, ptr, base)
            # $ref with sibling assertions: intersect (inline the target)
            s = {"allOf": [node, rest]}
            base = base
        # unevaluated*: without applicators they are additionalProperties / items
        applicators = ("allOf", "anyOf", "oneOf", "if", "dependentSchemas", "$dynamicRef",
                       "$recursiveRef", "dependencies")
        if "unevaluatedProperties" in s and not any(k in s for k in applicators):
            u = s.pop("unevaluatedProperties")
            if "additionalProperties" not in s:
                s["additionalProperties"] = u
        if "unevaluatedItems" in s and not any(k in s for k in applicators) \
                and not isinstance(s.get("items"), list):
            u = s.pop("unevaluatedItems")
            if "items" not in s:
                s["items"] = u
        for k in ("$dynamicRef", "$recursiveRef"):
            if k in s:
                ref = s.pop(k)
                if k == "$recursiveRef" and ref == "#":
                    s.setdefault("allOf", [])
                    s["allOf"] = list(s["allOf"]) + [{"$ref": "#"}]
                else:
                    self.unsupported(k, ptr)
        if "allOf" in s:
            s = self.merge_allof(s, ptr, base)
            if s is False:
                return None
            if s is True:
                return self.any_value()
        # combinators
        for k in ("anyOf", "oneOf"):
            if k in s:
                branches = s.pop(k)
                if not isinstance(branches, list) or not branches:
                    raise self.invalid(f"{k} must be a non-empty array", ptr)
                rest = {kk: v for kk, v in s.items() if kk in _KNOWN}
                if k == "oneOf" and len(branches) > 1:
                    exact = self.oneof_required(branches, base, ptr)
                    if exact is not None:
                        if not exact:
                            return None
                        branches = exact
                    elif not self.disjoint(branches, base, ptr):
                        self.unsupported("oneOf", ptr, "branches are not provably disjoint "
                                         "(use anyOf, or strict=False to treat oneOf as anyOf)")
                syms = []
                for i, b in enumerate(branches):
                    bp = _ptr_join(ptr, k, i)
                    if rest:
                        if "anyOf" in rest or "oneOf" in rest:
                            merged = self.merge_allof({"allOf": [rest, b]}, bp, base)
                        else:
                            merged = self.merge_allof({"allOf": [rest, b]}, bp, base)
                        syms.append(self.gen(merged, bp, base) if merged is not False else None)
                    else:
                        syms.append(self.gen(b, bp, base))
                return self.alt(syms, "any")
        if "not" in s:
            s = self.apply_not(s, ptr, base)
            if s is None:
                return None
        if "if" in s:
            cond, then, els = s.pop("if"), s.pop("then", True), s.pop("else", True)
            branch = then if (cond is True or cond == {}) else (els if cond is False else None)
            if branch is None:
                self.unsupported("if", ptr, "if/then/else with a non-trivial 'if'")
            elif branch is not True and branch != {}:
                s = self.merge_allof({"allOf": [s, branch]}, ptr, base)
                if s is False:
                    return None
                return self._gen(s, ptr, base)
        s.pop("then", None)
        s.pop("else", None)
        for k in ("dependentSchemas", "dependencies", "unevaluatedProperties", "unevaluatedItems",
                  "extends", "disallow"):
            if k in s:
                v = s.pop(k)
                if v in ({}, True) or (k == "dependentSchemas" and all(x in ({}, True) for x in v.values())
                                       if isinstance(v, dict) else False):
                    continue
                self.unsupported(k, ptr)
        if self.draft <= 7:  # draft 7 lets validators check content; refuse rather than guess
            for k in ("contentMediaType", "contentEncoding"):
                if k in s and "string" in self.types_of(s, ptr):
                    self.unsupported(k, ptr)
                    s.pop(k)
        if "dependentRequired" in s:
            dr = s.pop("dependentRequired")
            if isinstance(dr, dict) and any(v for v in dr.values()):
                self.unsupported("dependentRequired", ptr)
        return self.typed(s, ptr, base)

    # -- not ----------------------------------------------------------------------------------------
    def apply_not(self, s, ptr, base):
        n = s.pop("not")
        if n is False or (isinstance(n, dict) and not any(k in _KNOWN for k in n)
                          and n is not True and n != {} and False):
            return s
        if n is True or n == {}:
            return None
        if isinstance(n, dict):
            keys = {k for k in n if k in _KNOWN}
            if not keys:  # only annotations / unknown keywords: the empty schema
                return None
            if keys == {"type"}:
                t = n["type"]
                ts = {t} if isinstance(t, str) else set(t)
                allowed = set(self.types_of(s, ptr))
                if "number" in ts:
                    ts |= {"integer"}
                if "integer" in ts and "number" in allowed and "number" not in ts:
                    self.unsupported("not", ptr, "non-integer numbers only")
                    return s
                left = [t for t in allowed if t not in ts]
                if not left:
                    return None
                s["type"] = left
                return s
            if keys <= {"enum", "const"}:
                vals = list(n.get("enum", [])) + ([n["const"]] if "const" in n else [])
                # excluding values is exact for types whose values are all listed; otherwise refuse
                allowed = set(self.types_of(s, ptr))
                rem = []
                for t in allowed:
                    if t == "null" and any(v is None for v in vals):
                        continue
                    if t == "boolean" and any(v is True for v in vals) and any(v is False for v in vals):
                        continue
                    if t == "boolean":
                        keep = [b for b in (True, False) if not any(v is b for v in vals)]
                        if keep and len(keep) < 2:
                            s.setdefault("_extra_enum", []).extend(keep)
                            continue
                    if t in ("null", "boolean") or not any(_json_type(v) in (t,) or
                                                           (t == "number" and _json_type(v) == "integer")
                                                           for v in vals):
                        rem.append(t)
                        continue
                    self.unsupported("not", ptr, f"excluding {t} values")
                    rem.append(t)
                s["type"] = rem
                if not rem and not s.get("_extra_enum"):
                    return None
                return s
            if keys == {"required"} and n["required"]:
                # not required: some of the listed keys absent; exact when one key
                req = n["required"]
                if len(req) == 1:
                    s.setdefault("_forbidden", []).append(req[0])
                    return s
        self.unsupported("not", ptr, "only 'not' of a type, an enum/const over null/boolean, "
                                     "or one required key is compiled")
        return s

    # -- oneOf disjointness ---------------------------------------------------------------------------
    def oneof_required(self, branches, base, ptr) -> list | None:
        """``oneOf`` whose branches only require keys, as exact disjoint object branches: branch
        i holds and every other branch j fails, i.e. some key of ``R_j - R_i`` is absent (one
        branch per choice of the absent keys, at most `_ONEOF_REQUIRED_MAX`). None when the
        branches are not all of that form (or would need too many branches)."""
        reqs = []
        for b in branches:
            b = self.deref(b, base)
            if not isinstance(b, dict) or {k for k in b if k in _KNOWN} != {"required"} \
                    or not isinstance(b["required"], list) \
                    or not all(isinstance(x, str) for x in b["required"]):
                return None
            reqs.append(set(b["required"]))
        out = []
        for i, ri in enumerate(reqs):
            choices = [sorted(rj - ri) for j, rj in enumerate(reqs) if j != i]
            if any(not c for c in choices):
                continue  # another branch holds whenever this one does
            combos = 1
            for c in choices:
                combos *= len(c)
            if len(out) + combos > _ONEOF_REQUIRED_MAX:
                return None
            for absent in itertools.product(*choices):
                out.append({"type": "object", "required": sorted(ri), "_forbidden": sorted(set(absent))})
        return out

    def disjoint(self, branches, base, ptr) -> bool:
        infos = []
        for b in branches:
            b = self.deref(b, base)
            if b is False:
                infos.append(("none",))
                continue
            if not isinstance(b, dict):
                return False
            types = set(self.types_of(b, ptr)) if ("type" in b or "const" in b or "enum" in b) else None
            if types is not None and "number" in types:
                types.add("integer")
            vals = None
            if "const" in b:
                vals = [b["const"]]
            elif "enum" in b:
                vals = list(b["enum"])
            props = b.get("properties", {}) if isinstance(b.get("properties"), dict) else {}
            req = set(b.get("required", [])) if isinstance(b.get("required"), list) else set()
            discr = {}
            for k, v in props.items():
                v = self.deref(v, base)
                if isinstance(v, dict) and ("const" in v or "enum" in v) and k in req:
                    discr[k] = [v["const"]] if "const" in v else list(v["enum"])
            closed = b.get("additionalProperties") is False and not b.get("patternProperties")
            infos.append((types, vals, discr, req, set(props), closed))
        for i in range(len(infos)):
            for j in range(i + 1, len(infos)):
                a, c = infos[i], infos[j]
                if a[0] == "none" or c[0] == "none":
                    continue
                if not self._disjoint2(a, c):
                    return False
        return True

    @staticmethod
    def _disjoint2(a, b) -> bool:
        ta, va, da, ra, pa, ca = a
        tb, vb, db, rb, pb, cb = b
        if ta is not None and tb is not None and not (ta & tb):
            return True
        if va is not None and vb is not None and not any(_json_eq(x, y) for x in va for y in vb):
            return True
        if va is not None and tb is not None and not any(_json_type(x) in tb for x in va):
            return True
        if vb is not None and ta is not None and not any(_json_type(x) in ta for x in vb):
            return True
        objs_only = (ta is not None and ta <= {"object"}) or (tb is not None and tb <= {"object"})
        if objs_only:
            for k in set(da) & set(db):
                if not any(_json_eq(x, y) for x in da[k] for y in db[k]):
                    return True
            if ca and (rb - pa):
                return True
            if cb and (ra - pb):
                return True
        return False

    def deref(self, b, base, depth=0):
        while isinstance(b, dict) and "$ref" in b and depth < 50:
            rest = {k: v for k, v in b.items() if k in _KNOWN and k != "$ref"}
            node, nbase, key = self.resolve(b["$ref"], base, "")
            if key is None or rest:
                return b
            b, base, depth = node, nbase, depth + 1
        return b

    # -- allOf merge ---------------------------------------------------------------------------------
    def merge_allof(self, s, ptr, base):
        parts = s.pop("allOf")
        if not isinstance(parts, list):
            raise self.invalid("allOf must be an array", ptr)
        out = dict(s)
        for i, p in enumerate(parts):
            p = self.deref_full(p, base, _ptr_join(ptr, "allOf", i))
            if isinstance(p, dict) and ("unevaluatedProperties" in p or "unevaluatedItems" in p):
                self.unsupported("unevaluatedProperties" if "unevaluatedProperties" in p
                                 else "unevaluatedItems", _ptr_join(ptr, "allOf", i), "inside allOf")
                p = {k: v for k, v in p.items() if k not in ("unevaluatedProperties", "unevaluatedItems")}
            if p is False:
                return False
            if p is True:
                continue
            out = self.merge2(out, p, _ptr_join(ptr, "allOf", i), base)
            if out is False:
                return False
        return out

    def deref_full(self, p, base, ptr, depth=0):
        """Inline $ref / nested allOf of a schema for merging."""
        if depth > 30:
            self.unsupported("allOf", ptr, "recursive $ref inside allOf")
            return True
        if isinstance(p, dict) and "$ref" in p:
            node, nbase, key = self.resolve(p["$ref"], base, ptr)
            rest = {k: v for k, v in p.items() if k != "$ref"} if self.draft > 7 else {}
            if key is None:
                node = True
            node = self.deref_full(node, nbase, ptr, depth + 1)
            if node is False:
                return False
            if node is True:
                node = {}
            merged = self.merge2(dict(node), rest, ptr, base) if rest else dict(node)
            return merged
        if isinstance(p, dict) and "allOf" in p:
            q = dict(p)
            r = self.merge_allof(q, ptr, base)
            return r
        if p == {}:
            return True
        return p

    def merge2(self, a: dict, b: dict, ptr: str, base: str):
        if not isinstance(b, dict):
            raise self.invalid("allOf members must be schemas", ptr)
        arr_keys = ("items", "prefixItems", "additionalItems")
        if any(k in a for k in arr_keys) and any(k in b for k in arr_keys):
            pa, ra = _norm_items(a)
            pb, rb = _norm_items(b)
            n = max(len(pa), len(pb))
            pre = [{"allOf": [pa[i] if i < len(pa) else ra, pb[i] if i < len(pb) else rb]} for i in range(n)]
            a = {k: v for k, v in a.items() if k not in arr_keys}
            b = {k: v for k, v in b.items() if k not in arr_keys}
            a["prefixItems"] = pre
            if not (ra is True and rb is True):
                a["items"] = {"allOf": [ra, rb]}
        a, b = self.close_objects(a, b, ptr), self.close_objects(b, a, ptr)
        out = dict(a)
        for k, v in b.items():
            if k not in out:
                out[k] = v
                continue
            u = out[k]
            if k in _META and k not in ("$defs", "definitions"):
                continue
            if _json_eq(u, v):
                continue
            if k == "type":
                ua = {u} if isinstance(u, str) else set(u)
                va = {v} if isinstance(v, str) else set(v)
                r = set()
                for t in ua:
                    for w in va:
                        if t == w:
                            r.add(t)
                        elif {t, w} == {"number", "integer"}:
                            r.add("integer")
                out[k] = sorted(r)
                if not r:
                    return False
            elif k == "required":
                out[k] = list(dict.fromkeys(list(u) + list(v)))
            elif k in ("properties", "patternProperties", "$defs", "definitions"):
                m = dict(u)
                for pk, pv in v.items():
                    m[pk] = {"allOf": [m[pk], pv]} if pk in m else pv
                out[k] = m
            elif k in ("minimum", "minLength", "minItems", "minProperties", "minContains"):
                out[k] = max(u, v)
            elif k in ("maximum", "maxLength", "maxItems", "maxProperties", "maxContains"):
                out[k] = min(u, v)
            elif k == "exclusiveMinimum" and not isinstance(u, bool) and not isinstance(v, bool):
                out[k] = max(u, v)
            elif k == "exclusiveMaximum" and not isinstance(u, bool) and not isinstance(v, bool):
                out[k] = min(u, v)
            elif k == "enum":
                out[k] = [x for x in u if any(_json_eq(x, y) for y in v)]
            elif k == "const":
                return False
            elif k in ("additionalProperties", "items", "additionalItems", "propertyNames",
                       "contains", "not") and isinstance(u, (dict, bool)) and isinstance(v, (dict, bool)):
                if k == "not":
                    out[k] = {"anyOf": [u, v]}
                elif k == "additionalProperties" and (set(a.get("properties", {})) != set(b.get("properties", {}))
                                                     or a.get("patternProperties") or b.get("patternProperties")):
                    self.unsupported("allOf", ptr, "merging additionalProperties of objects with different properties")
                elif k == "contains":
                    self.unsupported("allOf", ptr, "two 'contains'")
                else:
                    out[k] = {"allOf": [u, v]}
            elif k == "prefixItems" or (k == "items" and isinstance(u, list) and isinstance(v, list)):
                n = max(len(u), len(v))
                out[k] = [{"allOf": [u[i] if i < len(u) else {}, v[i] if i < len(v) else {}]} for i in range(n)]
            elif k in ("anyOf", "oneOf"):
                # allOf(anyOf A, anyOf B) = anyOf(a ∧ b)
                if len(u) * len(v) > 64:
                    self.unsupported("allOf", ptr, f"two {k} of {len(u)}x{len(v)} branches")
                    continue
                if k == "oneOf" and not (self.disjoint(u, base, ptr) and self.disjoint(v, base, ptr)):
                    self.unsupported("oneOf", ptr, "branches are not provably disjoint")
                out[k] = [{"allOf": [x, y]} for x in u for y in v]
            elif k == "multipleOf":
                fu, fv = Fraction(str(u)), Fraction(str(v))
                if fu.denominator == 1 and fv.denominator == 1:
                    out[k] = math.lcm(int(fu), int(fv))
                else:
                    self.unsupported("allOf", ptr, "two non-integer multipleOf")
            elif k in ("pattern", "format"):
                self.unsupported("allOf", ptr, f"two different '{k}' values cannot be intersected")
            elif k in _KNOWN:
                self.unsupported("allOf", ptr, f"merging '{k}'")
            # unknown keywords: keep the first
        return out

    def close_objects(self, a: dict, b: dict, ptr: str) -> dict:
        """``a`` with the keys that ``b`` declares (``properties``, or ``required`` keys) but ``a``
        does not given ``a``'s ``additionalProperties`` schema explicitly: in ``allOf`` each
        member judges every key by its own ``properties``, so once merged a key declared only in
        ``b`` must still satisfy ``a``'s ``additionalProperties``. A key matching one of ``a``'s
        ``patternProperties`` keeps the pattern's schema (the merged object applies it)."""
        addl = a.get("additionalProperties", True)
        if addl is True or addl == {}:
            return a
        if not isinstance(addl, (dict, bool)):
            raise self.invalid("additionalProperties must be a schema", ptr)
        own = a.get("properties") if isinstance(a.get("properties"), dict) else {}
        pats = a.get("patternProperties") if isinstance(a.get("patternProperties"), dict) else {}
        other = b.get("properties") if isinstance(b.get("properties"), dict) else {}
        req = b.get("required") if isinstance(b.get("required"), list) else []
        new = [k for k in list(other) + [r for r in req if isinstance(r, str)]
               if k not in own and not any(re.search(p, k) for p in pats)]
        if any(p not in pats for p in (b.get("patternProperties") or {})):
            # a key matching only b's pattern must satisfy a's additionalProperties too
            self.unsupported("allOf", ptr, "patternProperties of one member beside "
                             "additionalProperties of another")
        if not new:
            return a
        props = dict(own)
        for k in dict.fromkeys(new):
            props[k] = addl
        return {**a, "properties": props}

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
                raise self.invalid(f"unknown type {x!r}", ptr)
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
                syms.append(self.obj(s, ptr, base))
        return self.alt(syms, "type")

    # -- enum / const -------------------------------------------------------------------------------------
    def enum(self, vals, s, types, ptr, base) -> str | None:
        ok = []
        for v in vals:
            t = _json_type(v)
            if t not in types and not (t == "integer" and "number" in types) \
                    and not (t == "number" and "integer" in types and float(v).is_integer()):
                continue
            r = self.value_ok(v, s, ptr, base)
            if r:
                ok.append(v)
        alts = []
        for v in ok:
            alts.append(self.literal_pattern(v))
        alts = list(dict.fromkeys(alts))
        if not alts:
            return None
        # strings and scalars in one terminal (a trie-shaped regex is cheap); objects/arrays too
        return self.rx("|".join(f"(?:{a})" for a in alts) if len(alts) > 1 else alts[0])

    def literal_pattern(self, v) -> str:
        if isinstance(v, bool) or v is None:
            return json.dumps(v)
        if isinstance(v, (int, float)):
            if isinstance(v, float) and not math.isfinite(v):
                raise self.invalid("non-finite number", "")
            if float(v).is_integer() and abs(v) < 1e300:
                iv = int(v)
                return re.escape(str(iv)) + r"(?:\.0+)?"
            return re.escape(json.dumps(v))
        if isinstance(v, str):
            return self.string_literal(v)
        return re.escape(self.dump(v))

    def string_literal(self, v: str) -> str:
        tree = rxp.Concat(tuple(rxp.Chars(((ord(c), ord(c)),)) for c in v)) if v else rxp.EPSILON
        return '"' + (_tree_json(tree) or "") + '"'

    def dump(self, v) -> str:
        return json.dumps(v, ensure_ascii=False, separators=(",", ":"))

    def value_ok(self, v, s, ptr, base) -> bool:
        """Whether an enum value satisfies the other keywords of its schema."""
        rest = {k: x for k, x in s.items() if k in _KNOWN and k not in ("enum", "const", "type")}
        if not rest:
            return True
        try:
            import jsonschema
        except ImportError:  # pragma: no cover
            self.unsupported("enum", ptr, "enum with sibling keywords needs the jsonschema package")
            return True
        sub = dict(rest)
        if isinstance(self.root, dict):
            for k in ("$defs", "definitions"):
                if k in self.root:
                    sub[k] = self.root[k]
        try:
            cls = jsonschema.validators.validator_for({"$schema": self.root.get("$schema")} if isinstance(self.root, dict) and isinstance(self.root.get("$schema"), str) else {},
                                                      default=jsonschema.Draft202012Validator)
            return cls(sub, format_checker=cls.FORMAT_CHECKER).is_valid(v)
        except Exception:
            self.unsupported("enum", ptr, "cannot check enum values against sibling keywords")
            return True

    # -- numbers --------------------------------------------------------------------------------------
    def number(self, s, t, ptr) -> str | None:
        def num(k):
            v = s.get(k)
            if v is None or isinstance(v, bool):
                return None
            if not isinstance(v, (int, float)):
                raise self.invalid(f"{k} must be a number", ptr)
            return Decimal(str(v)) if isinstance(v, float) else Decimal(v)

        lo, hi = num("minimum"), num("maximum")
        lo_incl = hi_incl = True
        emin, emax = s.get("exclusiveMinimum"), s.get("exclusiveMaximum")
        if isinstance(emin, bool):  # draft 4
            lo_incl = not emin
        elif emin is not None:
            e = num("exclusiveMinimum")
            if lo is None or e >= lo:
                lo, lo_incl = e, False
        if isinstance(emax, bool):
            hi_incl = not emax
        elif emax is not None:
            e = num("exclusiveMaximum")
            if hi is None or e <= hi:
                hi, hi_incl = e, False
        mult = s.get("multipleOf", s.get("divisibleBy"))
        if mult is not None:
            if isinstance(mult, bool) or not isinstance(mult, (int, float)) or mult <= 0:
                raise self.invalid("multipleOf must be a positive number", ptr)
            fm = Fraction(str(mult))
            if fm.denominator == 1 and int(fm) == 1:
                t, mult = "integer", None
            elif fm.denominator == 1:
                t = "integer"
            elif t == "integer" and (1 / fm).denominator == 1:
                mult = None  # every integer is a multiple of 1/k
            elif fm.numerator == 1 and 10 % fm.denominator == 0 or _is_pow10(fm):
                pass
            else:
                self.unsupported("multipleOf", ptr, f"non-integer multipleOf {mult}")
                mult = None
        if t == "integer":
            ilo = None if lo is None else (math.ceil(lo) if lo_incl else math.floor(lo) + 1)
            ihi = None if hi is None else (math.floor(hi) if hi_incl else math.ceil(hi) - 1)
            if ilo is not None and ihi is not None and ilo > ihi:
                return None
            if mult is not None:
                return self.int_multiple(int(Fraction(str(mult))), ilo, ihi, ptr)
            if ilo is None and ihi is None:
                return self.rx(_INTEGER)
            p = _int_range(ilo, ihi)
            return self.rx(p) if p else None
        if mult is not None:
            fm = Fraction(str(mult))
            if _is_pow10(fm):  # at most k fraction digits
                k = len(str(fm.denominator)) - 1
                if lo is not None or hi is not None:
                    self.unsupported("multipleOf", ptr, "decimal multipleOf combined with bounds")
                return self.rx(rf"-?(?:0|[1-9][0-9]*)(?:\.[0-9]{{1,{k}}})?")
            self.unsupported("multipleOf", ptr, f"multipleOf {mult}")
        if lo is None and hi is None:
            return self.rx(_NUMBER)
        if lo is not None and hi is not None and (lo > hi or (lo == hi and not (lo_incl and hi_incl))):
            return None
        p = _dec_range(lo, lo_incl, hi, hi_incl)
        return self.rx(p) if p else None

    def int_multiple(self, m: int, lo, hi, ptr) -> str | None:
        if lo is not None and hi is not None:
            first = -((-lo) // m) * m
            count = (hi - first) // m + 1 if hi >= first else 0
            if count <= 0:
                return None
            if count <= _ENUM_MULTIPLES_MAX:
                vals = [str(first + i * m) for i in range(count)]
                return self.rx("|".join(vals))
        if m > _MOD_MAX:
            self.unsupported("multipleOf", ptr, f"modulus {m} > {_MOD_MAX} with unbounded range")
            return self.rx(_int_range(lo, hi) or _INTEGER)
        # residue automaton over digits as right-linear rules; bounds: sign only
        if (lo is not None and lo > 1) or (hi is not None and hi < -1) or \
                (lo is not None and lo < 0 and hi is not None) or \
                (hi is not None and hi > 0 and hi is not None and lo is None and hi < 10 ** 18 and hi != 0 and False):
            pass
        allow_pos = hi is None or hi > 0
        allow_neg = lo is None or lo < 0
        allow_zero = (lo is None or lo <= 0) and (hi is None or hi >= 0)
        bounded = (lo is not None and lo not in (0, 1) and lo > -1) or (hi is not None and hi not in (0, -1) and hi < 1) \
            or (lo is not None and lo < 0) or (hi is not None and hi > 0)
        if bounded:
            self.unsupported("multipleOf", ptr, "multipleOf with bounds other than a sign, over a large range")
        R = [self.nt("mod") for _ in range(m)]
        for r in range(m):
            groups: dict[int, list[str]] = {}
            for d in range(10):
                groups.setdefault((10 * r + d) % m, []).append(str(d))
            for tgt, ds in groups.items():
                self.rule(R[r], self.rx(f"[{''.join(ds)}]"), R[tgt])
        self.rule(R[0])
        pos = self.nt("pos")
        groups = {}
        for d in range(1, 10):
            groups.setdefault(d % m, []).append(str(d))
        for tgt, ds in groups.items():
            self.rule(pos, self.rx(f"[{''.join(ds)}]"), R[tgt])
        alts = []
        if allow_zero:
            alts.append(self.lit("0"))
        if allow_pos:
            alts.append(pos)
        if allow_neg:
            alts.append(self.seq([self.lit("-"), pos]))
        return self.alt(alts, "int")

    # -- strings ------------------------------------------------------------------------------------------
    def string_tree(self, s, ptr):
        """(tree over code points of the value, or None when only lengths constrain it)."""
        tree = None
        pat = s.get("pattern")
        if pat is not None:
            if not isinstance(pat, str):
                raise self.invalid("pattern must be a string", ptr)
            tree = self.search_tree(pat, ptr)
        fmt = s.get("format")
        fpat = format_pattern(fmt, self.draft) if isinstance(fmt, str) else None
        if fpat is not None:
            ftree = rxp.parse(fpat)
            if tree is not None:
                self.unsupported("format", ptr, f"format {fmt!r} together with a pattern")
            else:
                tree = ftree
        elif fmt is not None and isinstance(fmt, str):
            self.unsupported("format", ptr, f"unknown format {fmt!r}")
        return tree

    def search_tree(self, pat: str, ptr: str):
        """The set of strings in which ``pat`` matches somewhere (``re.search``), as a tree."""
        bad = _NOT_ECMA.search(pat)
        if bad:
            raise self.invalid(f"pattern {pat!r} is not an ECMA-262 regex ({bad.group(0)!r})", ptr)
        pat = _ecma_classes(pat)
        try:
            body = rxp.parse(pat)  # raises UnsupportedFeature for inner anchors and lookaround
        except UnsupportedFeature as e:
            if self.o.strict:
                e2 = UnsupportedFeature("pattern", detail=f"at {ptr or '/'}: {e}")
                e2.keyword, e2.pointer = "pattern", ptr or "/"
                raise e2 from None
            warnings.warn(f"pattern {pat!r} at {ptr or '/'} is not enforced ({e})", UserWarning, stacklevel=4)
            return None
        except InvalidSyntax as e:
            raise self.invalid(f"bad pattern {pat!r}: {e}", ptr) from None
        # anchors: the parser accepts ^ only at the very start and $ only at the very end of
        # each top-level branch; find which branches are anchored from the source.
        branches = _top_branches(pat)
        if branches is None:
            return self._wrap(body, pat.startswith("^") or pat.startswith("\\A"), _ends_anchor(pat))
        alts = []
        for b in branches:
            t = rxp.parse(b)
            alts.append(self._wrap(t, b.startswith("^") or b.startswith("\\A"), _ends_anchor(b)))
        return rxp.Alt(tuple(alts))

    @staticmethod
    def _wrap(t, start_anchored: bool, end_anchored: bool):
        parts = []
        if not start_anchored:
            parts.append(_ANY_TREE)
        parts.append(t)
        if not end_anchored:
            parts.append(_ANY_TREE)
        return rxp.Concat(tuple(parts)) if len(parts) > 1 else t

    def string(self, s, ptr) -> str | None:
        tree = self.string_tree(s, ptr)
        mn = s.get("minLength", 0)
        mx = s.get("maxLength")
        for k, v in (("minLength", mn), ("maxLength", mx)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0
                                  or (isinstance(v, float) and not v.is_integer())):
                raise self.invalid(f"{k} must be a non-negative integer", ptr)
        mn = int(mn)
        mx = None if mx is None else int(mx)
        if mx is not None and mn > mx:
            return None
        if tree is not None:
            if mn or mx is not None:
                tlo, thi = _tree_len(tree)
                if not (tlo >= mn and (mx is None or thi <= mx)):
                    clipped = _clip_len(tree, mn, mx)
                    if clipped is None:
                        self.unsupported("maxLength" if mx is not None else "minLength", ptr,
                                         "length bounds together with a pattern or format whose "
                                         "length varies in more than one place")
                    else:
                        tree = clipped
            body = _tree_json(tree)
            if body is None:
                return None
            return self.rx(f'"{body}"')
        if mx is None:
            if mn == 0:
                return self.rx(_STRING)
            if mn <= _REGEX_STRING_MAX:
                return self.rx(f'"{_UNIT}{{{mn},}}"')
        elif mx <= _REGEX_STRING_MAX:
            return self.rx(f'"{_UNIT}{{{mn},{mx}}}"')
        # long strings: chunked repetition with linear-size rules
        q = self.lit('"')
        return self.seq([q, self.repeat(_UNIT, mn, mx), q], "str")

    def repeat(self, unit: str, lo: int, hi: int | None) -> str:
        """A symbol deriving ``unit{lo,hi}`` with O((lo + hi) / K) rules of K-unit chunk terminals."""
        K = _CHUNK
        full = self.rx(f"{unit}{{{K}}}")
        syms = [full] * (lo // K)
        if lo % K:
            syms.append(self.rx(f"{unit}{{{lo % K}}}"))
        if hi is None:
            star = self.nt("rep")
            self.rule(star)
            self.rule(star, star, self.rx(f"{unit}{{1,{K}}}"))
            syms.append(star)
        else:
            d = hi - lo
            q, r = divmod(d, K)
            G = self.nt("rep")
            if r:
                self.rule(G, self.rx(f"{unit}{{0,{r}}}"))
            else:
                self.rule(G)
            for _ in range(q):
                G2 = self.nt("rep")
                self.rule(G2, self.rx(f"{unit}{{0,{K - 1}}}"))
                self.rule(G2, full, G)
                G = G2
            syms.append(G)
        A = self.nt("rep")
        self.rule(A, *syms)
        return A

    # -- arrays ------------------------------------------------------------------------------------------
    def array(self, s, ptr, base) -> str | None:
        items = s.get("items")
        prefix = s.get("prefixItems")
        if isinstance(items, list):  # draft <= 2019 tuple form
            prefix, rest, rest_ptr = items, s.get("additionalItems", True), _ptr_join(ptr, "additionalItems")
        else:
            rest, rest_ptr = (items if items is not None else True), _ptr_join(ptr, "items")
            if prefix is None:
                prefix = []
        mn = s.get("minItems", 0)
        mx = s.get("maxItems")
        for k, v in (("minItems", mn), ("maxItems", mx)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0):
                raise self.invalid(f"{k} must be a non-negative integer", ptr)
        mn, mx = int(mn), (None if mx is None else int(mx))
        if s.get("uniqueItems") is True and not (mx is not None and mx <= 1):
            self.unsupported("uniqueItems", ptr)
        contains = s.get("contains")
        P = [self.gen(p, _ptr_join(ptr, "prefixItems" if "prefixItems" in s else "items", i), base)
             for i, p in enumerate(prefix)]
        R = self.gen(rest, rest_ptr, base)
        # the prefix is cut at the first unsatisfiable item
        for i, p in enumerate(P):
            if p is None:
                P = P[:i]
                mx = i if mx is None else min(mx, i)
                R = None
                break
        if R is None:
            mx = len(P) if mx is None else min(mx, len(P))
        if mx is not None and mn > mx:
            return None
        if contains is not None:
            return self.array_contains(s, contains, P, R, rest, mn, mx, ptr, base)
        return self.array_body(P, R, mn, mx)

    def array_body(self, P, R, mn, mx) -> str:
        comma = self.P[","]
        k = len(P)
        F = max(k, mn)

        def item(i):
            return P[i] if i < k else R

        # tail after F items
        if R is None or (mx is not None and mx <= F):
            tail_first = tail_more = self.nt("eps")
            self.rule(tail_first)
        elif mx is None:
            lst = self.nt("list")
            self.rule(lst, R)
            self.rule(lst, lst, comma, R)
            tail_first = self.nt("tail")
            self.rule(tail_first)
            self.rule(tail_first, lst)
            lst2 = self.nt("list")  # after at least one item: (, R)*
            self.rule(lst2)
            self.rule(lst2, lst2, comma, R)
            tail_more = lst2
        else:
            n = mx - F
            chain = self.nt("ch")
            self.rule(chain)
            for _ in range(n - 1):
                c2 = self.nt("ch")
                self.rule(c2)
                self.rule(c2, comma, R, chain)
                chain = c2
            tail_more = self.nt("ch")
            self.rule(tail_more)
            self.rule(tail_more, comma, R, chain)
            tail_first = self.nt("ch")
            self.rule(tail_first)
            self.rule(tail_first, R, chain)
        # optional prefix items m..F-1 (only when k > mn)
        nxt = tail_more
        for i in range(F - 1, mn - 1, -1):
            O = self.nt("opt")
            self.rule(O)
            if i == 0:
                self.rule(O, item(0), nxt)
            else:
                self.rule(O, comma, item(i), nxt)
            nxt = O
        req = []
        for i in range(mn):
            if i:
                req.append(comma)
            req.append(item(i))
        body = self.nt("arr")
        if mn == 0 and F == 0:
            after = tail_first
        elif mn == 0:
            after = nxt  # optional chain starting at index 0 (first item has no comma)
        else:
            after = nxt if F > mn else tail_more
        if mn == 0 and F == 0:
            self.rule(body, self.P["["], after, self.P["]"])
        else:
            self.rule(body, self.P["["], *req, after, self.P["]"])
        if mn == 0:
            pass
        return body

    def array_contains(self, s, contains, P, R, rest, mn, mx, ptr, base):
        cptr = _ptr_join(ptr, "contains")
        minc = s.get("minContains", 1)
        maxc = s.get("maxContains")
        if maxc is not None:
            self.unsupported("maxContains", ptr)
        if minc == 0:
            return self.array_body(P, R, mn, mx)
        if contains is False:
            return None
        if P or mn > 1 or mx is not None or minc != 1 or R is None:
            self.unsupported("contains", cptr, "contains together with prefixItems, minItems > 1, "
                             "maxItems or minContains")
            return self.array_body(P, R, mn, mx)
        merged = self.merge_allof({"allOf": [rest if rest is not None else True, contains]}, cptr, base) \
            if rest not in (True, {}) else contains
        C = self.gen(merged, cptr, base) if merged is not False else None
        if C is None:
            return None
        comma = self.P[","]
        pre = self.nt("pre")  # (R ,)*
        self.rule(pre)
        self.rule(pre, pre, R, comma)
        post = self.nt("post")  # (, R)*
        self.rule(post)
        self.rule(post, post, comma, R)
        body = self.nt("arr")
        self.rule(body, self.P["["], pre, C, post, self.P["]"])
        return body

    # -- objects -----------------------------------------------------------------------------------------
    def key_pattern(self, name: str) -> str:
        return self.string_literal(name) + self.colon

    def obj(self, s, ptr, base) -> str | None:
        props = s.get("properties", {})
        if not isinstance(props, dict):
            raise self.invalid("properties must be an object", ptr)
        req = s.get("required", [])
        if not isinstance(req, list):
            raise self.invalid("required must be an array", ptr)
        if self.draft <= 3:
            req = [k for k, v in props.items() if isinstance(v, dict) and v.get("required") is True]
        pprops = s.get("patternProperties") or {}
        addl = s.get("additionalProperties", True)
        pnames = s.get("propertyNames")
        forbidden = set(s.get("_forbidden", []))
        minp = s.get("minProperties", 0)
        maxp = s.get("maxProperties")
        req = list(dict.fromkeys(req))
        # propertyNames restricts declared keys too
        pn_tree = None
        if pnames is not None and pnames is not True and pnames != {}:
            if pnames is False:
                if req:
                    return None
                return self.seq([self.P["{"], self.P["}"]], "obj")
            pn_tree = self.key_tree(pnames, _ptr_join(ptr, "propertyNames"), base)
        declared = []
        for name, sub in props.items():
            if name in forbidden:
                if name in req:
                    return None
                continue
            if pn_tree is not None and not _tree_fullmatch_key(pnames, name):
                if name in req:
                    return None
                continue
            sym = self.gen(sub, _ptr_join(ptr, "properties", name), base)
            for pat, psub in pprops.items():
                if re.search(pat, name):
                    # the value must also satisfy the pattern's schema
                    merged = self.merge_allof({"allOf": [sub, psub]}, _ptr_join(ptr, "properties", name), base)
                    sym = self.gen(merged, _ptr_join(ptr, "properties", name), base) if merged is not False else None
            if sym is None:
                if name in req:
                    return None
                continue
            declared.append((name, sym, name in req))
        names = set(props)
        for r in req:
            if r not in names:
                # a required key without a declared schema: it is an extra key that must appear
                sub = addl
                for pat, psub in pprops.items():
                    if re.search(pat, r):
                        sub = psub if sub is True or sub is addl else {"allOf": [sub, psub]}
                if pn_tree is not None and not _tree_fullmatch_key(pnames, r):
                    return None
                if r in forbidden:
                    return None
                sym = self.gen(sub, _ptr_join(ptr, "required"), base)
                if sym is None:
                    return None
                declared.append((r, sym, True))
                names.add(r)
        # extra keys
        extras = []  # (key terminal, value symbol)
        if pprops:
            if len(pprops) > 1:
                pats = list(pprops)
                if any(not _json_eq(pprops[pats[0]], pprops[p]) for p in pats[1:]):
                    self.unsupported("patternProperties", ptr, "several patterns with different schemas "
                                     "(a key may match more than one)")
            if pn_tree is None and self.keys_universal(pprops, ptr):
                # every key matches a pattern: additionalProperties never applies, and the
                # declared keys (whose schemas were merged with the pattern's above) are excluded
                pat, psub = next(iter(pprops.items()))
                v = self.gen(psub, _ptr_join(ptr, "patternProperties", pat), base)
                if v is not None:
                    extras.append((self.rx(_not_keys_pattern(sorted(names | forbidden)) + self.colon), v))
            else:
                for pat, psub in pprops.items():
                    pp = _ptr_join(ptr, "patternProperties", pat)
                    if any(re.search(pat, n) for n in names):
                        self.unsupported("patternProperties", pp, "a declared property matches the pattern")
                        continue
                    if pn_tree is not None:
                        self.unsupported("propertyNames", ptr, "together with patternProperties")
                    tree = self.search_tree(pat, pp)
                    if tree is None:
                        continue
                    body = _tree_json(tree)
                    v = self.gen(psub, pp, base)
                    if body is None or v is None:
                        continue
                    extras.append((self.rx(f'"{body}"' + self.colon), v))
                if addl is not False:
                    self.unsupported("additionalProperties", ptr, "together with patternProperties "
                                     "(keys would have to avoid every pattern)")
        elif addl is not False:
            v = self.gen(addl, _ptr_join(ptr, "additionalProperties"), base)
            if v is not None:
                if pn_tree is not None:
                    if any(_tree_fullmatch_key(pnames, n) for n in names | forbidden):
                        self.unsupported("propertyNames", ptr, "a declared key also satisfies propertyNames")
                    body = _tree_json(pn_tree)
                    if body is not None:
                        extras.append((self.rx(f'"{body}"' + self.colon), v))
                else:
                    excl = names | forbidden
                    extras.append((self.rx(_not_keys_pattern(sorted(excl)) + self.colon), v))
        for k, v in (("minProperties", minp), ("maxProperties", maxp)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0):
                raise self.invalid(f"{k} must be a non-negative integer", ptr)
        minp = int(minp)
        maxp = None if maxp is None else int(maxp)
        nreq = sum(1 for d in declared if d[2])
        if maxp is not None and nreq > maxp:
            return None
        if minp > len(declared) and not extras:
            return None
        if minp > nreq and extras and minp > len(declared):
            self.unsupported("minProperties", ptr, "would need extra keys, which may repeat (JSON "
                             "objects with duplicate keys count once)")
            minp = 0
        if self.o.any_order:
            if minp > nreq or maxp is not None:
                self.unsupported("minProperties" if minp > nreq else "maxProperties", ptr,
                                 "with any_order=True")
            return self.obj_any_order(declared, extras, ptr)
        return self.obj_ordered(declared, extras, minp, maxp)

    def keys_universal(self, pprops: dict, ptr: str) -> bool:
        """Whether every string matches one of the patterns (``re.search``); builds their DFA."""
        trees = [self.search_tree(p, _ptr_join(ptr, "patternProperties", p)) for p in pprops]
        if any(t is None for t in trees):
            return False
        return same_language(build_dfa(rxp.Alt(tuple(trees))), _ANY_DFA)

    def key_tree(self, pnames, ptr, base):
        pn = self.deref(pnames, base)
        if not isinstance(pn, dict):
            return None
        keys = {k for k in pn if k in _KNOWN}
        if keys - {"pattern", "minLength", "maxLength", "format", "type", "enum", "const"}:
            self.unsupported("propertyNames", ptr, f"keywords {sorted(keys)}")
            return _ANY_TREE
        if pn.get("type", "string") not in ("string", ["string"]):
            return rxp.NOTHING
        if "enum" in pn or "const" in pn:
            vals = pn.get("enum", []) + ([pn["const"]] if "const" in pn else [])
            vals = [v for v in vals if isinstance(v, str)]
            return rxp.Alt(tuple(rxp.Concat(tuple(rxp.Chars(((ord(c), ord(c)),)) for c in v)) for v in vals))
        tree = self.string_tree(pn, ptr)
        mn, mx = pn.get("minLength", 0), pn.get("maxLength")
        if tree is None:
            tree = rxp.Repeat(rxp.Chars(cs.ALL), mn, mx)
        elif mn or mx is not None:
            tlo, thi = _tree_len(tree)
            if not (tlo >= mn and (mx is None or thi <= mx)):
                self.unsupported("propertyNames", ptr, "length bounds with a pattern")
        return tree

    def member_rules(self, declared, extras) -> tuple[list[str], str | None]:
        """One rule per declared property (key then value), and one for any extra member."""
        kv = []
        for name, sym, _r in declared:
            K = self.nt("kv")
            self.rule(K, self.rx(self.key_pattern(name)), sym)
            kv.append(K)
        X = None
        if extras:
            X = self.nt("xkv")
            for kt, v in extras:
                self.rule(X, kt, v)
        return kv, X

    def obj_ordered(self, declared, extras, minp, maxp) -> str:
        comma = self.P[","]
        n = len(declared)
        kv, X = self.member_rules(declared, extras)
        counting = minp > 0 or maxp is not None
        B = maxp if maxp is not None else minp  # counts are tracked up to B (capped for min-only)
        memo = {}

        def state(i, c, e):
            """Properties i.. still to come; c counted so far; e: something already emitted."""
            key = (i, c if counting else 0, e)
            if key in memo:
                return memo[key]
            A = self.nt("o")
            memo[key] = A
            if i == n:
                # extra entries
                if X is None:
                    if not counting or c >= minp:
                        self.rule(A)
                elif not counting:
                    lst = self.nt("xl")
                    self.rule(lst, X)
                    self.rule(lst, lst, comma, X)
                    self.rule(A)
                    if e:
                        self.rule(A, comma, lst)
                    else:
                        self.rule(A, lst)
                else:
                    if c >= minp:
                        self.rule(A)
                    if maxp is None and c >= minp:
                        lst = self.nt("xl")
                        self.rule(lst, X)
                        self.rule(lst, lst, comma, X)
                        self.rule(A, *( [comma, lst] if e else [lst]))
                    elif maxp is None or c < maxp:
                        nc = c + 1 if maxp is not None else min(c + 1, B)
                        self.rule(A, *([comma] if e else []), X, state(n, nc, True))
                return A
            name, _sym, required = declared[i]
            nc = c + 1 if maxp is not None else min(c + 1, B)
            if not counting or maxp is None or c < maxp:
                self.rule(A, *([comma] if e else []), kv[i], state(i + 1, nc, True))
            if not required:
                self.rule(A, state(i + 1, c, e))
            return A

        body = state(0, 0, False)
        O = self.nt("obj")
        self.rule(O, self.P["{"], body, self.P["}"])
        return O

    def obj_any_order(self, declared, extras, ptr) -> str:
        comma = self.P[","]
        reqi = [i for i, d in enumerate(declared) if d[2]]
        if len(reqi) > _ANY_ORDER_REQUIRED_MAX:
            raise LimitExceeded("any_order_required", _ANY_ORDER_REQUIRED_MAX,
                                f"required keys at {ptr or '/'} (any_order tracks every subset)")
        bit = {i: 1 << j for j, i in enumerate(reqi)}
        full = (1 << len(reqi)) - 1
        kv, X = self.member_rules(declared, extras)
        memo = {}

        def st(mask, e):
            key = (mask, e)
            if key in memo:
                return memo[key]
            A = self.nt("ao")
            memo[key] = A
            if mask == full:
                self.rule(A)
            pre = [comma] if e else []
            for i in range(len(declared)):
                self.rule(A, *pre, kv[i], st(mask | bit.get(i, 0), True))
            if X is not None:
                self.rule(A, *pre, X, st(mask, True))
            return A

        O = self.nt("obj")
        self.rule(O, self.P["{"], st(0, False), self.P["}"])
        return O


# ------------------------------------------------------------------ helpers
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


_NOT_ECMA = re.compile(r"(?<!\\)(?:\\\\)*(?:\\[aAZzQEeGhHK]|\(\?[aiLmsux]+[:)]|\(\?P|\(\?#)")


_ECMA_POS = {"d": "0-9", "w": "A-Za-z0-9_", "s": "\\t\\n\\x0b\\x0c\\r "}


def _ecma_classes(pat: str) -> str:
    """Rewrite ``\\d \\w \\s`` to their ASCII (ECMA-262) sets and ``\\S`` to exclude U+FEFF
    too; ``\\D \\W`` keep Python's Unicode meaning. Every string matched then matches under both
    ECMA-262 and Python ``re`` (what the reference validator uses)."""
    out, i, in_class = [], 0, False
    while i < len(pat):
        c = pat[i]
        if c == "\\" and i + 1 < len(pat):
            e = pat[i + 1]
            if e in _ECMA_POS:
                out.append(_ECMA_POS[e] if in_class else f"[{_ECMA_POS[e]}]")
            elif e == "S" and not in_class:
                out.append("[^\\s\\ufeff]")
            else:
                out.append(pat[i:i + 2])
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
        elif c == "[":
            in_class = True
            out.append(c)
            i += 1
            if pat[i:i + 1] == "^":
                out.append("^")
                i += 1
            if pat[i:i + 1] == "]":
                out.append("]")
                i += 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _top_branches(pat: str):
    """Top-level ``|`` branches of a pattern (None when there is a single branch)."""
    cuts = [i for i, c, d in rxp.group_depths(pat) if c == "|" and d == 0]
    if not cuts:
        return None
    out, prev = [], 0
    for c in cuts:
        out.append(pat[prev:c])
        prev = c + 1
    out.append(pat[prev:])
    return out


def _ends_anchor(pat: str) -> bool:
    if pat.endswith("\\Z") or pat.endswith("\\z"):
        return True
    if not pat.endswith("$"):
        return False
    # count preceding backslashes
    n = 0
    i = len(pat) - 2
    while i >= 0 and pat[i] == "\\":
        n += 1
        i -= 1
    return n % 2 == 0


def _tree_fullmatch_key(pnames, name: str) -> bool:
    """Whether a declared key satisfies a propertyNames schema (checked with jsonschema semantics)."""
    if not isinstance(pnames, dict):
        return bool(pnames)
    try:
        import jsonschema
        return jsonschema.Draft202012Validator(pnames, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER).is_valid(name)
    except Exception:  # pragma: no cover
        return True


def _not_keys_pattern(excluded: list[str]) -> str:
    """A JSON string (canonical escapes) whose decoded value is none of ``excluded``.

    Shape: ``"(?:D U*|B)"`` over the key trie, where ``B`` spells a trie path that is not a key
    and ``D`` spells a trie path followed by one unit that leaves the trie, so the any-unit loop
    ``U*`` and the escape alternatives appear once, not at every trie node: the NFA stays linear
    in the total key length (the regex DFA construction is then fast)."""
    units = "(?:" + _chars_json(cs.ALL) + ")*"
    if not excluded:
        return f'"{units}"'
    escapes = _chars_json(_SPECIAL)
    trie: dict = {}
    for k in excluded:
        node = trie
        for ch in k:
            node = node.setdefault(ch, {})
        node[None] = True  # end of a key

    def alts(parts: list[str]) -> str | None:
        return None if not parts else "(?:" + "|".join(parts) + ")"

    def rec(node) -> tuple[str | None, str | None, str | None]:
        """(D, B, C) below ``node``: C spells the trie paths at which any escape leaves the trie
        (nodes with no special child), so ``C escapes`` is factored out of ``D``."""
        kids = [c for c in node if c is not None]
        ex = cs.normalize([(ord(c), ord(c)) for c in kids])
        special_kid = bool(cs.intersect(ex, _SPECIAL))
        leave = _chars_json(cs.intersect(cs.ALL if special_kid else _PLAIN, cs.negate(ex)))
        d = [leave] if leave else []
        b = [] if None in node else [""]
        c = [] if special_kid else [""]
        for ch in kids:
            cj = "(?:" + _chars_json(((ord(ch), ord(ch)),)) + ")"
            sd, sb, sc = rec(node[ch])
            d += [cj + sd] if sd else []
            b += [cj + sb] if sb else []
            c += [cj + sc] if sc else []
        return alts(d), alts(b), alts(c)

    d, b, c = rec(trie)
    lead = "|".join(x for x in (d, f"{c}{escapes}" if c else None) if x)
    return '"(?:(?:' + lead + ")" + units + (f"|{b}" if b else "") + ')"'


def compile_schema(schema, *, whitespace: str = "", strict: bool = True, any_order: bool = False) -> CFG:
    """Compile a JSON Schema (dict or bool) into the grammar IR. ``whitespace`` is a bounded regex
    (over JSON text) allowed around punctuation; "" means compact output."""
    if not isinstance(schema, (dict, bool)):
        raise InvalidSyntax(f"a JSON Schema must be an object or a boolean, not {type(schema).__name__}")
    c = _Compiler(schema, SchemaOptions(whitespace, strict, any_order))
    return c.compile()
