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

import re

import numpy as np

__all__ = ["literal_text", "chain_dfa"]

# one token of a literal pattern: a group open / close, a \u / \U escape, an escaped
# non-alphanumeric ASCII character, or a character without special meaning outside a class
_TOKEN = re.compile(r"\(\?:|\)|\\u[0-9a-fA-F]{4}|\\U[0-9a-fA-F]{8}|\\[\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]"
                    r"|[^\\.^$*+?{}\[\]|()]")
# flags under which a literal means itself (IGNORECASE, VERBOSE, LOCALE change it; ASCII and
# UNICODE together are an error in ``re``)
_NEUTRAL_FLAGS = re.ASCII | re.UNICODE | re.DOTALL | re.MULTILINE


def literal_text(pattern: str, flags: int = 0) -> str | None:
    """The one string ``pattern`` matches when the pattern is a plain literal (see the module
    docstring), else None (also for the empty pattern and for surrogate code points). O(len)."""
    if not pattern or flags & ~_NEUTRAL_FLAGS or (flags & re.ASCII and flags & re.UNICODE):
        return None
    out = []
    depth = 0
    pos = 0
    n = len(pattern)
    match = _TOKEN.match
    while pos < n:
        m = match(pattern, pos)
        if m is None:
            return None
        tok = m.group()
        pos = m.end()
        if tok == "(?:":
            depth += 1
        elif tok == ")":
            depth -= 1
            if depth < 0:
                return None
        elif len(tok) == 1:
            out.append(tok)
        elif tok[1] in "uU":
            c = int(tok[2:], 16)
            if c > 0x10FFFF:
                return None
            out.append(chr(c))
        else:
            out.append(tok[1])
    if depth:
        return None
    text = "".join(out)
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
        return None
    return text


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
