"""`native.grammar_kernels.walk_lexer` against a plain Python walk of the same trie, on random
DFAs and vocabularies: the allowed tokens and the completion nodes (with their accepting
sources) are equal, including where whole subtrees are taken at once because every alive state
loops on all their bytes (`_loops_cover`, with self-loops on bytes in each of the four 64-byte
words of the bit sets)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import constrain as cn
from constrain.grammar.walks import _below_bytes
from constrain.native.grammar_kernels import dfa_loop_bytes, walk_lexer
from constrain.native.vocab_kernels import subtree_bytes

ALPHABET = [0x00, 0x22, 0x41, 0x61, 0x62, 0x80, 0xC3, 0xFF]  # one or two bytes per 64-byte word


def _reference(trans, acc, lex, starts, trie, words):
    """(row, {completion node: accepting indices into lex}) by following every state from every
    node: a completion node has an accepting state and some node below where all are dead."""
    row = np.zeros(words, dtype=np.int32)
    comp = {}
    nb, nd, nsub = trie.node_byte, trie.node_depth, trie.node_subtree
    for s in starts.tolist():
        states = {s: [(j, int(g)) for j, g in enumerate(lex.tolist()) if g >= 0]}
        for i in range(s + 1, s + int(nsub[s])):
            parent = max(p for p in states if p < i and p + nsub[p] > i)  # nearest ancestor listed
            if nd[parent] != nd[i] - 1:
                continue  # below a dead node
            nxt = [(j, int(trans[g, nb[i]])) for j, g in states[parent] if trans[g, nb[i]] >= 0]
            if not nxt:
                continue
            states[i] = nxt
            for t in trie.tok_ids[trie.tok_ptr[i]:trie.tok_ptr[i + 1]].tolist():
                row[t >> 5] |= np.int32(1) << np.int32(t & 31)
        for i, sts in states.items():
            if i == s or nsub[i] <= 1:
                continue
            accepting = tuple(j for j, g in sts if acc[g])
            if not accepting:
                continue
            alive_below = sum(1 for x in states if i < x < i + nsub[i])
            if alive_below < nsub[i] - 1:
                comp[i] = accepting
    return row, comp


@st.composite
def _cases(draw):
    n_states = draw(st.integers(1, 5))
    trans = np.full((n_states, 256), -1, dtype=np.int32)
    for g in range(n_states):
        for b in ALPHABET:
            trans[g, b] = draw(st.sampled_from([-1, g, g, draw(st.integers(0, n_states - 1))]))
    acc = np.array(draw(st.lists(st.booleans(), min_size=n_states, max_size=n_states)), dtype=bool)
    toks = draw(st.lists(st.lists(st.sampled_from(ALPHABET), min_size=1, max_size=6).map(bytes),
                         min_size=1, max_size=60, unique=True))
    lex = sorted(draw(st.sets(st.integers(0, n_states - 1), min_size=1, max_size=3)))
    return trans, acc, toks, np.array(lex, dtype=np.int32)


@settings(max_examples=150, deadline=None)
@given(_cases())
def test_walk_equals_python_reference(case):
    trans, acc, toks, lex = case
    v = cn.Vocabulary.from_bytes([None] + toks)
    t = v.trie
    starts_sets = [np.zeros(1, dtype=np.int32)]
    inner, i = [], 1
    while i < t.n_nodes:  # disjoint subtrees, as the walks of completion nodes have
        if t.node_subtree[i] > 1:
            inner.append(i)
            i += int(t.node_subtree[i])
        else:
            i += 1
    if inner:
        starts_sets.append(np.array(inner[:3], dtype=np.int32))
    for starts in starts_sets:
        nn = t.n_nodes
        row = np.zeros(v.words, dtype=np.int32)
        cnode = np.empty(nn + 1, np.int32)
        cdepth = np.empty(nn + 1, np.int32)
        cptr = np.empty(nn + 2, np.int32)
        csrc = np.empty(nn * len(lex) + 8, np.int32)
        nc, ns = walk_lexer(trans, acc, dfa_loop_bytes(trans), lex, starts, t.node_byte,
                            t.node_depth, t.node_subtree, _below_bytes(t), t.tok_ptr, t.tok_ids,
                            t.max_depth, row, cnode, cdepth, cptr, csrc)
        ref_row, ref_comp = _reference(trans, acc, lex, starts, t, v.words)
        assert np.array_equal(row, ref_row)
        got = {int(cnode[c]): tuple(csrc[cptr[c]:cptr[c + 1]].tolist()) for c in range(nc)}
        assert got == ref_comp


def test_subtree_bytes_and_loop_bytes():
    v = cn.Vocabulary.from_bytes([None, b"ab", b"a\xff", b"b", b"\x00\x80"])
    t = v.trie
    below = subtree_bytes(t.node_byte, t.node_depth)

    def bits(words):
        return {w * 64 + k for w in range(4) for k in range(64) if (int(words[w]) >> k) & 1}

    for i in range(t.n_nodes):
        want = {int(t.node_byte[j]) for j in range(i + 1, i + int(t.node_subtree[i]))}
        assert bits(below[i]) == want
    trans = np.full((2, 256), -1, dtype=np.int32)
    trans[0, [0, 65, 200, 255]] = 0
    trans[0, 66] = 1
    trans[1, 130] = 1
    loops = dfa_loop_bytes(trans)
    assert bits(loops[0]) == {0, 65, 200, 255} and bits(loops[1]) == {130}
