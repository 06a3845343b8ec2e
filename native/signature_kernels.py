"""numba kernels that sign chart positions: canonical ids of Earley sets' futures, interned in
an exact hash table held in plain arrays (`constrain.grammar.signatures.NativeTable`).

The chart arrays are `native/earley_kernels.py`'s (``pos``, ``sc``, ``it``, ``ns``). A
position's *key* is its content with every origin replaced by the signature of the position
there (its own position by -1): ``[accept, #N, N..., #scan, scan..., #waiting, waiting...]``
where N (predicted nonterminals) is sorted, scan items are ``DFA state << 32 | (origin sig + 1)``
and waiting items ``dotted rule << 32 | (origin sig + 1)``, each sorted and deduplicated (so two
items whose origins have equal futures count once, as in a set). Equal keys, equal futures: the
same continuations are accepted from both positions, so they have the same token mask.

The table (one per engine, mutated under its lock): ``slots`` int64 [2^k] open addressing (entry
index + 1, 0 empty), per entry ``e_start``/``e_len`` (its key in ``arena``), ``e_hash``, ``e_id``;
``meta`` int64 [8]: `M_NEXT` (last id handed out, shared with the Python table so that ids are
never reused), `M_N` (entries), `M_ARENA` (arena words used), `M_STAMP` (the epoch of ``mark``),
`M_NEED` (the size a `CAP` status asks for), `M_MAX` (entries allowed before the table is
cleared: `FULL`). Keys are compared word by word, so a hash collision never merges two futures.

Status codes: `OK`; `CAP` with ``meta[M_CAPW]`` naming the array to grow (`W_TODO`, `W_BUF`,
`W_ARENA`, `W_ENTRIES`, `W_SLOTS`) to at least ``meta[M_NEED]``; `FULL`. Every status leaves
the table and the chart valid (positions signed so far keep their ids), so the caller grows or
clears and calls again. Plain typed arrays, ``cache=True``, ``nogil=True``.
"""

from __future__ import annotations

import numba
import numpy as np

from .earley_kernels import C_ACC, C_BYTE, C_IT, C_NS, C_SC, C_SIG

OK, CAP, FULL = 0, 1, 2
W_TODO, W_BUF, W_ARENA, W_ENTRIES, W_SLOTS, W_MARK = 1, 2, 3, 4, 5, 6
M_NEXT, M_N, M_ARENA, M_STAMP, M_NEED, M_MAX, M_CAPW = 0, 1, 2, 3, 4, 5, 6

_MUL = np.int64(-7046029254386353131)


@numba.njit(cache=True, nogil=True, inline="always")
def _sort_unique(buf, s0, cnt):
    """Sort ``buf[s0:s0 + cnt]`` and drop repeats in place. Returns the new count."""
    if cnt > 1:
        buf[s0:s0 + cnt].sort()
        k = 1
        for x in range(1, cnt):
            if buf[s0 + x] != buf[s0 + k - 1]:
                buf[s0 + k] = buf[s0 + x]
                k += 1
        cnt = k
    return cnt


@numba.njit(cache=True, nogil=True, inline="always")
def _packed(pos, items, p, col, buf, at, relative):
    """Write position ``p``'s items of ``items`` (``sc`` or ``it``: (symbol, origin) rows in
    ``pos[p, col] .. pos[p + 1, col]``) as sorted, deduplicated packed words at ``buf[at + 1:]``,
    their count at ``buf[at]``; origins as signature + 1 (0 for ``p`` itself) or, ``relative``,
    as distances back from ``p``. Returns the next free index."""
    a = pos[p, col]
    b = pos[p + 1, col]
    s0 = at + 1
    for x in range(a, b):
        o = items[x, 1]
        if relative:
            m = np.int64(p - o)
        else:
            m = (np.int64(-1) if o == p else pos[o, C_SIG]) + 1
        buf[s0 + x - a] = (np.int64(items[x, 0]) << 32) | m
    cnt = _sort_unique(buf, s0, b - a)
    buf[at] = cnt
    return s0 + cnt


@numba.njit(cache=True, nogil=True, inline="always")
def _key(pos, sc, it, ns, p, buf, meta, relative):
    """Write position ``p``'s key (module docstring; a template's when ``relative``) into
    ``buf``. Returns its length, or -1 when ``buf`` is too small (``meta`` says how large)."""
    need = 5 + (pos[p + 1, C_NS] - pos[p, C_NS]) + (pos[p + 1, C_SC] - pos[p, C_SC]) \
        + (pos[p + 1, C_IT] - pos[p, C_IT])
    if need > buf.shape[0]:
        meta[M_CAPW] = W_BUF
        meta[M_NEED] = need
        return -1
    buf[0] = (2 if relative else 0) + (1 if pos[p, C_ACC] != 0 else 0)
    a = pos[p, C_NS]
    nN = pos[p + 1, C_NS] - a
    buf[1] = nN
    for x in range(nN):
        buf[2 + x] = ns[a + x]
    L = _packed(pos, sc, p, C_SC, buf, 2 + nN, relative)
    return _packed(pos, it, p, C_IT, buf, L, relative)


@numba.njit(cache=True, nogil=True, inline="always")
def _push_origins(pos, items, col, p, mark, stamp, todo, nt, meta):
    """Append to ``todo`` the unmarked unsigned origins of position ``p``'s ``items``. Returns
    the new count, or -1 (``todo`` too small)."""
    for x in range(pos[p, col], pos[p + 1, col]):
        o = items[x, 1]
        if o != p and mark[o] != stamp and pos[o, C_SIG] < 0:
            nt = _push(o, mark, stamp, todo, nt, meta)
            if nt < 0:
                return -1
    return nt


@numba.njit(cache=True, nogil=True, inline="always")
def _push(j, mark, stamp, todo, nt, meta):
    """Mark position ``j`` and append it to ``todo``. Returns the new count, or -1 (``todo`` too
    small; ``meta`` says)."""
    if nt >= todo.shape[0]:
        meta[M_CAPW] = W_TODO
        meta[M_NEED] = 2 * todo.shape[0]
        return -1
    mark[j] = stamp
    todo[nt] = j
    return nt + 1


@numba.njit(cache=True, nogil=True)
def _collect(pos, sc, it, i, mark, todo, meta):
    """The unsigned positions that position ``i`` reaches through origins, and the unsigned run
    just before ``i`` along read bytes (so that byte transitions between signatures are
    recorded; a virtual position, byte -1, has none: what lies before it is not its past), in
    increasing order in ``todo``. Returns their number, or -1 (``todo`` too small; ``meta``
    says)."""
    if meta[M_STAMP] >= (1 << 30):
        mark[:] = 0
        meta[M_STAMP] = 0
    stamp = np.int32(meta[M_STAMP] + 1)
    meta[M_STAMP] = stamp
    nt = 0
    j = i
    while pos[j, C_SIG] < 0:
        nt = _push(j, mark, stamp, todo, nt, meta)
        if nt < 0:
            return -1
        if j == 0 or pos[j, C_BYTE] < 0:
            break
        j -= 1
    k = 0
    while k < nt:
        p = todo[k]
        k += 1
        nt = _push_origins(pos, sc, C_SC, p, mark, stamp, todo, nt, meta)
        if nt >= 0:
            nt = _push_origins(pos, it, C_IT, p, mark, stamp, todo, nt, meta)
        if nt < 0:
            return -1
    todo[:nt].sort()
    return nt


@numba.njit(cache=True, nogil=True)
def _intern(buf, L, slots, e_start, e_len, e_hash, e_id, arena, meta):
    """The id of key ``buf[:L]`` (a new id when unseen). -1: an array is too small (``meta``
    says which), -2: the table holds ``meta[M_MAX]`` entries."""
    h = np.int64(L)
    for x in range(L):
        h = (h ^ buf[x]) * _MUL
        h ^= h >> 29
    mask = slots.shape[0] - 1
    s = h & mask
    while True:
        e = slots[s] - 1
        if e < 0:
            break
        if e_hash[e] == h and e_len[e] == L:
            st = e_start[e]
            same = True
            for x in range(L):
                if arena[st + x] != buf[x]:
                    same = False
                    break
            if same:
                return e_id[e]
        s = (s + 1) & mask
    n = meta[M_N]
    if n >= meta[M_MAX]:
        return -2
    if meta[M_ARENA] + L > arena.shape[0]:
        meta[M_CAPW] = W_ARENA
        meta[M_NEED] = meta[M_ARENA] + L
        return -1
    if n >= e_id.shape[0]:
        meta[M_CAPW] = W_ENTRIES
        meta[M_NEED] = n + 1
        return -1
    if 2 * (n + 1) > slots.shape[0]:
        meta[M_CAPW] = W_SLOTS
        meta[M_NEED] = 2 * slots.shape[0]
        return -1
    st = meta[M_ARENA]
    arena[st:st + L] = buf[:L]
    e_start[n] = st
    e_len[n] = L
    e_hash[n] = h
    sid = meta[M_NEXT] + 1
    meta[M_NEXT] = sid
    e_id[n] = sid
    slots[s] = n + 1
    meta[M_N] = n + 1
    meta[M_ARENA] = st + L
    return sid


@numba.njit(cache=True, nogil=True)
def sign(pos, sc, it, ns, i, mark, todo, buf, out, slots, e_start, e_len, e_hash, e_id, arena,
         meta):
    """Sign position ``i`` of a chart and every unsigned position it depends on (written to
    ``pos[:, C_SIG]``). ``out`` int64 [>= len(todo), 2] receives, per newly signed position
    read by a byte from a signed predecessor, ``(sig of p - 1) << 8 | byte`` and its id.
    Returns (status, rows of ``out``, whether position 0 was signed). ``mark`` int32 must be
    longer than ``i`` (else `CAP` `W_MARK`). Cost: O(items of the positions signed) plus a sort
    of each position's items."""
    if mark.shape[0] <= i:
        meta[M_CAPW] = W_MARK
        meta[M_NEED] = 2 * i + 2
        return CAP, 0, False
    nt = _collect(pos, sc, it, i, mark, todo, meta)
    if nt < 0:
        return CAP, 0, False
    first = nt > 0 and todo[0] == 0
    nout = 0
    for k in range(nt):
        p = todo[k]
        L = _key(pos, sc, it, ns, p, buf, meta, False)
        if L < 0:
            return CAP, nout, first
        sid = _intern(buf, L, slots, e_start, e_len, e_hash, e_id, arena, meta)
        if sid < 0:
            return (CAP if sid == -1 else FULL), nout, first
        pos[p, C_SIG] = sid
        q = pos[p - 1, C_SIG] if p > 0 else np.int64(-1)
        b = pos[p, C_BYTE]
        if q >= 0 and b >= 0 and p > 0:
            out[nout, 0] = (q << 8) | b
            out[nout, 1] = sid
            nout += 1
    return OK, nout, first


@numba.njit(cache=True, nogil=True)
def template(pos, sc, it, ns, p, n0, buf, slots, e_start, e_len, e_hash, e_id, arena, meta):
    """The id of virtual position ``p``'s *relative* content: its key with every origin written
    as its distance back from ``p`` (a template: equal for two positions whose items are the
    same up to a shift). -1 when an item's origin is below ``n0`` (in the chart: no template),
    -2 `CAP`, -3 `FULL`. Keys start with ``2 + accept`` (absolute ones with 0 or 1), so a
    template and a signature never share an id."""
    for col in (C_SC, C_IT):
        items = sc if col == C_SC else it
        for x in range(pos[p, col], pos[p + 1, col]):
            if items[x, 1] < n0:
                return -1
    L = _key(pos, sc, it, ns, p, buf, meta, True)
    if L < 0:
        return -2
    sid = _intern(buf, L, slots, e_start, e_len, e_hash, e_id, arena, meta)
    return sid if sid >= 0 else sid - 1


@numba.njit(cache=True, nogil=True)
def rehash(slots, e_hash, n):
    """Fill empty ``slots`` with entries ``0 .. n - 1`` (after growing or clearing)."""
    mask = slots.shape[0] - 1
    for e in range(n):
        s = e_hash[e] & mask
        while slots[s] != 0:
            s = (s + 1) & mask
        slots[s] = e + 1
