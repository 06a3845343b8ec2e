"""Patterns that spell one string: recognised from their text, their DFA built without the regex
pipeline.

JSON Schema compilation makes hundreds of such terminals per schema (object keys with their colon,
``const``/``enum`` strings, punctuation), each of which would otherwise cost a parse, a subset
construction, a minimisation and a UTF-8 expansion (about 2 ms); a chain of ``len(utf8)+1`` states
is built here in microseconds. The recogniser is conservative: anything but plain characters,
escaped punctuation, ``\\uXXXX`` / ``\\UXXXXXXXX`` escapes and quantifier-free ``(?:...)`` groups
(with flags that cannot change a literal's meaning) returns None and the caller takes the general
path, so every accepted pattern has exactly ``re``'s meaning: the one string.
"""

from __future__ import annotations

import functools
import itertools
import re

import numpy as np

__all__ = ["literal_text", "literal_language", "chain_dfa", "alternatives_dfa"]

# one token of a literal pattern: a group open / close, a \u / \U escape, an escaped
# non-alphanumeric ASCII character, or a character without special meaning outside a class
_TOKEN = re.compile(r"\(\?:|\)|\||\\u[0-9a-fA-F]{4}|\\U[0-9a-fA-F]{8}|\\[\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]"
                    r"|[^\\.^$*+?{}\[\]|()]")
# flags under which a literal means itself (IGNORECASE, VERBOSE, LOCALE change it; ASCII and
# UNICODE together are an error in ``re``)
_NEUTRAL_FLAGS = re.ASCII | re.UNICODE | re.DOTALL | re.MULTILINE


def literal_text(pattern: str, flags: int = 0) -> str | None:
    """The one string ``pattern`` matches when the pattern is a plain literal (see the module
    docstring), else None (also for the empty pattern and for surrogate code points). O(len)."""
    alts = _scan(pattern, flags)
    return alts[0] if alts is not None and len(alts) == 1 else None


def literal_language(pattern: str, flags: int = 0) -> list[str] | None:
    """The strings of ``pattern`` when it is a plain literal or a top-level alternation of plain
    literals (``true|false``, ``(?:"a")|(?:"b")``: enums), each non-empty; else None. O(len)."""
    return _scan(pattern, flags)


_DELTA = {"(?:": 1, ")": -1}


@functools.lru_cache(maxsize=4096)
def _token_text(tok: str) -> str:
    """The text one token of `_TOKEN` stands for ("" for group parentheses)."""
    if tok in ("(?:", ")"):
        return ""
    if len(tok) == 1:
        return tok
    if tok[1] in "uU":
        c = int(tok[2:], 16)
        return chr(c) if c <= 0x10FFFF and not 0xD800 <= c <= 0xDFFF else "\ud800"  # refused below
    return tok[1]


def _scan(pattern: str, flags: int) -> list[str] | None:
    """The literal alternatives of ``pattern`` (``|`` at the top level only), or None. The
    tokenising and the checks run in C (``findall``, ``map``, ``accumulate``)."""
    if not pattern or flags & ~_NEUTRAL_FLAGS or (flags & re.ASCII and flags & re.UNICODE):
        return None
    toks = _TOKEN.findall(pattern)
    if sum(map(len, toks)) != len(pattern):  # a character no token matches
        return None
    depth = list(itertools.accumulate(map(_DELTA.get, toks, itertools.repeat(0))))
    if depth[-1] != 0 or min(depth) < 0:
        return None
    if "|" in toks:
        cuts = [i for i, t in enumerate(toks) if t == "|"]
        if any(depth[i] for i in cuts):
            return None
        bounds = [-1] + cuts + [len(toks)]
        alts = ["".join(map(_token_text, toks[lo + 1:hi])) for lo, hi in zip(bounds, bounds[1:])]
    else:
        alts = ["".join(map(_token_text, toks))]
    for a in alts:
        if not a or (not a.isascii() and any(0xD800 <= ord(ch) <= 0xDFFF for ch in a)):
            return None
    return alts


def alternatives_dfa(alts: list[str]):
    """The minimal trimmed byte DFA of the finite language ``alts`` (ASCII strings), numbered as
    `constrain.regex.automata.build_dfa` numbers it (breadth-first from the start, transitions
    in byte order). The trie's states are merged bottom-up by their (accepting, transitions)
    signature, which minimises an acyclic DFA. O(total length)."""
    from .automata import ByteDFA

    kids: list[dict] = [{}]
    final = [False]
    for a in alts:
        node = 0
        for b in a.encode("ascii"):
            nxt = kids[node].get(b)
            if nxt is None:
                nxt = kids[node][b] = len(kids)
                kids.append({})
                final.append(False)
            node = nxt
        final[node] = True
    canon = [0] * len(kids)
    sig_id: dict = {}
    reps: list[int] = []
    for node in range(len(kids) - 1, -1, -1):  # children are numbered after their parent
        sig = (final[node], tuple(sorted((b, canon[c]) for b, c in kids[node].items())))
        j = sig_id.get(sig)
        if j is None:
            j = sig_id[sig] = len(reps)
            reps.append(node)
        canon[node] = j
    new_id = {canon[0]: 0}
    order = [reps[canon[0]]]
    k = 0
    while k < len(order):
        for b, c in sorted(kids[order[k]].items()):
            if canon[c] not in new_id:
                new_id[canon[c]] = len(order)
                order.append(reps[canon[c]])
        k += 1
    trans = np.full((len(order), 256), -1, dtype=np.int32)
    acc = np.zeros(len(order), dtype=bool)
    for i, node in enumerate(order):
        for b, c in kids[node].items():
            trans[i, b] = new_id[canon[c]]
        acc[i] = final[node]
    return ByteDFA(trans, acc)


def chain_dfa(text: str):
    """The minimal trimmed byte DFA of the one string ``text``, numbered exactly as
    `constrain.regex.automata.build_dfa` numbers it: code-point states ``0..k`` along the
    string, then the mid-character states in creation order (per character, the deepest first)."""
    from .automata import ByteDFA

    enc = [ch.encode("utf-8") for ch in text]
    k = len(enc)
    n = k + 1 + sum(len(b) - 1 for b in enc)
    trans = np.full((n, 256), -1, dtype=np.int32)
    nxt = k + 1
    for i, b in enumerate(enc):
        if len(b) == 1:
            trans[i, b[0]] = i + 1
            continue
        tgt = i + 1  # the mid-character states, from the last byte back to the second
        for byte in b[:0:-1]:
            trans[nxt, byte] = tgt
            tgt = nxt
            nxt += 1
        trans[i, b[0]] = tgt
    acc = np.zeros(n, dtype=bool)
    acc[k] = True
    return ByteDFA(trans, acc)
