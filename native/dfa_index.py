"""numba kernels: DFA × flat token trie → allowed-token bitmask rows.

Plain typed arrays only (no Python objects), ``cache=True`` so the JIT cost is paid once per
machine, ``nogil=True`` so rows can be built off the main thread.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def fill_rows(trans, states, node_byte, node_depth, node_subtree, tok_ptr, tok_ids, rows):
    """For each DFA state ``states[k]`` write into ``rows[k]`` (int32 words, bit t = token t) the
    tokens whose bytes the DFA can read from that state without dying.

    Walks the trie in preorder with a per-depth stack of DFA states and skips a whole subtree as
    soon as the DFA dies on its edge byte. Cost: O(trie nodes whose byte path stays alive).
    Returns the number of trie nodes visited (for benchmarks)."""
    n_nodes = node_byte.shape[0]
    max_depth = 0
    for i in range(n_nodes):
        if node_depth[i] > max_depth:
            max_depth = node_depth[i]
    stack = np.empty(max_depth + 1, dtype=np.int32)
    visited = 0
    for k in range(states.shape[0]):
        row = rows[k]
        for w in range(row.shape[0]):
            row[w] = 0
        stack[0] = states[k]
        i = 1
        while i < n_nodes:
            d = node_depth[i]
            nxt = trans[stack[d - 1], node_byte[i]]
            visited += 1
            if nxt < 0:
                i += node_subtree[i]
                continue
            stack[d] = nxt
            for p in range(tok_ptr[i], tok_ptr[i + 1]):
                t = tok_ids[p]
                row[t >> 5] |= np.int32(1) << np.int32(t & 31)
            i += 1
    return visited


@numba.njit(cache=True, nogil=True)
def run_bytes(trans, state, data, start, stop):
    """DFA state after ``data[start:stop]`` from ``state``; -1 once dead."""
    for j in range(start, stop):
        state = trans[state, data[j]]
        if state < 0:
            return -1
    return state


def warm_up() -> None:
    """Compile (or load from cache) every kernel on tiny inputs, off the per-token path."""
    trans = np.full((1, 256), -1, dtype=np.int32)
    trans[0, 97] = 0
    nb = np.array([0, 97], dtype=np.uint8)
    nd = np.array([0, 1], dtype=np.int32)
    ns = np.array([2, 1], dtype=np.int32)
    tp = np.array([0, 0, 1], dtype=np.int32)
    ti = np.array([0], dtype=np.int32)
    rows = np.zeros((1, 1), dtype=np.int32)
    fill_rows(trans, np.zeros(1, np.int32), nb, nd, ns, tp, ti, rows)
    run_bytes(trans, 0, nb, 1, 2)
