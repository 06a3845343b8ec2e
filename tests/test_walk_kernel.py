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
from constrain.native.grammar_kernels import dfa_cover, dfa_shape, walk_lexer
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


def _shape(trans, acc, g) -> bytes:
    G = trans.shape[0]
    ids = np.full(G, -1, dtype=np.int32)
    out = np.empty(8, dtype=np.int32)
    while True:  # start too small: the kernel's overflow path is taken too
        w = dfa_shape(trans, acc, g, ids, np.empty(G, dtype=np.int32), out)
        assert (ids == -1).all()  # its scratch is restored
        if w >= 0:
            return out[:w].tobytes()
        out = np.empty(2 * len(out), dtype=np.int32)


@settings(max_examples=100, deadline=None)
@given(_cases(), st.randoms(use_true_random=False))
def test_equal_shapes_have_equal_walks(case, rnd):
    """`dfa_shape` (the key of the walks shared between grammars): a DFA next to a copy of itself
    with its states renumbered, one accepting flag flipped in a third copy. Copies of a state
    have equal shapes; any two states with equal shapes have equal single-state walks (so a walk
    cached under a shape is right for every state of that shape), and two lists of states with
    equal shapes in order have equal walks."""
    trans, acc, toks, _ = case
    n = trans.shape[0]
    perm = list(range(n))
    rnd.shuffle(perm)
    inv = np.argsort(perm)
    copy = np.where(trans >= 0, np.asarray(perm, dtype=np.int32)[np.maximum(trans, 0)], -1)[inv] + n
    copy[trans[inv] < 0] = -1
    third = np.where(trans >= 0, trans + 2 * n, -1)
    big = np.concatenate([trans, copy.astype(np.int32), third.astype(np.int32)])
    flip = rnd.randrange(n)
    big_acc = np.concatenate([acc, acc[inv], acc])
    big_acc[2 * n + flip] = not big_acc[2 * n + flip]
    shapes = [_shape(big, big_acc, g) for g in range(3 * n)]
    for g in range(n):
        assert shapes[g] == shapes[n + perm[g]]
    v = cn.Vocabulary.from_bytes([None] + toks)
    root = np.zeros(1, dtype=np.int32)
    walks = {}
    for g in range(3 * n):
        row, comp = _walk(big, big_acc, np.array([g], dtype=np.int32), root, v)
        first = walks.setdefault(shapes[g], (row, comp))
        assert np.array_equal(first[0], row) and first[1] == comp
    assert shapes[flip] != shapes[2 * n + flip]  # the flipped state itself is reachable from it
    for _ in range(4):  # several states at once (`Walker._joint_walk`): keyed by shapes in order
        lex = rnd.sample(range(n), min(n, rnd.randint(2, 3)))
        copied = [n + perm[g] if rnd.random() < 0.5 else g for g in lex]
        assert [shapes[g] for g in lex] == [shapes[g] for g in copied]
        a = _walk(big, big_acc, np.array(lex, dtype=np.int32), root, v)
        b = _walk(big, big_acc, np.array(copied, dtype=np.int32), root, v)
        assert np.array_equal(a[0], b[0]) and a[1] == b[1]


def test_shapes_tell_apart_the_same_rows_wired_differently():
    """``a+`` and ``a(aa)*`` have the same states row by row but for where one edge goes."""
    trans = np.full((4, 256), -1, dtype=np.int32)
    trans[0, 97], trans[1, 97] = 1, 1  # a+
    trans[2, 97], trans[3, 97] = 3, 2  # a(aa)*
    acc = np.array([False, True, False, True])
    assert _shape(trans, acc, 0) != _shape(trans, acc, 2)
    v = cn.Vocabulary.from_bytes([None, b"a", b"ab", b"aa", b"aab"])  # "b" ends the lexeme
    lex0, lex2 = np.array([0], dtype=np.int32), np.array([2], dtype=np.int32)
    root = np.zeros(1, dtype=np.int32)
    assert _walk(trans, acc, lex0, root, v)[1] != _walk(trans, acc, lex2, root, v)[1]


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
