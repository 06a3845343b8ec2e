"""Regex trees over decoded string values → regexes over JSON text (escapes included), and the
length arithmetic of those trees."""

from __future__ import annotations

import functools
import math

from ..regex import charset as cs
from ..regex import parser as rxp
from ..regex.automata import build_dfa
from .common import _REGEX_STRING_MAX

# one JSON string "unit" (a decoded code point) as JSON text: a plain character or an escape
_HEX4_NOSUR = r"(?:[0-9a-cA-Ce-fE-F][0-9a-fA-F]{3}|[dD][0-7][0-9a-fA-F]{2})"
_UNIT = r'(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u' + _HEX4_NOSUR + r"))"
_STRING = f'"{_UNIT}*"'
_NUMBER = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
_INTEGER = r"-?(?:0|[1-9][0-9]*)"


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


def _not_keys_pattern(excluded: list[str]) -> str:
    """A JSON string (canonical escapes) whose decoded value is none of ``excluded``.

    Shape: ``"(?:D U*|B)"`` over the key trie, where ``B`` spells a trie path that is not a key
    and ``D`` spells a trie path followed by one unit that leaves the trie, so the any-unit loop
    ``U*`` and the escape alternatives appear once, not at every trie node: the NFA stays linear
    in the total key length (the regex DFA construction is then fast). Memoised per key list
    (the same key sets recur across a schema's objects and across schemas)."""
    return _not_keys_cached(tuple(excluded))


@functools.lru_cache(maxsize=1024)
def _not_keys_cached(excluded: tuple) -> str:
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

    def rec(node) -> tuple[str | None, str | None, str | None]:
        """(D, B, C) below ``node``: C spells the trie paths at which any escape leaves the trie
        (nodes with no special child), so ``C escapes`` is factored out of ``D``."""
        kids = tuple(c for c in node if c is not None)
        leave, special_kid = _leave(tuple(sorted(kids)))
        d = [leave] if leave else []
        b = [] if None in node else [""]
        c = [] if special_kid else [""]
        for ch in kids:
            cj = _unit_group(ch)
            sd, sb, sc = rec(node[ch])
            if sd:
                d.append(cj + sd)
            if sb:
                b.append(cj + sb)
            if sc:
                c.append(cj + sc)
        return (None if not d else "(?:" + "|".join(d) + ")", None if not b else "(?:" + "|".join(b) + ")",
                None if not c else "(?:" + "|".join(c) + ")")

    d, b, c = rec(trie)
    lead = "|".join(x for x in (d, f"{c}{escapes}" if c else None) if x)
    return '"(?:(?:' + lead + ")" + units + (f"|{b}" if b else "") + ')"'


@functools.lru_cache(maxsize=8192)
def _unit_group(ch: str) -> str:
    """``(?:`` + the JSON-text regex of the one character ``ch`` + ``)``."""
    return "(?:" + _chars_json(((ord(ch), ord(ch)),)) + ")"


@functools.lru_cache(maxsize=8192)
def _leave(kids: tuple) -> tuple[str | None, bool]:
    """For a trie node with children ``kids`` (sorted characters): the regex of one unit that
    leaves the trie there, and whether a child is a special character (written as an escape)."""
    ex = cs.normalize([(ord(c), ord(c)) for c in kids])
    special_kid = bool(cs.intersect(ex, _SPECIAL))
    return _chars_json(cs.intersect(cs.ALL if special_kid else _PLAIN, cs.negate(ex))), special_kid
