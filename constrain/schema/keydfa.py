"""Direct byte DFAs for "a JSON string whose value is none of these keys" (additional object
keys, ``not`` of string values), built from the keys' byte trie in time linear in their total
length instead of compiling `jsontext._not_keys_pattern` (regex parse, subset construction and
UTF-8 expansion of full-Unicode classes: the largest part of a typical schema's compile time).

The language is exactly `_not_keys_pattern`'s: ``"`` then code points written plainly (any code
point but controls, ``"``, ``\\`` and surrogates, as UTF-8) or as the escapes ``\\"``, ``\\\\``,
``\\b \\f \\n \\r \\t`` and ``\\u00XX`` (controls, any hex case), then ``"``, then ``suffix``
(a DFA, e.g. the key's colon). States: the trie nodes over the keys' UTF-8 bytes, and a *free*
copy of a UTF-8 validator (a byte leaving the trie continues there, in the validator state the
bytes so far put it in), plus escape states. Keys holding escaped characters are not handled
(None: the caller compiles the regex).
"""

from __future__ import annotations

import numpy as np

from ..regex.automata import ByteDFA
from ..regex.memo import BoundedCache

# UTF-8 validator states for plain JSON string characters
_B, _C1, _C2, _C3, _E0, _ED, _F0, _F4 = range(8)
_ESC, _U0, _U1, _U2, _U3 = range(8, 13)
_N_FREE = 13


def _validator() -> np.ndarray:
    """[8, 256] next validator state (-1 invalid) from each UTF-8 validator state."""
    t = np.full((8, 256), -1, dtype=np.int64)
    t[_B, 0x20:0x80] = _B
    t[_B, [0x22, 0x5C]] = -1
    t[_B, 0xC2:0xE0] = _C1
    t[_B, 0xE1:0xF0] = _C2
    t[_B, 0xE0], t[_B, 0xED] = _E0, _ED
    t[_B, 0xF1:0xF4] = _C3
    t[_B, 0xF0], t[_B, 0xF4] = _F0, _F4
    t[_C1, 0x80:0xC0] = _B
    t[_C2, 0x80:0xC0] = _C1
    t[_C3, 0x80:0xC0] = _C2
    t[_E0, 0xA0:0xC0] = _C1
    t[_ED, 0x80:0xA0] = _C1  # no surrogates
    t[_F0, 0x90:0xC0] = _C2
    t[_F4, 0x80:0x90] = _C2
    return t


_UTF8 = _validator()


def _free_table() -> np.ndarray:
    """[13, 256] transitions of the free region (validator + escapes), free-local numbering;
    the closing quote is added by the caller."""
    t = np.full((_N_FREE, 256), -1, dtype=np.int64)
    t[:8] = _UTF8
    t[_B, 0x5C] = _ESC
    for c in b'"\\bfnrt':
        t[_ESC, c] = _B
    t[_ESC, ord("u")] = _U0
    t[_U0, ord("0")] = _U1
    t[_U1, ord("0")] = _U2
    t[_U2, ord("0")] = t[_U2, ord("1")] = _U3
    for c in b"0123456789abcdefABCDEF":
        t[_U3, c] = _B
    return t


_FREE = _free_table()


_MEMO = BoundedCache(max_entries=1024, max_bytes=64 << 20)


def _dfa_key(d: ByteDFA | None):
    return None if d is None else (d.transitions.shape, d.transitions.tobytes(), d.accepting.tobytes())


def _dfa_bytes(d: ByteDFA | None) -> int:
    return 0 if d is None else d.transitions.nbytes + d.accepting.nbytes


def not_keys_dfa(excluded: list[str], suffix: ByteDFA | None = None) -> ByteDFA | None:
    """The DFA described in the module docstring; None when a key holds a character JSON
    escapes (then the regex is compiled instead). Cost O(total key bytes * 256), memoised per
    (keys, suffix) in a bounded process-wide cache (the result is shared: do not mutate it)."""
    key = ("not_keys", tuple(excluded), _dfa_key(suffix))
    return _MEMO.get_or_build(key, lambda: _not_keys_dfa(excluded, suffix), _dfa_bytes)


def _not_keys_dfa(excluded: list[str], suffix: ByteDFA | None) -> ByteDFA | None:
    if any(ord(c) < 0x20 or c in '"\\' or 0xD800 <= ord(c) <= 0xDFFF for k in excluded for c in k):
        return None
    # trie over UTF-8 bytes: node -> {byte: child}, its validator state and whether a key ends
    kids: list[dict] = [{}]
    vstate = [_B]
    is_key = [False]
    for k in excluded:
        node = 0
        for b in k.encode("utf-8"):
            nxt = kids[node].get(b)
            if nxt is None:
                nxt = kids[node][b] = len(kids)
                kids.append({})
                vstate.append(int(_UTF8[vstate[node], b]))
                is_key.append(False)
            node = nxt
        is_key[node] = True
    n_trie = len(kids)
    # numbering: 0 = before the opening quote, 1..n_trie = trie nodes, then the free region,
    # then the closing quote's state, then the suffix
    trie0, free0 = 1, 1 + n_trie
    close = free0 + _N_FREE
    suf0 = close + 1
    n_suf = 0 if suffix is None else suffix.n_states
    out = np.full((suf0 + n_suf, 256), -1, dtype=np.int64)
    out[0, 0x22] = trie0
    free = np.where(_FREE >= 0, _FREE + free0, -1)
    out[free0:close] = free
    out[free0 + _B, 0x22] = close
    vs = np.asarray(vstate, dtype=np.int64)
    out[trie0:free0] = free[vs]  # leaving the trie: the free copy of the validator state
    for node, ch in enumerate(kids):
        row = out[trie0 + node]
        for b, child in ch.items():
            row[b] = trie0 + child
        if vstate[node] == _B:
            row[0x22] = -1 if is_key[node] else close
    accepting = np.zeros(out.shape[0], dtype=bool)
    if suffix is None:
        accepting[close] = True
    else:
        st = suffix.transitions.astype(np.int64)
        out[suf0:] = np.where(st >= 0, st + suf0, -1)
        out[close] = out[suf0]  # the suffix's start state, entered by the closing quote
        accepting[close] = bool(suffix.accepting[0])
        accepting[suf0:] = suffix.accepting
    return ByteDFA(np.ascontiguousarray(out.astype(np.int32)), accepting)


# any JSON string unit (`jsontext._UNIT`): plain code points, or any escape, \uXXXX without surrogates
_ESC_ANY, _V0, _V1, _V1D, _V2, _V3 = range(8, 14)
_N_UNIT = 14
_HEXB = b"0123456789abcdefABCDEF"


def _unit_table() -> np.ndarray:
    t = np.full((_N_UNIT, 256), -1, dtype=np.int64)
    t[:8] = _UTF8
    t[_B, 0x5C] = _ESC_ANY
    for c in b'"\\/bfnrt':
        t[_ESC_ANY, c] = _B
    t[_ESC_ANY, ord("u")] = _V0
    for c in b"0123456789abcABCefEF":
        t[_V0, c] = _V1
    t[_V0, ord("d")] = t[_V0, ord("D")] = _V1D
    for c in _HEXB:
        t[_V1, c] = _V2
        t[_V2, c] = _V3
        t[_V3, c] = _B
    for c in b"01234567":
        t[_V1D, c] = _V2
    return t


_UNIT_T = _unit_table()
_STARTS = np.zeros((_N_UNIT, 256), dtype=bool)  # edges that start a code point (counted)
_STARTS[_B] = _UNIT_T[_B] >= 0


def unit_string_dfa(mn: int, mx: int | None, suffix: ByteDFA | None = None) -> ByteDFA:
    """``"`` then ``mn..mx`` JSON string units (`jsontext._UNIT`: any escape) then ``"`` and
    ``suffix``: exactly ``'"' + _UNIT{mn,mx} + '"'``, as ``(count, unit state)`` layers
    (``mx`` None: the last layer, ``mn``, loops). O(layers * 14 * 256), no regex compilation;
    memoised per (mn, mx, suffix) like `not_keys_dfa` (the result is shared: do not mutate it)."""
    key = ("unit_string", mn, mx, _dfa_key(suffix))
    return _MEMO.get_or_build(key, lambda: _unit_string_dfa(mn, mx, suffix), _dfa_bytes)


def _unit_string_dfa(mn: int, mx: int | None, suffix: ByteDFA | None) -> ByteDFA:
    top = mn if mx is None else mx
    layers = top + 1
    n_core = layers * _N_UNIT
    close = 1 + n_core
    suf0 = close + 1
    n_suf = 0 if suffix is None else suffix.n_states
    out = np.full((suf0 + n_suf, 256), -1, dtype=np.int32)
    out[0, 0x22] = 1  # layer 0, state B
    k = np.arange(layers)[:, None, None]
    nk = k + _STARTS[None].astype(np.int64)
    if mx is None:
        nk = np.minimum(nk, top)
    tgt = np.where((_UNIT_T[None] >= 0) & (nk <= top), 1 + nk * _N_UNIT + _UNIT_T[None], -1)
    out[1:close] = tgt.reshape(n_core, 256)
    closable = np.arange(layers) >= mn
    out[1 + np.nonzero(closable)[0] * _N_UNIT + _B, 0x22] = close
    accepting = np.zeros(out.shape[0], dtype=bool)
    if suffix is None:
        accepting[close] = True
    else:
        st = suffix.transitions.astype(np.int32)
        out[suf0:] = np.where(st >= 0, st + suf0, -1)
        out[close] = out[suf0]
        accepting[close] = bool(suffix.accepting[0])
        accepting[suf0:] = suffix.accepting
    return ByteDFA(out, accepting)
