"""Exact length bounds on a pattern/format string: the product of the value's byte DFA (as JSON
text, escapes included) with a code-point counter.

``length_bounded_dfa(tree, mn, mx)`` gives the byte DFA of the JSON string literals (quotes
included) whose decoded value is in the language of ``tree`` and has ``mn`` to ``mx`` code
points. Construction:

1. ``V`` = the minimal byte DFA of the value (UTF-8 of the decoded string).
2. ``J`` = ``V`` read as JSON text: a byte that JSON must escape (``"``, ``\\``, control
   characters) is replaced by its escapes (``\\"``, ``\\\\``, ``\\n``-style short forms and every
   ``\\u00XX`` spelling of a control character: what `jsontext._chars_json` writes) through a few
   intermediate states per value state; every other byte is read as itself (non-ASCII code
   points are written literally). Each ``J`` edge carries ``inc`` = 1 when it starts a code point
   (a UTF-8 lead byte or the backslash of an escape), else 0.
3. the product ``(J state, count)`` for counts ``0..mx``, layer by layer: forward reachability
   and backward co-reachability (accepting needs ``count >= mn``) are computed with ``m x m``
   boolean adjacency matrices per layer (``inc = 0`` edges closed within a layer), so the cost
   is O(mx * m^2 / 64) plus the final table, not O(states * 256 * mx).

Only reachable, co-reachable states are kept (the DFA is trimmed as `ByteDFA` requires; it is not
minimised). More than ``max_states`` product states raises `_TooLarge` (the caller refuses the
keyword rather than approximating).
"""

from __future__ import annotations

import numpy as np

from ..regex.automata import ByteDFA, build_dfa

_SHORT = {0x08: ord("b"), 0x09: ord("t"), 0x0A: ord("n"), 0x0C: ord("f"), 0x0D: ord("r"),
          0x22: ord('"'), 0x5C: ord("\\")}
_HEX = {c: v for v, c in enumerate(b"0123456789abcdef")} | {c: v for v, c in enumerate(b"ABCDEF", 10)}
_SPECIAL = np.zeros(256, dtype=bool)
_SPECIAL[:0x20] = True
_SPECIAL[[0x22, 0x5C]] = True
_LEAD = np.ones(256, dtype=bool)
_LEAD[0x80:0xC0] = False  # UTF-8 continuation bytes do not start a code point
MAX_PRODUCT_STATES = 12_000


class TooLarge(Exception):
    """The exact product has more states than allowed."""


def json_text_dfa(value: ByteDFA) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(trans, inc, accepting) of ``J``: the value DFA read over JSON string text (see module
    docstring). ``trans`` int64 [m, 256] with -1 for no edge; ``inc`` uint8 [m, 256]."""
    V = value.transitions.astype(np.int64)
    n = V.shape[0]
    has_special = (V[:, _SPECIAL] >= 0).any(axis=1)
    owners = np.nonzero(has_special)[0]
    m = n + 6 * len(owners)
    trans = np.full((m, 256), -1, dtype=np.int64)
    inc = np.zeros((m, 256), dtype=np.uint8)
    plain = ~_SPECIAL
    trans[:n, plain] = V[:, plain]
    inc[:n] = _LEAD.astype(np.uint8)
    for j, q in enumerate(owners.tolist()):
        esc, u0, u1, u2, u30, u31 = (n + 6 * j + i for i in range(6))
        trans[q, 0x5C] = esc
        for ch, code in _SHORT.items():
            if V[q, ch] >= 0:
                trans[esc, code] = V[q, ch]
        trans[esc, ord("u")], trans[u0, ord("0")], trans[u1, ord("0")] = u0, u1, u2
        trans[u2, ord("0")], trans[u2, ord("1")] = u30, u31
        for hi, state in ((0, u30), (1, u31)):
            for c, v in _HEX.items():
                tgt = V[q, hi * 16 + v]
                if tgt >= 0:
                    trans[state, c] = tgt
    inc *= trans >= 0
    acc = np.zeros(m, dtype=bool)
    acc[:n] = value.accepting
    return trans, inc, acc


def _adjacency(trans: np.ndarray, inc: np.ndarray, which: int) -> np.ndarray:
    """Boolean [m, m]: some byte leads from row to column with ``inc == which``."""
    m = trans.shape[0]
    adj = np.zeros((m, m), dtype=bool)
    rows, cols = np.nonzero((trans >= 0) & (inc == which))
    adj[rows, trans[rows, cols]] = True
    return adj


def _close(adj0: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``mask`` closed under the edges of ``adj0`` (row → column)."""
    while True:
        nxt = mask | adj0[mask].any(axis=0)
        if (nxt == mask).all():
            return mask
        mask = nxt


def length_bounded_dfa(tree, mn: int, mx: int, max_states: int = MAX_PRODUCT_STATES) -> ByteDFA | None:
    """The JSON string literals of ``tree``'s values with ``mn..mx`` code points (module
    docstring); None when there are none. Raises `TooLarge` beyond ``max_states``."""
    value = tree if isinstance(tree, ByteDFA) else build_dfa(tree)  # a tree, or the value's DFA
    if value.n_states == 0:
        return None
    trans, inc, acc = json_text_dfa(value)
    m = trans.shape[0]
    if (mx + 1) * m > 50 * max_states:  # even the layered sweep would be too slow
        raise TooLarge()
    a0, a1 = _adjacency(trans, inc, 0), _adjacency(trans, inc, 1)
    a0t, a1t = a0.T.copy(), a1.T.copy()
    reach = np.zeros((mx + 1, m), dtype=bool)
    cur = np.zeros(m, dtype=bool)
    cur[0] = True
    for k in range(mx + 1):
        cur = reach[k] = _close(a0, cur)
        cur = a1[cur].any(axis=0)
        if not cur.any():
            break
    live = np.zeros((mx + 1, m), dtype=bool)
    nxt = np.zeros(m, dtype=bool)
    for k in range(mx, -1, -1):
        base = (acc if k >= mn else np.zeros(m, dtype=bool)) | a1t[nxt].any(axis=0)
        nxt = live[k] = _close(a0t, base)
    keep = reach & live
    n_keep = int(keep.sum())
    if n_keep == 0:
        return None
    if n_keep > max_states:
        raise TooLarge()
    # numbering: 0 = before the opening quote, 1..n_keep = product states, n_keep + 1 = closed
    ids = np.full((mx + 2, m), -1, dtype=np.int64)  # layer mx + 1: never kept
    ks, ss = np.nonzero(keep)
    order = np.lexsort((ss, ks))
    ks, ss = ks[order], ss[order]
    ids[ks, ss] = np.arange(1, n_keep + 1)
    out = np.full((n_keep + 2, 256), -1, dtype=np.int64)
    out[0, 0x22] = ids[0, 0]
    t = trans[ss]  # [n_keep, 256]
    nk = ks[:, None] + inc[ss].astype(np.int64)
    ok = (t >= 0) & (nk <= mx)
    tgt = np.where(ok, ids[np.minimum(nk, mx + 1), np.maximum(t, 0)], -1)
    out[1:n_keep + 1] = tgt
    closing = acc[ss] & (ks >= mn)
    out[1:n_keep + 1][closing, 0x22] = n_keep + 1
    accepting = np.zeros(n_keep + 2, dtype=bool)
    accepting[-1] = True
    return ByteDFA(np.ascontiguousarray(out.astype(np.int32)), accepting)

