"""numba kernels for item tries (``constrain.items``): build, K-candidate step, masks, beam top-k.

Index layout (built by :func:`scan_sorted` + :func:`emit_nodes`, see ``constrain.items``)
------------------------------------------------------------------------------------------
States are trie nodes numbered **level by level** (root = 0, then every depth-1 prefix in
lexicographic order, then every depth-2 prefix, ...). Edges are stored in CSR order of their
parent, children of a node in increasing token order. With this numbering the child reached by
edge ``e`` is node ``e + 1``, so the CSR needs no "next state" column:

* ``indptr int32[S + 1]``: the children of ``s`` are the edges ``indptr[s] .. indptr[s+1]-1``;
* ``tokens int32[S - 1]``: ``tokens[e]`` labels edge ``e``, whose child state is ``e + 1``;
* ``end_bits uint8[ceil(S / 8)]``: bit ``s & 7`` of byte ``s >> 3`` says prefix ``s`` is an item.

``done = S`` is the pseudo-state after an end-of-sequence token; ``-1`` is "no state".

All kernels take plain arrays (``cache=True, nogil=True``) and never allocate per row.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def scan_sorted(C, lens, order):  # pragma: no cover - compiled
    """First pass over the rows of ``C`` in the (lexicographic) order ``order``.

    Parameters
    ----------
    C : int32[N, L]
        Items, padded (the padding is never read).
    lens : int32[N]
        Item lengths (>= 1).
    order : int64[N]
        Row permutation that sorts the items lexicographically (a prefix before its extensions).

    Returns
    -------
    lcp : int32[N]
        Length of the common prefix with the previous distinct row in order; ``-1`` marks a
        duplicate (skipped by :func:`emit_nodes`).
    counts : int64[L + 1]
        ``counts[d]``: number of distinct prefixes of length ``d`` (trie nodes at depth ``d``).
    unsorted : int64
        Index in ``order`` of the first row that compares below its predecessor, or -1. The
        caller sorts, so this is a cheap assertion against silent trie corruption.

    Cost: O(N * L) reads, no allocation besides the outputs.
    """
    n = order.shape[0]
    L = C.shape[1]
    lcp = np.empty(n, np.int32)
    counts = np.zeros(L + 1, np.int64)
    prev = -1
    unsorted = -1
    for i in range(n):
        r = order[i]
        ln = lens[r]
        l = 0
        if prev >= 0:
            lp = lens[prev]
            m = min(ln, lp)
            while l < m and C[r, l] == C[prev, l]:
                l += 1
            if l == ln and l == lp:
                lcp[i] = -1
                continue
            if unsorted < 0 and (l == ln or (l < m and C[r, l] < C[prev, l])):
                unsorted = i
        lcp[i] = l
        for d in range(l + 1, ln + 1):
            counts[d] += 1
        prev = r
    return lcp, counts, unsorted


@numba.njit(cache=True, nogil=True)
def emit_nodes(C, lens, order, lcp, level_start, n_states):  # pragma: no cover - compiled
    """Second pass: number the nodes level by level and emit the edges.

    ``level_start[d]`` is the id of the first node at depth ``d`` (``level_start[0] = 0``).
    Returns ``tokens int32[S-1]`` (edge ``e`` leads to node ``e + 1``), ``deg int32[S]`` (out-degree)
    and ``is_end uint8[S]``. Cost: O(N * L).
    """
    L = C.shape[1]
    tokens = np.empty(max(n_states - 1, 0), np.int32)
    deg = np.zeros(n_states, np.int32)
    is_end = np.zeros(n_states, np.uint8)
    cursor = level_start.copy()
    path = np.zeros(L + 1, np.int64)
    for i in range(order.shape[0]):
        l = lcp[i]
        if l < 0:
            continue
        r = order[i]
        ln = lens[r]
        for d in range(l + 1, ln + 1):
            nid = cursor[d]
            cursor[d] += 1
            tokens[nid - 1] = C[r, d - 1]
            deg[path[d - 1]] += 1
            path[d] = nid
        is_end[path[ln]] = 1
    return tokens, deg, is_end


@numba.njit(cache=True, nogil=True)
def step(indptr, tokens, end_bits, states, logp, K, eos_id, done, out_tok, out_lp, out_next):  # pragma: no cover
    """Batched K-candidate step (STATIC's "VNTK" gather), fixed output width ``K + 1``.

    For row ``r`` in state ``s = states[r]``: columns ``0..deg(s)-1`` hold the children of ``s``
    (token, ``logp[r, token]``, next state = edge + 1), the rest of ``0..K-1`` are padding
    (``-1``, ``-inf``, ``-1``), and column ``K`` is the end-of-sequence candidate: valid when ``s``
    is a complete item (log-prob ``logp[r, eos_id]``, or ``0`` when ``eos_id < 0``; token
    ``eos_id``; next ``done``) or when ``s == done`` (log-prob 0: a finished item stays finished).
    Rows with ``s < 0`` get padding only.

    Returns the number of rows whose degree exceeded ``K`` (their extra children were dropped;
    the caller treats a non-zero value as an error). Cost: O(rows * (K + 1)).
    """
    ninf = -np.inf
    R = states.shape[0]
    starts = np.empty(R, np.int64)
    ends = np.empty(R, np.int64)
    truncated = 0
    # three passes so that the cache misses of different rows overlap (no dependent chains):
    # row pointers, then the tokens, then the log-probs
    for r in range(R):
        s = states[r]
        if s >= 0 and s < done:
            starts[r] = indptr[s]
            ends[r] = indptr[s + 1]
        else:
            starts[r] = 0
            ends[r] = 0
    for r in range(R):
        start = starts[r]
        n = ends[r] - start
        if n > K:
            truncated += 1
            n = K
            ends[r] = start + K
        for j in range(n):
            out_tok[r, j] = tokens[start + j]
            out_next[r, j] = start + j + 1
        for j in range(n, K):
            out_tok[r, j] = -1
            out_lp[r, j] = ninf
            out_next[r, j] = -1
    for r in range(R):
        for j in range(ends[r] - starts[r]):
            out_lp[r, j] = logp[r, out_tok[r, j]]
        s = states[r]
        if s == done:
            out_tok[r, K] = eos_id
            out_lp[r, K] = 0.0
            out_next[r, K] = done
        elif s >= 0 and s < done and (end_bits[s >> 3] >> (s & 7)) & 1:
            out_tok[r, K] = eos_id
            out_lp[r, K] = logp[r, eos_id] if eos_id >= 0 else 0.0
            out_next[r, K] = done
        else:
            out_tok[r, K] = -1
            out_lp[r, K] = ninf
            out_next[r, K] = -1
    return truncated


@numba.njit(cache=True, nogil=True)
def fill_masks(indptr, tokens, end_bits, dense_rows, eos_row, done, states, out, out_rows):  # pragma: no cover
    """Write the allowed-token bitmask of ``states[i]`` into ``out[out_rows[i]]`` (uint32 words).

    States ``s < dense_rows.shape[0]`` copy their precomputed row (children and EOS bits); other
    states zero the row and set one bit per child, plus ``eos_row`` when ``s`` is an item. ``done``
    gets ``eos_row``; ``s < 0`` gets an empty row. Cost: O(words + degree) per row.
    """
    n_dense = dense_rows.shape[0]
    W = out.shape[1]
    for i in range(states.shape[0]):
        s = states[i]
        row = out[out_rows[i]]
        if s >= 0 and s < n_dense:
            for w in range(W):
                row[w] = dense_rows[s, w]
            continue
        if s == done:
            for w in range(W):
                row[w] = eos_row[w]
            continue
        for w in range(W):
            row[w] = 0
        if s < 0 or s > done:
            continue
        for e in range(indptr[s], indptr[s + 1]):
            t = tokens[e]
            row[t >> 5] |= np.uint32(1) << np.uint32(t & 31)
        if (end_bits[s >> 3] >> (s & 7)) & 1:
            for w in range(W):
                row[w] |= eos_row[w]


@numba.njit(cache=True, nogil=True)
def child(indptr, tokens, s, t):  # pragma: no cover - compiled
    """The child of ``s`` along token ``t`` (binary search in the sorted CSR row), or -1."""
    lo = indptr[s]
    hi = indptr[s + 1]
    while lo < hi:
        mid = (lo + hi) >> 1
        v = tokens[mid]
        if v < t:
            lo = mid + 1
        elif v > t:
            hi = mid
        else:
            return mid + 1
    return -1


@numba.njit(cache=True, nogil=True)
def beam_topk(beam_scores, cand_lp, B, M, out_parent, out_col, out_score):  # pragma: no cover
    """Per batch element, the ``M`` best ``beam_scores[b*M+i] + cand_lp[b*M+i, j]`` over (i, j).

    ``beam_scores float64[B*M]``, ``cand_lp [B*M, W]``. Candidates with a ``-inf`` score are
    never chosen; when fewer than ``M`` finite candidates exist the remaining slots get
    ``parent = col = -1`` and ``score = -inf`` (no garbage beams). Ties go to the lower flat
    index ``i * W + j``. Outputs ``[B, M]``. Cost: O(B*M*W) comparisons plus O(M) per accepted
    candidate (a sorted insertion).
    """
    W = cand_lp.shape[1]
    ninf = -np.inf
    for b in range(B):
        cnt = 0
        for i in range(M):
            bs = beam_scores[b * M + i]
            if bs == ninf:
                continue
            r = b * M + i
            for j in range(W):
                lp = cand_lp[r, j]
                if lp == ninf:
                    continue
                sc = bs + lp
                if cnt == M and sc <= out_score[b, M - 1]:
                    continue
                # insert keeping descending order; equal scores stay after earlier ones
                k = cnt if cnt < M else M - 1
                while k > 0 and out_score[b, k - 1] < sc:
                    if k < M:
                        out_score[b, k] = out_score[b, k - 1]
                        out_parent[b, k] = out_parent[b, k - 1]
                        out_col[b, k] = out_col[b, k - 1]
                    k -= 1
                out_score[b, k] = sc
                out_parent[b, k] = i
                out_col[b, k] = j
                if cnt < M:
                    cnt += 1
        for k in range(cnt, M):
            out_score[b, k] = ninf
            out_parent[b, k] = -1
            out_col[b, k] = -1


@numba.njit(cache=True, nogil=True)
def _worse(sa, ka, sb, kb):  # pragma: no cover - compiled
    """Candidate ``(sa, ka)`` ranks below ``(sb, kb)``: a lower score, or the same score and a
    later visit (a larger key)."""
    return sa < sb or (sa == sb and ka > kb)


@numba.njit(cache=True, nogil=True)
def _sift_down(hs, hk, i, n):  # pragma: no cover - compiled
    """Restore the heap (worst candidate at 0) below position ``i`` of ``hs/hk[:n]``."""
    while True:
        w = i
        a = 2 * i + 1
        if a < n and _worse(hs[a], hk[a], hs[w], hk[w]):
            w = a
        if a + 1 < n and _worse(hs[a + 1], hk[a + 1], hs[w], hk[w]):
            w = a + 1
        if w == i:
            return
        hs[i], hs[w] = hs[w], hs[i]
        hk[i], hk[w] = hk[w], hk[i]
        i = w


@numba.njit(cache=True, nogil=True)
def _push(hs, hk, cnt, sc, key):  # pragma: no cover - compiled
    """Offer a candidate to the top-``M`` heap ``hs/hk[:cnt]`` (capacity ``M = hs.shape[0]``,
    worst at 0); a full heap keeps it only when it beats the worst. Returns the new count.
    O(1) for a rejected candidate, O(log M) otherwise."""
    M = hs.shape[0]
    if cnt == M:
        if not _worse(hs[0], hk[0], sc, key):
            return cnt
        hs[0] = sc
        hk[0] = key
        _sift_down(hs, hk, 0, M)
        return cnt
    i = cnt
    while i > 0:
        p = (i - 1) >> 1
        if not _worse(sc, key, hs[p], hk[p]):
            break
        hs[i] = hs[p]
        hk[i] = hk[p]
        i = p
    hs[i] = sc
    hk[i] = key
    return cnt + 1


@numba.njit(cache=True, nogil=True)
def _sort_heap(hs, hk, cnt):  # pragma: no cover - compiled
    """Heapsort ``hs/hk[:cnt]`` in place into best-first order. O(cnt log cnt)."""
    for n in range(cnt - 1, 0, -1):
        hs[0], hs[n] = hs[n], hs[0]
        hk[0], hk[n] = hk[n], hk[0]
        _sift_down(hs, hk, 0, n)


@numba.njit(cache=True, nogil=True)
def beam_step(indptr, tokens, end_bits, done, logp, eos_id, M, t, beams, scores, cur):  # pragma: no cover
    """One fused beam-search step: candidates, per-batch top-``M`` and the new beams at once.

    Beam table ``beams int64[2, B*M, 2 + T]`` (double-buffered; ``cur`` is the current half):
    row ``r`` is ``(state, length, token_0, ..., token_{T-1})`` with ``-1`` for missing beams,
    tokens past the end and item ends; ``scores float64[2, B*M]`` (``-inf``: missing beam).
    Writes half ``1 - cur``.

    Candidates of beam ``r`` in state ``s`` with score ``bs`` (``bs = -inf`` or ``s < 0``: none):
    every child ``e + 1`` of ``s`` in token order (score ``bs + logp[r, tokens[e]]``), then the
    end of sequence: when ``s`` is an item (``bs + logp[r, eos_id]``, or ``bs`` when
    ``eos_id < 0``) or ``s == done`` (``bs``), next state ``done``, token ``-1``. ``-inf``
    log-probs are never chosen. Per batch element the ``M`` best are kept (a heap), best first,
    ties to the earlier candidate (beam-major, then the order above, i.e. the smaller
    ``(row, next state)``): exactly ``step`` + ``beam_topk`` without the ``[B*M, K+1]`` arrays.
    Slots without a candidate become missing beams.

    Returns ``(live, open)``: new beams in a trie state, and those with children.
    Cost: O(D + A log M + B M (log M + t)) for D candidates of which A enter a heap;
    independent of the number of items.
    """
    ninf = -np.inf
    R = beams.shape[1]
    B = R // M
    src_b = beams[cur]
    src_s = scores[cur]
    # row pointers of every beam first: independent loads whose cache misses overlap
    starts = np.zeros(R, np.int64)
    ends = np.zeros(R, np.int64)
    for r in range(R):
        s = src_b[r, 0]
        if s >= 0 and s < done and src_s[r] != ninf:
            starts[r] = indptr[s]
            ends[r] = indptr[s + 1]
    hs = np.empty(M, np.float64)  # top-M heap: scores and keys (row << 32 | next state)
    hk = np.empty(M, np.int64)
    src = np.empty(R, np.int64)
    nxt = np.empty(R, np.int64)
    tok = np.empty(R, np.int64)
    sc = np.empty(R, np.float64)
    for b in range(B):
        cnt = 0
        for i in range(M):
            r = b * M + i
            bs = src_s[r]
            s = src_b[r, 0]
            if bs == ninf or s < 0:
                continue
            for e in range(starts[r], ends[r]):
                v = bs + logp[r, tokens[e]]
                # a full heap rejects without a call: later candidates lose ties
                if v != ninf and (cnt < M or v > hs[0]):
                    cnt = _push(hs, hk, cnt, v, (r << 32) | (e + 1))
            if s == done:
                x = 0.0
            elif s < done and (end_bits[s >> 3] >> (s & 7)) & 1:
                x = logp[r, eos_id] if eos_id >= 0 else 0.0
            else:
                continue
            if x != ninf:
                cnt = _push(hs, hk, cnt, bs + x, (r << 32) | done)
        _sort_heap(hs, hk, cnt)
        for k in range(M):
            d = b * M + k
            if k < cnt:
                src[d] = hk[k] >> 32
                nxt[d] = hk[k] & 0xFFFFFFFF
                tok[d] = tokens[nxt[d] - 1] if nxt[d] < done else -1
                sc[d] = hs[k]
            else:
                src[d] = -1
    return reorder_beams(indptr, done, t, src, nxt, tok, sc, beams, scores, cur)


@numba.njit(cache=True, nogil=True)
def reorder_beams(indptr, done, t, src, nxt, tok, sc, beams, scores, cur):  # pragma: no cover
    """The beam-table update of :func:`beam_step`: new beam ``k`` (half ``1 - cur``) is beam
    ``src[k]`` of half ``cur`` extended by ``tok[k]`` (``-1``: none, an item's end) into state
    ``nxt[k]`` with score ``sc[k]``; ``src[k] = -1`` writes a missing beam (``-1`` row, length 0,
    score ``-inf``). Returns ``(live, open)``: new beams in a trie state, and those with
    children. Cost: O(B*M*t)."""
    src_b = beams[cur]
    dst_b = beams[1 - cur]
    dst_s = scores[1 - cur]
    W = dst_b.shape[1]
    live = 0
    opened = 0
    for k in range(src.shape[0]):
        r = src[k]
        if r < 0:  # missing beam
            for j in range(W):
                dst_b[k, j] = -1
            dst_b[k, 1] = 0
            dst_s[k] = -np.inf
            continue
        n = nxt[k]
        dst_b[k, 0] = n
        dst_b[k, 1] = src_b[r, 1] + (1 if tok[k] >= 0 else 0)
        for j in range(2, 2 + t):
            dst_b[k, j] = src_b[r, j]
        dst_b[k, 2 + t] = tok[k]
        dst_s[k] = sc[k]
        if n >= 0 and n < done:
            live += 1
            if indptr[n + 1] > indptr[n]:
                opened += 1
    return live, opened


def warm_up() -> None:
    """Compile (or load from numba's disk cache) every kernel on tiny inputs."""
    C = np.array([[1, 2], [1, 0]], np.int32)
    lens = np.array([2, 1], np.int32)
    order = np.array([1, 0], np.int64)
    lcp, counts, _ = scan_sorted(C, lens, order)
    ls = np.array([0, 1, 2], np.int64)
    tokens, deg, is_end = emit_nodes(C, lens, order, lcp, ls, 3)
    indptr = np.zeros(4, np.int32)
    np.cumsum(deg, out=indptr[1:])
    bits = np.packbits(is_end, bitorder="little")
    states = np.array([0, 1, 3, -1], np.int64)
    for dt in (np.float32, np.float64):
        lp = np.zeros((4, 3), dt)
        ot = np.empty((4, 3), np.int32)
        ol = np.empty((4, 3), dt)
        on = np.empty((4, 3), np.int32)
        step(indptr, tokens, bits, states, lp, 2, 0, 3, ot, ol, on)
        op = np.empty((2, 2), np.int64)
        oc = np.empty((2, 2), np.int64)
        os_ = np.empty((2, 2), np.float64)
        beam_topk(np.zeros(4), ol, 2, 2, op, oc, os_)
        bt = np.full((2, 4, 4), -1, np.int64)
        sc = np.full((2, 4), -np.inf)
        bt[0, ::2, 0] = 0
        sc[0, ::2] = 0.0
        beam_step(indptr, tokens, bits, 3, lp, 0, 2, 0, bt, sc, 0)
    rows = np.array([0, -1, 2, -1], np.int64)
    reorder_beams(indptr, 3, 0, rows, np.array([1, -1, 3, -1], np.int64), rows, np.zeros(4), bt, sc, 0)
    out = np.zeros((4, 1), np.uint32)
    fill_masks(indptr, tokens, bits, np.zeros((1, 1), np.uint32), np.zeros(1, np.uint32), 3, states,
               out, np.arange(4, dtype=np.int64))
    child(indptr, tokens, 0, 1)
