"""Sets of Unicode code points with Python ``re`` semantics.

A set is a tuple of sorted, disjoint, non-adjacent inclusive ranges ``((lo, hi), ...)``. The
Unicode classes ``\\d \\w \\s`` and case folding follow CPython's ``_sre`` exactly: ``\\d`` is
``str.isdecimal``, ``\\w`` is ``str.isalnum`` or ``_``, ``\\s`` is ``str.isspace``, and case-
insensitive matching compares ``_sre.unicode_tolower`` images plus ``re._casefix`` extras. The
full-range tables are computed once per process (about 0.3 s, lazily) and reused.

Lone surrogates (U+D800-U+DFFF) cannot be encoded in UTF-8, so no set ever contains them: a model's
output is always valid UTF-8.
"""

from __future__ import annotations

import functools
import re
from typing import Iterable

import numpy as np

try:  # CPython internals that define re's case folding; present on every CPython >= 3.11
    import _sre
    from re import _casefix
except ImportError:  # pragma: no cover
    _sre = None
    _casefix = None

MAX_CODEPOINT = 0x10FFFF
SURROGATES = (0xD800, 0xDFFF)
CharSet = tuple  # tuple[tuple[int, int], ...]

EMPTY: CharSet = ()
ALL: CharSet = ((0, SURROGATES[0] - 1), (SURROGATES[1] + 1, MAX_CODEPOINT))


def normalize(ranges: Iterable[tuple[int, int]]) -> CharSet:
    """Sort, merge overlapping/adjacent ranges and remove surrogates."""
    out: list[list[int]] = []
    for lo, hi in sorted(ranges):
        if lo > hi:
            continue
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return intersect(tuple((a, b) for a, b in out), ALL) if out else EMPTY


def intersect(a: CharSet, b: CharSet) -> CharSet:
    out = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo = max(a[i][0], b[j][0])
        hi = min(a[i][1], b[j][1])
        if lo <= hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


def negate(a: CharSet) -> CharSet:
    out = []
    prev = 0
    for lo, hi in a:
        if lo > prev:
            out.append((prev, lo - 1))
        prev = hi + 1
    if prev <= MAX_CODEPOINT:
        out.append((prev, MAX_CODEPOINT))
    return intersect(tuple(out), ALL)


def union(*sets: CharSet) -> CharSet:
    return normalize(r for s in sets for r in s)


def from_mask(mask: np.ndarray) -> CharSet:
    """Ranges of the True entries of a boolean array indexed by code point."""
    m = mask.astype(np.int8)
    d = np.diff(np.concatenate(([0], m, [0])))
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1) - 1
    return normalize(zip(starts.tolist(), ends.tolist()))


def to_mask(s: CharSet) -> np.ndarray:
    mask = np.zeros(MAX_CODEPOINT + 1, dtype=bool)
    for lo, hi in s:
        mask[lo:hi + 1] = True
    return mask


_ALL_CHARS = None


def _all_chars() -> str:
    global _ALL_CHARS
    if _ALL_CHARS is None:
        _ALL_CHARS = "".join(map(chr, range(MAX_CODEPOINT + 1)))
    return _ALL_CHARS


@functools.lru_cache(maxsize=None)
def _unicode_class(escape: str) -> CharSet:
    """The code points ``re`` itself matches with ``escape`` (``\\d``, ``\\w``, ``\\s``): exact by
    construction, and fast (one C-level scan of all code points)."""
    return normalize((m.start(), m.end() - 1) for m in re.finditer(escape + "+", _all_chars()))


@functools.lru_cache(maxsize=None)
def _lower_table() -> np.ndarray:
    """``_sre.unicode_tolower`` for every code point (computed once, ~0.2 s)."""
    if _sre is not None:
        return np.fromiter((_sre.unicode_tolower(c) for c in range(MAX_CODEPOINT + 1)), np.int32,
                           MAX_CODEPOINT + 1)
    return np.fromiter((ord(c.lower()) if len(c.lower()) == 1 else ord(c)  # pragma: no cover
                        for c in map(chr, range(MAX_CODEPOINT + 1))), np.int32, MAX_CODEPOINT + 1)


_ASCII_CATEGORIES = {
    "digit": ((48, 57),),
    "word": ((48, 57), (65, 90), (95, 95), (97, 122)),
    "space": ((9, 13), (32, 32)),
}


@functools.lru_cache(maxsize=None)
def category(name: str, ascii_only: bool) -> CharSet:
    """``name`` in {"digit", "word", "space"}; ``ascii_only`` is the ``re.ASCII`` flag."""
    if ascii_only:
        return _ASCII_CATEGORIES[name]
    return _unicode_class({"digit": r"\d", "word": r"\w", "space": r"\s"}[name])


@functools.lru_cache(maxsize=4096)
def _fold_literal(c: int) -> CharSet:
    """Every code point that ``(?i)`` + the literal ``c`` matches, per ``_sre``."""
    if (c < 128 and not chr(c).isalpha()) or not has_cased(((c, c),)):
        return ((c, c),)
    lower = _lower_table()
    low = int(lower[c])
    keys = [low, *(_casefix._EXTRA_CASES.get(low, ()) if _casefix is not None else ())]
    hits = np.flatnonzero(np.isin(lower, keys)).tolist()
    return normalize([(h, h) for h in hits] + [(c, c)])


@functools.lru_cache(maxsize=None)
def _cased_table() -> np.ndarray:
    """``_sre.unicode_iscased`` for every code point."""
    if _sre is None:  # pragma: no cover
        return _lower_table() != np.arange(MAX_CODEPOINT + 1)
    return np.fromiter((_sre.unicode_iscased(c) for c in range(MAX_CODEPOINT + 1)), bool,
                       MAX_CODEPOINT + 1)


def has_cased(s: CharSet, *, ascii_only: bool = False) -> bool:
    """Whether ``s`` holds a cased character (``re`` folds a class only then)."""
    if ascii_only:
        return bool(intersect(s, ((65, 90), (97, 122))))
    table = _cased_table()
    return any(table[lo:hi + 1].any() for lo, hi in s)


def lower_preimage(s: CharSet) -> CharSet:
    """``{ch : lower(ch) in s}``: what a category matches inside a case-folded class."""
    return from_mask(to_mask(s)[_lower_table()])


def fold(s: CharSet, *, ascii_only: bool = False) -> CharSet:
    """Case-insensitive closure of a positive set, per ``re.IGNORECASE``.

    ``_sre`` matches ``ch`` against a case-insensitive class when ``lower(ch)`` lies in the set
    of lowered members (plus ``_casefix`` extras). Under ``re.ASCII`` only ASCII letters fold."""
    if not s:
        return s
    if ascii_only:
        extra = []
        for lo, hi in s:
            for a, b, delta in ((65, 90, 32), (97, 122, -32)):
                x, y = max(lo, a), min(hi, b)
                if x <= y:
                    extra.append((x + delta, y + delta))
        return union(s, tuple(extra))
    if sum(hi - lo + 1 for lo, hi in s) <= 8:
        return union(*(_fold_literal(c) for lo, hi in s for c in range(lo, hi + 1)))
    lower = _lower_table()
    member = to_mask(s)
    lowered = np.zeros(MAX_CODEPOINT + 1, dtype=bool)
    lowered[lower[member]] = True
    if _casefix is not None:
        for k, extras in _casefix._EXTRA_CASES.items():
            if lowered[k]:
                for e in extras:
                    lowered[e] = True
    return union(s, from_mask(lowered[lower]))


def describe(s: CharSet) -> str:
    def one(c: int) -> str:
        return re.escape(chr(c)) if 32 < c < 127 else f"\\U{c:08x}"
    return "[" + "".join(one(lo) if lo == hi else f"{one(lo)}-{one(hi)}" for lo, hi in s) + "]"
