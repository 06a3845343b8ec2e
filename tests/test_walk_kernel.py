"""`native.grammar_kernels.walk_lexer` against a plain Python walk of the same trie, on random
DFAs (self-loops, and bounded chains like a string of at most n characters) and vocabularies:
the allowed tokens and the completion nodes (with their accepting sources) are equal, including
where whole subtrees are taken at once because an alive state surely survives all their paths
(`_covered`, with bytes in each of the four 64-byte words of the bit sets)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import constrain as cn
from constrain.grammar.walks import _below_bytes
from constrain.native.grammar_kernels import dfa_cover, walk_lexer
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
    n_states = draw(st.integers(1, 7))
    trans = np.full((n_states, 256), -1, dtype=np.int32)
    if draw(st.booleans()):  # random, with many self-loops
        for g in range(n_states):
            for b in ALPHABET:
                trans[g, b] = draw(st.sampled_from([-1, g, g, draw(st.integers(0, n_states - 1))]))
    else:  # a chain: bytes of a class step to the next state, an end byte to the last state
        cls = draw(st.sets(st.sampled_from(ALPHABET), min_size=1, max_size=6))
        end = draw(st.sampled_from(ALPHABET))
        for g in range(n_states - 1):
            for b in cls:
                trans[g, b] = min(g + 1, n_states - 2) if draw(st.booleans()) else g + 1
            if g >= draw(st.integers(0, n_states)):
                trans[g, end] = n_states - 1
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
        nc, ns = walk_lexer(trans, acc, dfa_cover(trans, 1), lex, starts, t.node_byte,
                            t.node_depth, t.node_subtree, _below_bytes(t), t.tok_ptr, t.tok_ids,
                            t.max_depth, row, cnode, cdepth, cptr, csrc)
        ref_row, ref_comp = _reference(trans, acc, lex, starts, t, v.words)
        assert np.array_equal(row, ref_row)
        got = {int(cnode[c]): tuple(csrc[cptr[c]:cptr[c + 1]].tolist()) for c in range(nc)}
        assert got == ref_comp


def _bits(words) -> set:
    return {w * 64 + k for w in range(4) for k in range(64) if (int(words[w]) >> k) & 1}


def test_subtree_bytes_and_heights():
    v = cn.Vocabulary.from_bytes([None, b"ab", b"a\xff", b"b", b"\x00\x80", b"abcd"])
    t = v.trie
    below = subtree_bytes(t.node_byte, t.node_depth)
    for i in range(t.n_nodes):
        sub = range(i + 1, i + int(t.node_subtree[i]))
        assert _bits(below[i]) == {int(t.node_byte[j]) for j in sub}
        assert int(below[i, 4]) == max([int(t.node_depth[j] - t.node_depth[i]) for j in sub], default=0)


def test_cover_of_loops_and_bounded_chains():
    trans = np.full((6, 256), -1, dtype=np.int32)
    trans[0, [0, 65, 200, 255]] = 0  # a self-loop on four bytes (one per word but one)
    trans[0, 34] = 5
    for g in (1, 2, 3):  # at most 3 more of [ab] then '"': reach 3, 2 over {a, b} from 1, 2
        trans[g, [97, 98]] = g + 1
        trans[g, 34] = 5
    trans[4, 34] = 5  # no more [ab]: 3 has no cover byte (4 lives on fewer bytes than 3)
    cover = dfa_cover(trans, 1)
    assert _bits(cover[0]) == {0, 65, 200, 255} and int(cover[0, 4]) >= 1 << 62
    assert _bits(cover[1]) == {97, 98} and int(cover[1, 4]) == 3
    assert _bits(cover[2]) == {97, 98} and int(cover[2, 4]) == 2
    assert not _bits(cover[3]) and not _bits(cover[5])
    assert not _bits(dfa_cover(trans, 3)[1])  # fewer than min_bytes cover bytes: none kept


def _walk(trans, acc, lex, starts, v):
    t = v.trie
    nn = t.n_nodes
    row = np.zeros(v.words, dtype=np.int32)
    cnode, cdepth = np.empty(nn + 1, np.int32), np.empty(nn + 1, np.int32)
    cptr, csrc = np.empty(nn + 2, np.int32), np.empty(nn * len(lex) + 8, np.int32)
    nc, _ = walk_lexer(trans, acc, dfa_cover(trans, 1), lex, starts, t.node_byte, t.node_depth,
                       t.node_subtree, _below_bytes(t), t.tok_ptr, t.tok_ids, t.max_depth, row,
                       cnode, cdepth, cptr, csrc)
    return row, {int(cnode[c]): tuple(csrc[cptr[c]:cptr[c + 1]].tolist()) for c in range(nc)}


@pytest.mark.parametrize("n", [1, 2, 4, 7])
def test_bounded_chain_at_its_exact_reach(n):
    """A string of at most ``n`` characters of [ab] then '"' (a chain of states, no self-loop),
    against every [ab] string of up to ``n + 1`` bytes and a few longer or with the closing
    quote: subtrees as high as a state's reach are taken whole, one byte higher are walked."""
    trans = np.full((n + 2, 256), -1, dtype=np.int32)
    for g in range(n + 1):
        if g < n:
            trans[g, [97, 98]] = g + 1
        trans[g, 34] = n + 1
    acc = np.zeros(n + 2, dtype=bool)
    acc[n + 1] = True
    # [ab] subtrees exactly one byte higher than the reach of the state there (and one more)
    toks = sorted({bytes(p) for k in range(1, n + 2) for p in itertools.product(b"ab", repeat=k)}
                  | {b"b" * (n + 2), b'"', b'a"', b'b"a', b'aa"'})
    v = cn.Vocabulary.from_bytes([None] + toks)
    for g in range(n + 1):
        lex = np.array([g], dtype=np.int32)
        starts = np.zeros(1, dtype=np.int32)
        row, comp = _walk(trans, acc, lex, starts, v)
        ref_row, ref_comp = _reference(trans, acc, lex, starts, v.trie, v.words)
        assert np.array_equal(row, ref_row) and comp == ref_comp, g
