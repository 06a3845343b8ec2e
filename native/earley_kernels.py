"""numba kernels of the Earley core: prediction, completion and scanning over a flat chart.

The tables are `constrain.grammar.tables.EarleyTables` (``tab`` int32 sections, ``off`` their
starts plus scalars). The chart is `constrain.grammar.chart.Chart`'s arrays:

* ``pos`` int64 [P + 1, 7]: per byte position ``p`` the starts of its scan items (``C_SC``),
  explicit waiting items (``C_IT``), predicted nonterminals (``C_NS``), then ``C_ACC`` (the start
  symbol is complete from 0), ``C_NIT`` (Earley items, for the limits), ``C_BYTE`` (the byte
  read to reach it, -1 at 0) and ``C_SIG`` (its signature, -1 unknown; `signatures.Signer`);
  row ``p + 1``'s starts are row ``p``'s ends, so row ``n`` holds the used lengths;
* ``sc`` int32 [S, 2] scan items ``(DFA state, origin)``; ``it`` int32 [I, 2] explicit items
  ``(dotted rule, origin)`` with a symbol after the dot, sorted per position by that symbol (a
  completion binary-searches them); ``ns`` int32 [M] predicted nonterminals, sorted per position.

Scratch (owned by the chart, reused): ``hk`` int64 open-addressing hash of one closure's items
(-1 empty; reset after each closure), ``tmp`` int32 [X, 3] the closure's items (dotted rule,
origin, hash slot) in agenda order, ``comp`` int32 [C, 2] the terminals completed by a byte,
``stamp`` int32 [2, n_syms] (row 0 == epoch: nonterminal predicted / terminal predicted here;
row 1 a stack), ``st`` int64 [16] state (positions, epoch, chart items, which array was too
small, bytes consumed, the lowest position the last closure read) then the limits at `L_POS`,
`L_TOTAL`, `L_WORK`.

A kernel returns a status: `OK`, `DEAD` (the byte at ``st[S_DONE]`` kills the parse), `CAP`
(``st[S_CAPW]`` names the array to grow; the caller grows it and calls again from
``st[S_DONE]``), `LIM_POS` / `LIM_TOTAL` (``max_items_per_position`` / ``max_items_total``,
``st[L_POS]`` / ``st[L_TOTAL]``) or `YIELD` (``st[L_WORK]`` items of work done: the caller
checks its clock and calls again). Each new position records its byte (``C_BYTE``) and its
signature (``C_SIG``) when the transition table knows it, else -1. A position is committed (``st[S_N]`` incremented) only when complete, so
every status leaves a valid chart. Plain typed arrays, ``cache=True``, ``nogil=True``.
"""

from __future__ import annotations

import numba
import numpy as np

from .trans_table import get as trans_get

OK, DEAD, CAP, LIM_POS, LIM_TOTAL, YIELD = 0, 1, 2, 3, 4, 5
CAP_POS, CAP_SC, CAP_IT, CAP_NS, CAP_TMP, CAP_COMP = 1, 2, 3, 4, 5, 6
S_N, S_EPOCH, S_TOTAL, S_CAPW, S_DONE, S_READ = 0, 1, 2, 3, 4, 5
C_SC, C_IT, C_NS, C_ACC, C_NIT, C_BYTE, C_SIG = 0, 1, 2, 3, 4, 5, 6
L_POS, L_TOTAL, L_WORK = 8, 9, 10  # limits, in `st` after the state

# section indices (`tables.SECTIONS` order)
_DR_NEXT, _DR_LHS, _WAIT_PTR, _WAIT_LHS, _WAIT_DR, _NULLABLE = 0, 1, 2, 3, 4, 5
_CLO_PTR, _CLO, _PT_PTR, _PT, _DN_PTR, _DN, _DT_PTR, _DT = 6, 7, 8, 9, 10, 11, 12, 13
_TRANS, _ACC, _LIVE, _TERM_OF, _Q0, _Q0W, _WORD = 14, 15, 16, 17, 18, 19, 20
_NSEC = 21
_K = _NSEC + 1  # scalars: n_terms, n_syms, start, has_clo, n_states


@numba.njit(cache=True, nogil=True, inline="always")
def _add(dr, o, tmp, ntmp, hk, lim_pos):
    """Add item (dr, o) to the closure unless present. New ``ntmp``; -1: ``tmp``/``hk`` full,
    -2: over ``lim_pos`` items."""
    key = (np.int64(dr) << 32) | np.int64(o)
    mask = hk.shape[0] - 1
    x = key * np.int64(-7046029254386353131)
    h = (x ^ (x >> 32)) & mask
    while True:
        k = hk[h]
        if k == key:
            return ntmp
        if k < 0:
            break
        h = (h + 1) & mask
    if ntmp >= tmp.shape[0] or 2 * (ntmp + 1) > hk.shape[0]:
        return -1
    if ntmp >= lim_pos:
        return -2
    hk[h] = key
    tmp[ntmp, 0] = dr
    tmp[ntmp, 1] = o
    tmp[ntmp, 2] = h
    return ntmp + 1


@numba.njit(cache=True, nogil=True, inline="always")
def _predict_term(tab, t, o_q0, o_live, p, sc, nsc, stamp, epoch):
    """The scan item at ``p`` of terminal ``t`` unless predicted here already (a start state
    with no outgoing byte is dropped). Returns nsc."""
    if stamp[0, t] != epoch:
        stamp[0, t] = epoch
        g = tab[o_q0 + t]
        if tab[o_live + g]:
            sc[nsc, 0] = g
            sc[nsc, 1] = p
            nsc += 1
    return nsc


@numba.njit(cache=True, nogil=True, inline="always")
def _predict_terms(tab, o_ptr, o_lst, x, o_q0, o_live, p, sc, nsc, stamp, epoch):
    """Scan items at ``p`` for the terminals ``tab[o_lst + ptr[x] : o_lst + ptr[x+1]]``
    (`_predict_term`). Returns nsc."""
    for k in range(tab[o_ptr + x], tab[o_ptr + x + 1]):
        nsc = _predict_term(tab, tab[o_lst + k], o_q0, o_live, p, sc, nsc, stamp, epoch)
    return nsc


@numba.njit(cache=True, nogil=True, inline="always")
def _predict(tab, off, y, p, o_q0, sc, nsc, ns, nn, stamp, epoch):
    """Predict nonterminal ``y`` at position ``p``: its closure into ``ns`` and the scan items of
    the terminals it predicts (not predicted here yet) into ``sc``. Returns (nn, nsc)."""
    if stamp[0, y] == epoch:
        return nn, nsc
    T = off[_K]
    o_live = off[_LIVE]
    if off[_K + 3]:
        o_clo_ptr = off[_CLO_PTR]
        o_clo = off[_CLO]
        o_pt_ptr = off[_PT_PTR]
        o_pt = off[_PT]
        for k in range(tab[o_clo_ptr + y - T], tab[o_clo_ptr + y - T + 1]):
            z = tab[o_clo + k]
            if stamp[0, z] != epoch:
                stamp[0, z] = epoch
                ns[nn] = z
                nn += 1
        nsc = _predict_terms(tab, o_pt_ptr, o_pt, y - T, o_q0, o_live, p, sc, nsc, stamp, epoch)
        return nn, nsc
    o_dn_ptr = off[_DN_PTR]
    o_dn = off[_DN]
    o_dt_ptr = off[_DT_PTR]
    o_dt = off[_DT]
    stamp[0, y] = epoch
    ns[nn] = y
    nn += 1
    top = 0
    stamp[1, top] = y
    top += 1
    while top > 0:
        top -= 1
        x = stamp[1, top] - T
        nsc = _predict_terms(tab, o_dt_ptr, o_dt, x, o_q0, o_live, p, sc, nsc, stamp, epoch)
        for k in range(tab[o_dn_ptr + x], tab[o_dn_ptr + x + 1]):
            z = tab[o_dn + k]
            if stamp[0, z] != epoch:
                stamp[0, z] = epoch
                ns[nn] = z
                nn += 1
                stamp[1, top] = z
                top += 1
    return nn, nsc


@numba.njit(cache=True, nogil=True, inline="always")
def _lower_bound(arr, lo, hi, x):
    """The first index in ``lo .. hi`` of sorted ``arr`` whose value is >= ``x``."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if arr[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(cache=True, nogil=True, inline="always")
def _complete(tab, off, sym, o, pos, it, ns, tmp, ntmp, hk, lim_pos):
    """Advance the items of position ``o`` waiting for ``sym`` (explicit ones, and the rules of
    its predicted nonterminals) into the closure. New ``ntmp`` or a negative `_add` code."""
    o_dr_next = off[_DR_NEXT]
    lo = pos[o, C_IT]
    hi = pos[o + 1, C_IT]
    while lo < hi:  # first explicit item whose next symbol is >= sym
        mid = (lo + hi) >> 1
        if tab[o_dr_next + it[mid, 0]] < sym:
            lo = mid + 1
        else:
            hi = mid
    end = pos[o + 1, C_IT]
    k = lo
    while k < end and tab[o_dr_next + it[k, 0]] == sym:
        ntmp = _add(it[k, 0] + 1, it[k, 1], tmp, ntmp, hk, lim_pos)
        if ntmp < 0:
            return ntmp
        k += 1
    a = pos[o, C_NS]
    b = pos[o + 1, C_NS]
    if a == b:
        return ntmp
    o_wait_ptr = off[_WAIT_PTR]
    o_wait_lhs = off[_WAIT_LHS]
    o_wait_dr = off[_WAIT_DR]
    for j in range(tab[o_wait_ptr + sym], tab[o_wait_ptr + sym + 1]):
        z = tab[o_wait_lhs + j]
        lo = _lower_bound(ns, a, b, z)
        if lo < b and ns[lo] == z:
            ntmp = _add(tab[o_wait_dr + j] + 1, o, tmp, ntmp, hk, lim_pos)
            if ntmp < 0:
                return ntmp
    return ntmp


@numba.njit(cache=True, nogil=True)
def _close(tab, off, pos, sc, it, ns, hk, tmp, comp, stamp, st, p, nsc, ncomp,
           predict_start, after_word):
    """Close position ``p`` (its advanced scan items are ``sc[pos[p, C_SC]:nsc]``, the terminals
    completed there ``comp[:ncomp]``): prediction through nullable prefixes, completion, nullable
    advancement. Writes the position's items, N, ``C_ACC``, ``C_NIT`` and row ``p + 1``'s starts.
    The caller has checked room for ``n_terms`` more scan items and ``n_syms`` nonterminals."""
    T = off[_K]
    start = off[_K + 2]
    o_dr_next = off[_DR_NEXT]
    o_dr_lhs = off[_DR_LHS]
    o_nullable = off[_NULLABLE]
    o_live = off[_LIVE]
    o_q0 = off[_Q0W] if after_word else off[_Q0]
    lim_pos = st[L_POS]
    epoch = st[S_EPOCH] + 1
    if epoch >= 2147483647:
        stamp[0, :] = 0
        epoch = 1
    st[S_EPOCH] = epoch
    n0 = pos[p, C_NS]
    nn = n0
    ntmp = 0
    accept = False
    if predict_start:
        nn, nsc = _predict(tab, off, start, p, o_q0, sc, nsc, ns, nn, stamp, epoch)
        if tab[o_nullable + start]:
            accept = True
    rd = p  # the lowest position whose items the closure read
    for c in range(ncomp):
        rd = min(rd, comp[c, 1])
        ntmp = _complete(tab, off, comp[c, 0], comp[c, 1], pos, it, ns, tmp, ntmp, hk, lim_pos)
        if ntmp < 0:
            break
    head = 0
    while ntmp >= 0 and head < ntmp:
        dr = tmp[head, 0]
        o = tmp[head, 1]
        head += 1
        nx = tab[o_dr_next + dr]
        if nx < 0:
            a = tab[o_dr_lhs + dr]
            if a == start:
                accept = True
            elif o < p:
                rd = min(rd, o)
                ntmp = _complete(tab, off, a, o, pos, it, ns, tmp, ntmp, hk, lim_pos)
            continue
        if nx >= T:
            nn, nsc = _predict(tab, off, nx, p, o_q0, sc, nsc, ns, nn, stamp, epoch)
        else:
            nsc = _predict_term(tab, nx, o_q0, o_live, p, sc, nsc, stamp, epoch)
        if tab[o_nullable + nx]:
            ntmp = _add(dr + 1, o, tmp, ntmp, hk, lim_pos)
    if ntmp < 0:
        hk[:] = -1  # rare (the caller grows or raises): reset the whole hash
        if ntmp == -1:
            st[S_CAPW] = CAP_TMP
            return CAP
        return LIM_POS
    for k in range(ntmp):
        hk[tmp[k, 2]] = -1
    nscan = nsc - pos[p, C_SC]
    n_items = ntmp + (nn - n0) + nscan
    if n_items > lim_pos:
        return LIM_POS
    nw = 0
    for k in range(ntmp):
        if tab[o_dr_next + tmp[k, 0]] >= 0:
            nw += 1
    base = pos[p, C_IT]
    if base + nw > it.shape[0]:
        st[S_CAPW] = CAP_IT
        return CAP
    if 0 < nw <= 32:  # few: insertion sort by the symbol after the dot, in place
        j = 0
        for k in range(ntmp):
            dr = tmp[k, 0]
            nx = tab[o_dr_next + dr]
            if nx >= 0:
                q = base + j
                while q > base and tab[o_dr_next + it[q - 1, 0]] > nx:
                    it[q, 0] = it[q - 1, 0]
                    it[q, 1] = it[q - 1, 1]
                    q -= 1
                it[q, 0] = dr
                it[q, 1] = tmp[k, 1]
                j += 1
    elif nw:
        keys = np.empty(nw, dtype=np.int64)
        sel = np.empty(nw, dtype=np.int64)
        j = 0
        for k in range(ntmp):
            nx = tab[o_dr_next + tmp[k, 0]]
            if nx >= 0:
                keys[j] = nx
                sel[j] = k
                j += 1
        order = np.argsort(keys, kind="mergesort")
        for j in range(nw):
            k = sel[order[j]]
            it[base + j, 0] = tmp[k, 0]
            it[base + j, 1] = tmp[k, 1]
    if nn - n0 > 1:
        ns[n0:nn].sort()
    st[S_READ] = rd
    pos[p, C_ACC] = 1 if accept else 0
    pos[p, C_NIT] = n_items
    pos[p + 1, C_SC] = nsc
    pos[p + 1, C_IT] = base + nw
    pos[p + 1, C_NS] = nn
    return OK


@numba.njit(cache=True, nogil=True, inline="always")
def _short_of(pos, sc, ns, comp, p, n_scan, T, n_syms):
    """Which array cannot hold position ``p`` (``n_scan`` scan items advanced into it and as
    many completions, then up to ``T`` predicted scan items and ``n_syms`` nonterminals): a
    ``CAP_*`` code, 0 when all can."""
    if p + 2 > pos.shape[0]:
        return CAP_POS
    if pos[p, C_SC] + n_scan + T > sc.shape[0]:
        return CAP_SC
    if pos[p, C_NS] + n_syms > ns.shape[0]:
        return CAP_NS
    if n_scan > comp.shape[0]:
        return CAP_COMP
    return 0


@numba.njit(cache=True, nogil=True)
def init(tab, off, pos, sc, it, ns, hk, tmp, comp, stamp, st):
    """Position 0: predict the start symbol. `OK`, `CAP` or `LIM_POS`."""
    if pos.shape[0] < 2 or sc.shape[0] < off[_K] or ns.shape[0] < off[_K + 1]:
        st[S_CAPW] = CAP_POS
        return CAP
    pos[0, :] = 0
    pos[0, C_BYTE] = -1
    pos[0, C_SIG] = -1
    status = _close(tab, off, pos, sc, it, ns, hk, tmp, comp, stamp, st, 0, 0, 0,
                    True, False)
    if status == OK:
        st[S_N] = 1
        st[S_TOTAL] = pos[0, C_NIT]
    return status


@numba.njit(cache=True, nogil=True)
def feed(tab, off, pos, sc, it, ns, hk, tmp, comp, stamp, st, data, start, trans):
    """Append one position per byte of ``data[start:]``; see the module docstring for the
    statuses (``st[S_DONE]``: bytes of ``data`` consumed). A new position after a signed one
    takes the signature that ``trans`` (`native.trans_table`) gives for that byte, if any.
    Cost per byte: the scan step over the last position's scan items, plus a closure where a
    lexeme ends, plus one hash probe."""
    T = off[_K]
    n_syms = off[_K + 1]
    o_trans = off[_TRANS]
    o_acc = off[_ACC]
    o_live = off[_LIVE]
    o_term_of = off[_TERM_OF]
    o_word = off[_WORD]
    n = st[S_N]
    work = 0
    i = start
    while i < data.shape[0]:
        b = np.int64(data[i])
        p = n
        a = pos[p - 1, C_SC]
        e = pos[p, C_SC]
        capw = _short_of(pos, sc, ns, comp, p, e - a, T, n_syms)
        if capw:
            st[S_CAPW] = capw
            st[S_DONE] = i
            return CAP
        w = e
        nc = 0
        for k in range(a, e):
            g2 = tab[o_trans + np.int64(sc[k, 0]) * 256 + b]
            if g2 >= 0:
                if tab[o_live + g2]:
                    sc[w, 0] = g2
                    sc[w, 1] = sc[k, 1]
                    w += 1
                if tab[o_acc + g2]:
                    comp[nc, 0] = tab[o_term_of + g2]
                    comp[nc, 1] = sc[k, 1]
                    nc += 1
        if nc == 0:
            pos[p, C_ACC] = 0
            pos[p, C_NIT] = w - e
            pos[p + 1, C_SC] = w
            pos[p + 1, C_IT] = pos[p, C_IT]
            pos[p + 1, C_NS] = pos[p, C_NS]
        else:
            status = _close(tab, off, pos, sc, it, ns, hk, tmp, comp, stamp, st, p, w,
                            nc, False, tab[o_word + b] != 0)
            if status != OK:
                st[S_DONE] = i
                return status
        if pos[p + 1, C_SC] == e and pos[p, C_ACC] == 0:
            st[S_DONE] = i
            return DEAD
        pos[p, C_BYTE] = b
        q = pos[p - 1, C_SIG]
        pos[p, C_SIG] = trans_get(trans, (q << 8) | b) if q >= 0 else np.int64(-1)
        total = st[S_TOTAL] + pos[p, C_NIT]
        if total > st[L_TOTAL]:
            st[S_DONE] = i
            return LIM_TOTAL
        st[S_TOTAL] = total
        n += 1
        st[S_N] = n
        i += 1
        work += pos[p, C_NIT]
        if work > st[L_WORK] and i < data.shape[0]:
            st[S_DONE] = i
            return YIELD
    st[S_DONE] = i
    return OK


@numba.njit(cache=True, nogil=True)
def close_virtual(tab, off, pos, sc, it, ns, hk, tmp, comp, stamp, st, p, src, sel, after_word):
    """Write *virtual* position ``p`` (past the chart; row ``p``'s starts must hold the used
    lengths, as row ``n`` does): the closure after the lexemes of ``src``'s scan items in DFA
    states ``sel`` (int32, sorted) end there, ``after_word`` telling which start states new
    lexemes take. Nothing is scanned: the position holds what the parser predicts after those
    lexemes (so a token's bytes can go on from inside it). Records byte -1 and an unknown
    signature. Returns `OK`, `CAP` (``st[S_CAPW]``) or `LIM_POS`; ``st[S_N]`` is not touched;
    ``st[S_READ]`` is the lowest position whose items the closure read (``p`` when none).
    Cost: one closure, O(items it makes) plus a binary search per scan item of ``src``."""
    T = off[_K]
    n_syms = off[_K + 1]
    o_term_of = off[_TERM_OF]
    a = pos[src, C_SC]
    e = pos[src + 1, C_SC]
    capw = _short_of(pos, sc, ns, comp, p, 0, T, n_syms)
    if not capw and e - a > comp.shape[0]:
        capw = CAP_COMP
    if capw:
        st[S_CAPW] = capw
        return CAP
    nc = 0
    m = sel.shape[0]
    for k in range(a, e):
        g = sc[k, 0]
        lo = _lower_bound(sel, 0, m, g)
        if lo < m and sel[lo] == g:
            comp[nc, 0] = tab[o_term_of + g]
            comp[nc, 1] = sc[k, 1]
            nc += 1
    pos[p, C_BYTE] = -1
    pos[p, C_SIG] = -1
    return _close(tab, off, pos, sc, it, ns, hk, tmp, comp, stamp, st, p, pos[p, C_SC], nc,
                  False, after_word)
