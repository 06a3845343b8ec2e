"""``oneOf`` branches that overlap on scalar types, decided exactly per type family.

An instance of one type is valid against ``oneOf`` when exactly one branch accepts it, and only
the branches' keywords for that type matter, so each overlapping family is rewritten on its own
into branches that are disjoint by construction:

- ``null``/``boolean``: each value is checked against every branch (``jsonschema``); the values
  exactly one branch accepts become an ``enum``.
- ``string``: each branch's strings (pattern/format/lengths/enum/const) as a value DFA; the
  "exactly one" product of them (`dfaops.exactly_one`) becomes one string branch carrying that
  language (``_string_langs``), refused past `dfaops.PRODUCT_STATES_MAX` states.
- ``number``/``integer``: bounds and enum values cut the line into points and open pieces;
  each piece keeps the numbers exactly one branch covers (integers and non-integers counted
  apart); a piece where that is "the non-integers only" is refused (not expressible).

A branch whose keywords for the family are anything else (``anyOf``, ``not``, ``$ref`` with
siblings, ``multipleOf`` ...) makes the rewrite fail (None: the caller refuses ``oneOf``).
"""

from __future__ import annotations

import math
import warnings
from fractions import Fraction

from ..errors import ConstraintError, LimitExceeded
from ..regex import parser as rxp
from .common import _json_type
from .dfaops import StringLang, exactly_one, product
from .jsontext import _ANY_DFA, _UNIT
from .lengths import TooLarge

_OPAQUE = {"anyOf", "oneOf", "not", "if", "$ref", "$dynamicRef", "$recursiveRef", "extends", "disallow",
           "_not_strings", "dependencies", "dependentSchemas", "contentMediaType", "contentEncoding"}
_NUMBER_OPAQUE = _OPAQUE | {"multipleOf", "divisibleBy"}


class _Opaque(Exception):
    """A branch keyword this rewrite does not see through."""


def _literal_tree(v: str):
    return rxp.Concat(tuple(rxp.Chars(((ord(c), ord(c)),)) for c in v)) if v else rxp.EPSILON


def _frac(v) -> Fraction:
    return Fraction(str(v)) if isinstance(v, float) else Fraction(v)


class OneOfValuesMixin:
    def resolve_family(self, fam: str, branches: list, base: str, ptr: str) -> list | None:
        """Disjoint schemas for the instances of family ``fam`` (``null``, ``boolean``,
        ``string`` or ``number``) that exactly one of ``branches`` (dereferenced) accepts; None
        when not decidable here."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if fam in ("null", "boolean"):  # every branch checked as a whole (jsonschema)
                    vals = [None] if fam == "null" else [True, False]
                    live = [b for b in branches if b is not False]
                    keep = [v for v in vals
                            if sum(self.value_ok(v, {"allOf": [b]}, ptr, base) for b in live) == 1]
                    return [{"enum": keep}] if keep else []
                if fam == "string":
                    return self.oneof_strings([self.string_part(b, base, ptr) for b in branches])
                flat = []
                for b in branches:
                    b = self.flat_branch(b, base, ptr)
                    if b is not None:
                        if any(k in b for k in _NUMBER_OPAQUE):
                            return None
                        flat.append(b)
                return self.oneof_numbers(flat, base, ptr)
        except (TooLarge, LimitExceeded, _Opaque, ConstraintError):
            return None

    def flat_branch(self, b, base: str, ptr: str) -> dict | None:
        """Branch ``b`` with ``$ref`` and ``allOf`` merged in (None: unsatisfiable)."""
        if b is False:
            return None
        b = {} if b is True else self.deref(b, base)
        if isinstance(b, dict) and "$ref" in b:
            b = {"allOf": [{"$ref": b["$ref"]}, {k: v for k, v in b.items() if k != "$ref"}]}
        if not isinstance(b, dict):
            return None if b is False else {}
        if "allOf" in b:
            b = self.merge_allof(dict(b), ptr, base)
            if b is False:
                return None
            b = {} if b is True else b
        return b

    def string_part(self, b, base: str, ptr: str, depth: int = 0):
        """(body, value DFA) of the strings branch ``b`` accepts (nested ``anyOf``/``oneOf``/
        ``allOf``/``$ref`` included); None: none. Raises `_Opaque` for other applicators."""
        b = self.flat_branch(b, base, ptr)
        if b is None or "string" not in self.types_of(b, ptr):
            return None
        if depth > 8 or any(k in b for k in _OPAQUE - {"anyOf", "oneOf"}):
            raise _Opaque()
        trees = self.string_trees(b, ptr)
        vals = [b["const"]] if "const" in b else (b["enum"] if isinstance(b.get("enum"), list) else None)
        if vals is not None:
            strs = [v for v in vals if isinstance(v, str)]
            if not strs:
                return None
            trees.append(rxp.Alt(tuple(_literal_tree(v) for v in strs)))
        mn, mx = b.get("minLength", 0), b.get("maxLength")
        for k, v in (("minLength", mn), ("maxLength", mx)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
                raise self.invalid(f"{k} must be a non-negative integer", ptr)
        langs = list(b.get("_string_langs", ()))
        for k in ("anyOf", "oneOf"):
            if k in b:
                subs = [p for p in (self.string_part(x, base, ptr, depth + 1) for x in b[k]) if p is not None]
                if not subs:
                    return None
                if k == "oneOf":
                    one = self.oneof_strings(subs)
                    if not one:
                        return None
                    langs += one[0]["_string_langs"]
                else:
                    value = product([d for _, d in subs], any)
                    if value.n_states == 0:
                        return None
                    langs.append(("(?:" + "|".join(f"(?:{x})" for x, _ in subs) + ")", value))
        if not trees and not langs and not mn and mx is None:
            return f"(?:{_UNIT})*", _ANY_DFA
        return self.string_lang(trees, langs, mn, mx, ptr)

    def oneof_strings(self, parts: list) -> list:
        """One string branch for the strings exactly one of ``parts`` ((body, DFA) or None)
        accepts (``[]``: none)."""
        parts = [p for p in parts if p is not None]
        if not parts:
            return []
        value = exactly_one([d for _, d in parts])
        if value.n_states == 0:
            return []
        alts = []
        for i, (bi, _) in enumerate(parts):
            ahead = "".join(f'(?!(?:{bj})")' for j, (bj, _) in enumerate(parts) if j != i)
            alts.append(f"{ahead}(?:{bi})")
        body = "(?:" + "|".join(alts) + ")"
        return [{"type": "string", "_string_langs": [StringLang(body, value)]}]

    def number_part(self, b: dict, base: str, ptr: str):
        """("integer" | "number", interval or None, finite values or None) of branch ``b``'s
        numbers; None when it has none."""
        from .oneof import _interval

        types = self.types_of(b, ptr)
        kind = "number" if "number" in types else ("integer" if "integer" in types else None)
        if kind is None:
            return None
        vals = [b["const"]] if "const" in b else (b["enum"] if isinstance(b.get("enum"), list) else None)
        if vals is not None:
            vals = [v for v in vals if _json_type(v) in ("integer", "number")
                    and self.value_ok(v, {"allOf": [b]}, ptr, base)]
            return kind, None, vals
        lo, lo_in, hi, hi_in = _interval(b)
        return kind, (None if lo is None else _frac(lo), lo_in, None if hi is None else _frac(hi), hi_in), None

    def oneof_numbers(self, flat: list, base: str, ptr: str) -> list | None:
        parts = [p for p in (self.number_part(b, base, ptr) for b in flat) if p is not None]
        orig: dict = {}
        for _k, iv, vals in parts:
            for v in (vals or ()):
                orig.setdefault(_frac(v), v)
            if iv is not None:
                for e in (iv[0], iv[2]):
                    if e is not None:
                        orig.setdefault(e, int(e) if e.denominator == 1 else float(e))
        points = sorted(orig)

        def covers(part, r: Fraction, is_int: bool) -> bool:
            kind, iv, vals = part
            if vals is not None:
                return any(_frac(v) == r for v in vals)
            if kind == "integer" and not is_int:
                return False
            lo, lo_in, hi, hi_in = iv
            return (lo is None or r > lo or (lo_in and r == lo)) and (hi is None or r < hi or (hi_in and r == hi))

        out = []
        for p in points:
            if sum(covers(x, p, p.denominator == 1) for x in parts) == 1:
                out.append({"enum": [orig[p]]})
        bounds = [None] + points + [None]
        for a, b in zip(bounds, bounds[1:]):
            if a is None and b is None:
                r = Fraction(0)
            else:
                r = (a + b) / 2 if a is not None and b is not None else (b - 1 if a is None else a + 1)
            has_int = a is None or b is None or math.floor(a) + 1 < b
            n_int = sum(covers(x, r, True) for x in parts if x[2] is None) if has_int else 0
            n_frac = sum(covers(x, r, False) for x in parts if x[2] is None)
            if n_frac == 1 and (not has_int or n_int == 1):
                kind = "number"
            elif n_int == 1 and n_frac == 0:
                kind = "integer"
            elif n_frac == 1:
                return None  # the non-integers of the piece only: not expressible
            else:
                continue
            piece: dict = {"type": kind}
            if a is not None:
                piece["exclusiveMinimum"] = orig[a]
            if b is not None:
                piece["exclusiveMaximum"] = orig[b]
            out.append(piece)
        return out
