"""numba kernel of `constrain.vocab`: the flat preorder token trie built from sorted byte strings.

Plain typed arrays only, ``cache=True``.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def build_trie(buf, offs, n_max_nodes):  # pragma: no cover - compiled
    """Emit preorder trie nodes from byte strings sorted lexicographically.

    ``buf[offs[k]:offs[k+1]]`` is the k-th sorted string. Returns per-node arrays (trimmed by
    the caller to ``n_nodes``) and the node index each string ends at.
    """
    n = offs.shape[0] - 1
    node_byte = np.zeros(n_max_nodes, np.uint8)
    node_depth = np.zeros(n_max_nodes, np.int32)
    node_subtree = np.zeros(n_max_nodes, np.int32)
    tok_node = np.zeros(n, np.int32)
    # stack[d] = index of the node at depth d on the current path
    max_len = 0
    for k in range(n):
        ln = offs[k + 1] - offs[k]
        if ln > max_len:
            max_len = ln
    stack = np.zeros(max_len + 1, np.int32)
    sp = 0  # depth of the deepest node on the path
    n_nodes = 1
    prev_start = 0
    prev_len = 0
    for k in range(n):
        start = offs[k]
        ln = offs[k + 1] - start
        # longest common prefix with the previous string
        lcp = 0
        m = min(ln, prev_len)
        while lcp < m and buf[start + lcp] == buf[prev_start + lcp]:
            lcp += 1
        # close nodes deeper than lcp
        while sp > lcp:
            node = stack[sp]
            node_subtree[node] = n_nodes - node
            sp -= 1
        # open new nodes for the rest of this string
        for d in range(lcp, ln):
            node_byte[n_nodes] = buf[start + d]
            node_depth[n_nodes] = d + 1
            sp += 1
            stack[sp] = n_nodes
            n_nodes += 1
        tok_node[k] = stack[ln]
        prev_start = start
        prev_len = ln
    while sp >= 0:
        node = stack[sp]
        node_subtree[node] = n_nodes - node
        sp -= 1
    return node_byte, node_depth, node_subtree, tok_node, n_nodes, max_len


@numba.njit(cache=True)
def subtree_bytes(node_byte, node_depth):  # pragma: no cover - compiled
    """Per node of a preorder trie the set of bytes labelling the nodes strictly below it and its
    height: uint64 [n_nodes, 5], byte ``b`` at bit ``b & 63`` of word ``b >> 6``, then the largest
    depth below the node relative to it (0 for a leaf). O(nodes)."""
    n = node_byte.shape[0]
    out = np.zeros((n, 5), np.uint64)
    if n == 0:
        return out
    parent = np.zeros(n, np.int32)
    max_d = 0
    for i in range(n):
        if node_depth[i] > max_d:
            max_d = node_depth[i]
    stack = np.zeros(max_d + 1, np.int32)
    for i in range(1, n):
        d = node_depth[i]
        stack[d] = i
        parent[i] = stack[d - 1]
    for i in range(n - 1, 0, -1):
        p = parent[i]
        b = np.int64(node_byte[i])
        for w in range(4):
            out[p, w] |= out[i, w]
        out[p, b >> 6] |= np.uint64(1) << np.uint64(b & 63)
        if out[i, 4] + np.uint64(1) > out[p, 4]:
            out[p, 4] = out[i, 4] + np.uint64(1)
    return out
