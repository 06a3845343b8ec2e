"""Strings: ``pattern`` (ECMA-262 search semantics), ``format``, ``minLength``/``maxLength``."""

from __future__ import annotations

import re
import warnings

from ..errors import InvalidSyntax, LimitExceeded, UnsupportedFeature
from ..regex.automata import build_dfa
from .errors import UnsupportedKeyword
from ..regex import parser as rxp
from .common import _CHUNK, _REGEX_STRING_MAX
from .formats import EMAIL_BOUNDED, UNCHECKED_FORMATS, format_pattern
from .lengths import MAX_PRODUCT_STATES, TooLarge, length_bounded_dfa
from .dfaops import PRODUCT_STATES_MAX, intersect, json_string_dfa
from .jsontext import _ANY_DFA, _ANY_TREE, _UNIT, _clip_len, _tree_json, _tree_len

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


class StringsMixin:
    # -- strings ------------------------------------------------------------------------------------------
    def string_trees(self, s, ptr) -> list:
        """The trees over code points of the value that ``pattern``, ``format`` and the patterns
        and formats merged in from ``allOf`` members (``_patterns``, ``_formats``) allow: the
        value must match each of them."""
        trees = []
        pats = ([s["pattern"]] if "pattern" in s else []) + list(s.get("_patterns", ()))
        for pat in pats:
            if not isinstance(pat, str):
                raise self.invalid("pattern must be a string", ptr)
            tree = self.search_tree(pat, ptr)
            if tree is not None:
                trees.append(tree)
        fmts = ([s["format"]] if "format" in s else []) + list(s.get("_formats", ()))
        for fmt in fmts:
            fpat = format_pattern(fmt, self.draft) if isinstance(fmt, str) else None
            if fpat is not None:
                trees.append(rxp.parse(fpat))
            elif fmt in UNCHECKED_FORMATS:
                self.unsupported("format", ptr, f"format {fmt!r} is not checked")
            elif isinstance(fmt, str):  # not a format of any draft: an annotation (the spec's rule)
                warnings.warn(f"unknown format {fmt!r} at {ptr or '/'} is an annotation only: not enforced",
                              UserWarning, stacklevel=4)
            elif fmt is not None:
                raise self.invalid("format must be a string", ptr)
        return trees

    def string_tree(self, s, ptr):
        """(tree over code points of the value, or None when only lengths constrain it); a
        second pattern or format is refused here (keys: `objects.key_tree`)."""
        trees = self.string_trees(s, ptr)
        if len(trees) > 1:
            self.unsupported("format" if "format" in s else "pattern", ptr,
                             "two patterns or formats for property names")
        return trees[0] if trees else None

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
                raise UnsupportedKeyword("pattern", pointer=ptr, detail=str(e)) from None
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
        if "_not_strings" in s:  # `apply_not`: any string but these (no other string keyword)
            return self.not_keys(sorted(set(s["_not_strings"])), colon=False)
        trees = self.string_trees(s, ptr)
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
        if len(trees) > 1 or s.get("_string_langs"):
            return self.string_product(trees, s.get("_string_langs", ()), mn, mx, ptr)
        tree = trees[0] if trees else None
        if tree is not None:
            if (mx is not None and mx >= EMAIL_BOUNDED[1] and s.get("format") == "email" and "pattern" not in s
                    and self.draft > 0):
                tree = rxp.parse(EMAIL_BOUNDED[0])
            if mn or mx is not None:
                tlo, thi = _tree_len(tree)
                if not (tlo >= mn and (mx is None or thi <= mx)):
                    clipped = _clip_len(tree, mn, mx)
                    if clipped is None:
                        return self.length_product(tree, mn, mx, ptr)
                    tree = clipped
            body = _tree_json(tree)
            if body is None:
                return None
            return self.rx(f'"{body}"')
        if mx is None:
            if mn == 0:
                return self.unit_string(0, None)
            if mn <= _REGEX_STRING_MAX:
                return self.unit_string(mn, None)
        elif mx <= _REGEX_STRING_MAX:
            return self.unit_string(mn, mx)
        # long strings: chunked repetition with linear-size rules
        q = self.lit('"')
        return self.seq([q, self.repeat(_UNIT, mn, mx), q], "str")

    def string_lang(self, trees, langs, mn: int, mx: int | None, ptr: str):
        """(body, value DFA) of the strings matching every tree, every ``(body, DFA)`` of
        ``langs`` and ``mn..mx`` code points: ``body`` is a regex over the JSON text between the
        quotes (lookaheads for all but the first constraint), the DFA is over the value's UTF-8
        (`dfaops.intersect`). None when no string qualifies. Raises `TooLarge` /
        `LimitExceeded` past the DFA limits."""
        bodies = [_tree_json(t) for t in trees] + [b for b, _ in langs]
        if any(b is None for b in bodies):
            return None
        values = [build_dfa(t) for t in trees] + [d for _, d in langs]
        if mn or mx is not None:
            values.append(build_dfa(rxp.Repeat(_ANY_TREE.node, mn, mx)))
            bodies.append(f"(?:{_UNIT}){{{mn},{'' if mx is None else mx}}}")
        if not values:
            values, bodies = [_ANY_DFA], [f"(?:{_UNIT})*"]
        value = intersect(values)
        if value.n_states == 0:
            return None
        return "".join(f'(?=(?:{b})")' for b in bodies[1:]) + f"(?:{bodies[0]})", value

    def string_product(self, trees, langs, mn: int, mx: int | None, ptr: str) -> str | None:
        """A string terminal for several patterns/formats (and string languages from ``oneOf``)
        at once, exactly: the product of their value DFAs (`string_lang`) read as JSON text
        (`dfaops.json_string_dfa`), handed to the engine prebuilt. Refused past the limits."""
        bounded = mx is not None
        try:
            lang = self.string_lang(trees, langs, 0 if bounded else mn, None, ptr)
            if lang is None:
                return None
            body, value = lang
            if bounded:
                dfa = length_bounded_dfa(value, mn, mx)
                body = f"(?=(?:{_UNIT}){{{mn},{mx}}}\")" + body
            else:
                dfa = json_string_dfa(value)
        except (TooLarge, LimitExceeded):
            self.unsupported("pattern", ptr, "the intersection of patterns/formats (and length bounds) "
                             f"exceeds {PRODUCT_STATES_MAX} DFA states")
            return self.rx(f'"{_tree_json(trees[0])}"') if trees else self.unit_string(0, None)
        return None if dfa is None else self.rx_dfa(f'"{body}"', dfa)

    def length_product(self, tree, mn: int, mx: int | None, ptr: str) -> str | None:
        """A string terminal for ``tree`` with ``mn..mx`` code points, exactly: the product of the
        pattern's DFA with a length counter (`lengths`), handed to the engine as a prebuilt DFA;
        its pattern text states the same language for Python ``re`` (a lookahead on the length).
        Refused when the product is too large, or without ``maxLength`` (a bare ``minLength``
        beyond what `_clip_len` handles)."""
        kw = "maxLength" if mx is not None else "minLength"
        body = _tree_json(tree)
        if mx is None or body is None:
            if body is not None:
                self.unsupported(kw, ptr, "minLength together with a pattern or format whose length "
                                 "varies in more than one place")
            return None if body is None else self.rx(f'"{body}"')
        try:
            dfa = length_bounded_dfa(tree, mn, mx)
        except TooLarge:
            self.unsupported(kw, ptr, f"length bounds {mn}..{mx} together with a pattern or format: "
                             f"the exact product exceeds {MAX_PRODUCT_STATES} states")
            return self.rx(f'"{body}"')
        if dfa is None:
            return None
        return self.rx_dfa(f'"(?={_UNIT}{{{mn},{mx}}}")(?:{body})"', dfa)

    def repeat(self, unit: str, lo: int, hi: int | None) -> str:
        """A symbol deriving ``unit{lo,hi}`` from terminals of K = `_CHUNK` units (``C``) and of
        fewer: ``C{lo//K} unit{lo%K}`` then the rest, ``C* unit{0,K-1}`` (unbounded) or, for
        ``d = hi - lo = K q + r`` more, ``C{0,q-1} unit{0,K-1} | C{q} unit{0,r}`` (disjoint count
        ranges: one derivation per length). O(log(hi)) rules (`CountingMixin`)."""
        K = _CHUNK
        chunk = self.rx(f"{unit}{{{K}}}")
        syms = [self.exactly(chunk, lo // K)]
        if lo % K:
            syms.append(self.rx(f"{unit}{{{lo % K}}}"))
        partial = self.rx(f"{unit}{{0,{K - 1}}}")
        if hi is None:
            syms += [self.star(chunk), partial]
        else:
            q, r = divmod(hi - lo, K)
            last = self.seq([self.exactly(chunk, q), self.rx(f"{unit}{{0,{r}}}") if r else self.epsilon()], "rep")
            syms.append(self.alt([self.seq([self.up_to(chunk, q - 1), partial], "rep"), last], "rep")
                        if q else last)
        return self.seq(syms, "rep")
