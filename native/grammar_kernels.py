"""numba kernels for grammar masks: walk the flat token trie with a set of terminal-DFA states.

The grammar engine (`constrain.grammar.engine`) keeps, at every byte position, the *live partial
lexemes*: terminal-DFA states (global ids into one concatenated transition table). A token is
allowed without asking the parser when every one of its bytes keeps at least one of those DFA
states alive ("pure" lexer path). Where some DFA state is accepting part-way through a token, a
lexeme may end there and a new one start: such trie nodes are reported back ("completion nodes")
so that the parser can decide the rest of their subtree.

Plain typed arrays only, ``cache=True``, ``nogil=True``.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, inline="always")
def _covered(below, cover, i, cur, d, n):
    """Whether for one of the ``n`` states ``g = cur[d, :n]`` every string of the bytes below trie
    node ``i`` (``below[i, :4]``), as long as the subtree is high (``below[i, 4]``), keeps ``g``
    alive: the bytes are among its cover bytes (``cover[g, :4]``) and the height is at most its
    reach (``cover[g, 4]``). Then every node below is alive, so the subtree holds no completion
    node (none has a dead node below it) and all its tokens are allowed."""
    for a in range(n):
        g = cur[d, a]
        if below[i, 4] <= cover[g, 4] and _subset(below, i, cover, g):
            return True
    return False


@numba.njit(cache=True, nogil=True, inline="always")
def _subset(x, i, y, j):
    """Whether the 256-bit set ``x[i, :4]`` is included in ``y[j, :4]`` (uint64 words)."""
    for w in range(4):
        if x[i, w] & ~y[j, w]:
            return False
    return True


@numba.njit(cache=True, nogil=True)
def walk_lexer(trans, acc, cover, lex, starts, node_byte, node_depth, node_subtree, below,
               tok_ptr, tok_ids, max_depth, row, cnode, cdepth, csrc_ptr, csrc):
    """Walk the subtrees of trie nodes ``starts`` with the DFA-state set ``lex``.

    Parameters
    ----------
    trans : int32 [G, 256]
        Concatenated terminal DFAs (-1 dead).
    acc : bool [G]
        Accepting flags.
    cover : uint64 [G, 5]
        Per DFA state its cover bytes and their reach (`dfa_cover`).
    lex : int32 [k]
        The DFA states alive at each start node (each followed independently; deterministic).
    starts : int32 [m]
        Trie nodes; the tokens *strictly below* each start are examined (relative depth >= 1).
    below : uint64 [n_nodes, 5]
        Per trie node the bytes of the nodes strictly below it and its height
        (`vocab_kernels.subtree_bytes`).
    row : int32 [words]
        Bits of tokens whose bytes (below the start) keep some state of ``lex`` alive are OR-ed in.
    cnode, cdepth, csrc_ptr, csrc : int32 scratch outputs
        Completion nodes: trie nodes where some followed state is accepting and whose subtree has
        at least one node where every followed state is dead (so a new lexeme may matter there);
        ``cdepth`` is the depth relative to its start node, ``csrc[csrc_ptr[c]:csrc_ptr[c+1]]`` the
        indices into ``lex`` of the accepting states. Nodes found useless (nothing dead below them)
        are dropped before returning (the outputs are compacted in place).

    Returns
    -------
    (n_completion_nodes, n_src) or (-1, -1) when ``csrc`` was too small (retry larger).

    Cost: O(alive trie nodes below the starts × k), except that a subtree that provably keeps an
    alive state alive on every path (`_covered`: string contents, bounded-length strings,
    digits, identifiers, whitespace runs; most of the trie for a dense state) is taken whole:
    its tokens are marked from the contiguous id range of the preorder, with no per-node work
    (nothing dies below, so it holds no completion node).
    """
    k = lex.shape[0]
    # per depth, only the states still alive: cur[d, :cnt[d]] (states), idx[d, :cnt[d]] (their
    # indices into lex, increasing), so the cost follows the live (node, state) pairs, not nodes × k
    cur = np.empty((max_depth + 2, k), dtype=np.int32)
    idx = np.empty((max_depth + 2, k), dtype=np.int32)
    cnt = np.empty(max_depth + 2, dtype=np.int32)
    st_depth = np.empty(max_depth + 2, dtype=np.int32)
    st_node = np.empty(max_depth + 2, dtype=np.int32)
    st_alive = np.empty(max_depth + 2, dtype=np.int64)
    st_comp = np.empty(max_depth + 2, dtype=np.int32)
    nc = 0
    ns = 0
    cap_src = csrc.shape[0]
    cap_c = cnode.shape[0]
    csrc_ptr[0] = 0
    alive = 0
    for si in range(starts.shape[0]):
        s = starts[si]
        ds = node_depth[s]
        n0 = 0
        for j in range(k):
            if lex[j] >= 0:
                cur[0, n0] = lex[j]
                idx[0, n0] = j
                n0 += 1
        cnt[0] = n0
        end = s + node_subtree[s]
        sp = 0
        i = s + 1
        while i < end:
            d = node_depth[i] - ds
            while sp > 0 and st_depth[sp - 1] >= d:
                sp -= 1
                if alive - st_alive[sp] == node_subtree[st_node[sp]] - 1:
                    cnode[st_comp[sp]] = -1
            b = node_byte[i]
            n = 0
            anyacc = False
            for a in range(cnt[d - 1]):
                g2 = trans[cur[d - 1, a], b]
                if g2 >= 0:
                    cur[d, n] = g2
                    idx[d, n] = idx[d - 1, a]
                    n += 1
                    if acc[g2]:
                        anyacc = True
            cnt[d] = n
            if n == 0:
                i += node_subtree[i]
                continue
            sz = node_subtree[i]
            if sz > 1 and _covered(below, cover, i, cur, d, n):
                alive += sz  # the whole subtree lives in these states: every token allowed
                for p in range(tok_ptr[i], tok_ptr[i + sz]):
                    t = tok_ids[p]
                    row[t >> 5] |= np.int32(1) << np.int32(t & 31)
                i += sz
                continue
            alive += 1
            for p in range(tok_ptr[i], tok_ptr[i + 1]):
                t = tok_ids[p]
                row[t >> 5] |= np.int32(1) << np.int32(t & 31)
            if anyacc and node_subtree[i] > 1:
                if nc + 1 >= cap_c or ns + k > cap_src:
                    return -1, -1
                cnode[nc] = i
                cdepth[nc] = d
                for a in range(n):
                    if acc[cur[d, a]]:
                        csrc[ns] = idx[d, a]
                        ns += 1
                csrc_ptr[nc + 1] = ns
                st_depth[sp] = d
                st_node[sp] = i
                st_alive[sp] = alive
                st_comp[sp] = nc
                sp += 1
                nc += 1
            i += 1
        while sp > 0:
            sp -= 1
            if alive - st_alive[sp] == node_subtree[st_node[sp]] - 1:
                cnode[st_comp[sp]] = -1
    return _compact(nc, cnode, cdepth, csrc_ptr, csrc)


@numba.njit(cache=True, nogil=True)
def _compact(nc, cnode, cdepth, csrc_ptr, csrc):
    """Drop the completion nodes marked -1, moving the others (and their sources) to the front."""
    m = 0
    ns = 0
    for c in range(nc):
        if cnode[c] < 0:
            continue
        lo = csrc_ptr[c]
        hi = csrc_ptr[c + 1]
        cnode[m] = cnode[c]
        cdepth[m] = cdepth[c]
        for p in range(lo, hi):
            csrc[ns] = csrc[p]
            ns += 1
        m += 1
        csrc_ptr[m] = ns
    return m, ns


@numba.njit(cache=True, nogil=True)
def walk_nodes(trans, acc, cover, lex, starts, node_byte, node_depth, node_subtree, below,
               tok_ptr, tok_ids, max_depth, row, cnode, cdepth, csrc_ptr, csrc):
    """`walk_lexer` (same arguments) returning its completion nodes as new arrays: (number of
    completion nodes, or -1 when ``csrc`` was too small; the nodes (int32); per node the bit set
    of the indices into ``lex`` of its accepting states (int64, filled when ``len(lex) <= 62``,
    else empty: read ``csrc[csrc_ptr[c]:csrc_ptr[c + 1]]``)). One dispatch instead of a
    kernel call plus numpy calls per walk."""
    nc, ns = walk_lexer(trans, acc, cover, lex, starts, node_byte, node_depth, node_subtree,
                        below, tok_ptr, tok_ids, max_depth, row, cnode, cdepth, csrc_ptr, csrc)
    if nc < 0:
        return -1, cnode[:0].copy(), np.zeros(0, dtype=np.int64)
    nodes = cnode[:nc].copy()
    if lex.shape[0] > 62:
        return nc, nodes, np.zeros(0, dtype=np.int64)
    codes = np.zeros(nc, dtype=np.int64)
    for c in range(nc):
        code = np.int64(0)
        for p in range(csrc_ptr[c], csrc_ptr[c + 1]):
            code |= np.int64(1) << np.int64(csrc[p])
        codes[c] = code
    return nc, nodes, codes


def warm_up() -> None:
    """Compile (or load from numba's cache) the walk kernels, the trie's bytes-below kernel and
    the DFA shape kernel on tiny inputs."""
    from .vocab_kernels import subtree_bytes

    trans = np.full((1, 256), -1, dtype=np.int32)
    trans[0, 97] = 0
    acc = np.ones(1, dtype=np.bool_)
    nb = np.array([0, 97, 97], dtype=np.uint8)
    nd = np.array([0, 1, 2], dtype=np.int32)
    ns = np.array([3, 2, 1], dtype=np.int32)
    tp = np.array([0, 0, 1, 2], dtype=np.int32)
    ti = np.array([0, 1], dtype=np.int32)
    row = np.zeros(1, dtype=np.int32)
    z = np.zeros(8, dtype=np.int32)
    walk_nodes(trans, acc, dfa_cover(trans, 1), np.zeros(1, np.int32), np.zeros(1, np.int32), nb,
               nd, ns, subtree_bytes(nb, nd), tp, ti, 2, row, z.copy(), z.copy(), z.copy(),
               z.copy())
    dfa_shape(trans, acc, 0, np.full(1, -1, np.int32), np.zeros(1, np.int32), np.zeros(8, np.int32))


_INF_REACH = np.uint64(1) << np.uint64(62)


@numba.njit(cache=True, nogil=True)
def dfa_cover(trans, min_bytes):
    """Per DFA state ``g`` (``trans``: int32 [G, 256], -1 dead) its *cover*: uint64 [G, 5], four
    words of bytes then the reach. The cover bytes ``C_g`` are the bytes leading to a state whose
    live bytes include all of ``g``'s (kept only when at least ``min_bytes``: string contents,
    digits, whitespace; a literal's chain has none). The reach is the largest ``h`` such that
    every string of at most ``h`` bytes of ``C_g`` keeps ``g`` alive (``2**62`` when unbounded,
    e.g. a self-loop; ``maxLength - k`` after ``k`` characters of a bounded string): the
    distance, over ``C_g`` bytes, to a state where some ``C_g`` byte is dead. All states with
    equal cover bytes are solved by one closure and one reverse breadth-first search
    (`_reach_search`). Cost: O(G × 256) plus O(states reached × |C_g|) per distinct set of
    cover bytes."""
    G = trans.shape[0]
    out = _cover_bytes(trans, min_bytes)
    keys = np.full(G, np.int64(-1))  # equal cover bytes, equal keys (-1: no cover)
    for g in range(G):
        if out[g, 0] | out[g, 1] | out[g, 2] | out[g, 3]:
            x = np.uint64(1469598103934665603)
            for w in range(4):
                x = (x ^ out[g, w]) * np.uint64(1099511628211)
            keys[g] = np.int64(x >> np.uint64(2))
    order = np.argsort(keys)
    done = np.zeros(G, np.bool_)
    loc = np.full(G, -1, np.int64)
    R = np.empty(G, np.int64)
    cb = np.empty(256, np.int64)
    for i in range(G):
        g = order[i]
        if done[g] or keys[g] < 0:
            continue
        nb = 0
        for b in range(256):
            if (out[g, b >> 6] >> np.uint64(b & 63)) & np.uint64(1):
                cb[nb] = b
                nb += 1
        # every state with these cover bytes, then what they reach by them (closed: every alive
        # successor is listed)
        m = 0
        j = i
        while j < G and keys[order[j]] == keys[g]:
            s = order[j]
            j += 1
            if _subset(out, s, out, g) and _subset(out, g, out, s):
                loc[s] = m
                R[m] = s
                m += 1
        h = 0
        while h < m:
            s = R[h]
            h += 1
            for k in range(nb):
                t = trans[s, cb[k]]
                if t >= 0 and loc[t] < 0:
                    loc[t] = m
                    R[m] = t
                    m += 1
        dist = _reach_search(trans, R[:m], loc, cb[:nb])
        for k in range(m):
            s = R[k]
            loc[s] = -1
            if not done[s] and _subset(out, s, out, g) and _subset(out, g, out, s):
                done[s] = True
                out[s, 4] = _INF_REACH if dist[k] < 0 else np.uint64(dist[k])
    return out


@numba.njit(cache=True, nogil=True)
def _cover_bytes(trans, min_bytes):
    """`dfa_cover`'s first four words: per state the bytes leading to a state alive on a superset
    of its live bytes, cleared where fewer than ``min_bytes``."""
    G = trans.shape[0]
    out = np.zeros((G, 5), np.uint64)
    alive = np.zeros((G, 4), np.uint64)
    one = np.uint64(1)
    for g in range(G):
        for b in range(256):
            if trans[g, b] >= 0:
                alive[g, b >> 6] |= one << np.uint64(b & 63)
    for g in range(G):
        cnt = 0
        for b in range(256):
            t = trans[g, b]
            if t >= 0 and _subset(alive, g, alive, t):
                out[g, b >> 6] |= one << np.uint64(b & 63)
                cnt += 1
        if cnt < min_bytes:
            for w in range(4):
                out[g, w] = 0
    return out


@numba.njit(cache=True, nogil=True)
def _reach_search(trans, R, loc, cb):
    """Per state ``R[k]`` (closed under the bytes ``cb``; ``loc`` maps a state to its index) the
    number of ``cb`` bytes to the nearest state where one of them is dead (-1: none reachable):
    a breadth-first search backwards from those states."""
    m = R.shape[0]
    indeg = np.zeros(m + 1, np.int64)
    dist = np.full(m, -1, np.int64)
    queue = np.empty(m, np.int64)
    qt = 0
    for k in range(m):
        leaky = False
        for j in range(cb.shape[0]):
            t = trans[R[k], cb[j]]
            if t < 0:
                leaky = True
            else:
                indeg[loc[t] + 1] += 1
        if leaky:
            dist[k] = 0
            queue[qt] = k
            qt += 1
    for k in range(m):
        indeg[k + 1] += indeg[k]
    fill = indeg[:m].copy()
    preds = np.empty(indeg[m], np.int64)
    for k in range(m):
        for j in range(cb.shape[0]):
            t = trans[R[k], cb[j]]
            if t >= 0:
                x = loc[t]
                preds[fill[x]] = k
                fill[x] += 1
    qh = 0
    while qh < qt:
        x = queue[qh]
        qh += 1
        for e in range(indeg[x], indeg[x + 1]):
            k = preds[e]
            if dist[k] < 0:
                dist[k] = dist[x] + 1
                queue[qt] = k
                qt += 1
    return dist


@numba.njit(cache=True, nogil=True)
def dfa_shape(trans, acc, g, ids, order, out):
    """The canonical form of the DFA reachable from state ``g``: states numbered in BFS order from
    ``g`` (bytes increasing), each written to ``out`` (int32) as its accepting flag, its live
    byte runs as pairs (``lo | hi << 8``, number of the target), then -1. Two states with equal
    forms accept the same byte strings from every reachable state alike, so a trie walk from one
    equals the walk from the other (covers included: they are functions of this form).

    ``ids`` (int32 [G]) must hold -1 and is restored; ``order`` is int32 [G] scratch. Returns the
    length written, or -1 when ``out`` was too small. Cost O(reachable states × 256)."""
    n = 1
    order[0] = g
    ids[g] = 0
    k = 0
    w = 0
    cap = out.shape[0]
    ok = True
    while k < n:
        s = order[k]
        k += 1
        if w + 2 > cap:
            ok = False
            break
        out[w] = 1 if acc[s] else 0
        w += 1
        b = 0
        while b < 256:
            t = trans[s, b]
            if t < 0:
                b += 1
                continue
            e = b
            while e + 1 < 256 and trans[s, e + 1] == t:
                e += 1
            if ids[t] < 0:
                ids[t] = n
                order[n] = t
                n += 1
            if w + 3 > cap:
                ok = False
                break
            out[w] = b | (e << 8)
            out[w + 1] = ids[t]
            w += 2
            b = e + 1
        if not ok:
            break
        out[w] = -1
        w += 1
    for j in range(n):
        ids[order[j]] = -1
    return w if ok else -1
