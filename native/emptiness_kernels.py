"""numba kernels of the infilling emptiness check (`constrain.infill.emptiness`): seeding the
terminal spans of a partial output (product of each terminal DFA with the partial NFA) and the
worklist fixpoint over ``(p, A, q)`` triples with bitset charts. Plain typed arrays only,
``cache=True``, ``nogil=True``; status codes ``_DONE`` / ``_PAUSE`` / ``_LIMIT``.
"""

from __future__ import annotations

import numpy as np
from numba import njit



_BITS = np.array([1 << i for i in range(64)], dtype=np.uint64)

_FOUND, _EMPTY, _PAUSE, _LIMIT = 0, 1, 2, 3


@njit(cache=True, nogil=True)
def _grow(wl, need):
    cap = wl.shape[0]
    while cap < need:
        cap *= 2
    out = np.empty((cap, 5), dtype=np.int32)
    out[: wl.shape[0]] = wl
    return out


@njit(cache=True, inline="always")
def _append(wl, tail, a, b, c, d, e):
    """Write the worklist row ``tail`` (growing the array when full); returns the array."""
    if tail >= wl.shape[0]:
        wl = _grow(wl, tail + 1)
    wl[tail, 0] = a
    wl[tail, 1] = b
    wl[tail, 2] = c
    wl[tail, 3] = d
    wl[tail, 4] = e
    return wl


@njit(cache=True, inline="always")
def _bit_index(low):
    """Index of the single set bit of the uint64 ``low``."""
    b = 0
    y = low
    while y > np.uint64(0xFFFF):
        y >>= np.uint64(16)
        b += 16
    while y > np.uint64(1):
        y >>= np.uint64(1)
        b += 1
    return b


@njit(cache=True, nogil=True)
def _seed(n, ptr, dst, lab, loop, trans, acc, asp, asu, q0s, tsyms, fw, bw, wl, tail, max_triples,
          bits, visit, stk_s, stk_g):
    """Push every terminal span (p, t, q) (non-empty words) as a seed. Returns (wl, tail, status)."""
    stamp = 0
    for ti in range(q0s.shape[0]):
        g0 = q0s[ti]
        t = tsyms[ti]
        for p in range(n):
            stamp += 1
            top = 0
            # expand (p, g0) without marking it: only non-empty words count
            s = p
            g = g0
            while True:
                if loop[s]:
                    for k in range(asp[g], asp[g + 1]):
                        g2 = asu[k]
                        if visit[s, g2] != stamp:
                            visit[s, g2] = stamp
                            stk_s[top] = s
                            stk_g[top] = g2
                            top += 1
                for e in range(ptr[s], ptr[s + 1]):
                    d = dst[e]
                    lb = lab[e]
                    if lb == 256:
                        for k in range(asp[g], asp[g + 1]):
                            g2 = asu[k]
                            if visit[d, g2] != stamp:
                                visit[d, g2] = stamp
                                stk_s[top] = d
                                stk_g[top] = g2
                                top += 1
                    else:
                        g2 = trans[g, lb]
                        if g2 >= 0 and visit[d, g2] != stamp:
                            visit[d, g2] = stamp
                            stk_s[top] = d
                            stk_g[top] = g2
                            top += 1
                if top == 0:
                    break
                top -= 1
                s = stk_s[top]
                g = stk_g[top]
                if acc[g]:
                    w = s >> 6
                    if (fw[t, p, w] & bits[s & 63]) == 0:
                        fw[t, p, w] |= bits[s & 63]
                        bw[t, s, p >> 6] |= bits[p & 63]
                        if tail >= max_triples:
                            return wl, tail, 3
                        wl = _append(wl, tail, p, t, s, -1, -1)
                        tail += 1
    return wl, tail, 1


@njit(cache=True, nogil=True)
def _run(W, fw, bw, wl, head, tail, max_steps, max_triples, bits,
         u_ptr, u_a, l_ptr, l_a, l_c, r_ptr, r_a, r_b, S0, final):
    """Process the worklist. Returns (wl, head, tail, status, found_index)."""
    steps = 0
    while head < tail:
        if steps >= max_steps:
            return wl, head, tail, 2, -1
        steps += 1
        p = wl[head, 0]
        B = wl[head, 1]
        q = wl[head, 2]
        head += 1
        # unit rules A -> B
        for i in range(u_ptr[B], u_ptr[B + 1]):
            A = u_a[i]
            if (fw[A, p, q >> 6] & bits[q & 63]) == 0:
                fw[A, p, q >> 6] |= bits[q & 63]
                bw[A, q, p >> 6] |= bits[p & 63]
                if tail >= max_triples:
                    return wl, head, tail, 3, -1
                wl = _append(wl, tail, p, A, q, B, -1)
                tail += 1
                if A == S0 and p == 0 and final[q]:
                    return wl, head, tail, 0, tail - 1
        # A -> B C with (q, C, r)
        for i in range(l_ptr[B], l_ptr[B + 1]):
            A = l_a[i]
            C = l_c[i]
            for w in range(q >> 6, W):
                x = fw[C, q, w] & ~fw[A, p, w]
                while x != 0:
                    low = x & (~x + np.uint64(1))
                    x ^= low
                    r = w * 64 + _bit_index(low)
                    fw[A, p, w] |= low
                    bw[A, r, p >> 6] |= bits[p & 63]
                    if tail >= max_triples:
                        return wl, head, tail, 3, -1
                    wl = _append(wl, tail, p, A, r, q, i)
                    tail += 1
                    if A == S0 and p == 0 and final[r]:
                        return wl, head, tail, 0, tail - 1
        # A -> C B with (r, C, p)
        for i in range(r_ptr[B], r_ptr[B + 1]):
            A = r_a[i]
            C = r_b[i]
            for w in range(0, (p >> 6) + 1):
                x = bw[C, p, w] & ~bw[A, q, w]
                while x != 0:
                    low = x & (~x + np.uint64(1))
                    x ^= low
                    r = w * 64 + _bit_index(low)
                    bw[A, q, w] |= low
                    fw[A, r, q >> 6] |= bits[q & 63]
                    if tail >= max_triples:
                        return wl, head, tail, 3, -1
                    wl = _append(wl, tail, r, A, q, p, -2 - i)
                    tail += 1
                    if A == S0 and r == 0 and final[q]:
                        return wl, head, tail, 0, tail - 1
    return wl, head, tail, 1, -1
