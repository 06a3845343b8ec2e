"""`CompiledGrammar.fill_masks`: one call for many matchers, serial or on threads, equals the
matchers' own masks (the compiled grammar's caches are shared between threads)."""

from __future__ import annotations

import numpy as np
import pytest

from constrain.grammar.api import Grammar


@pytest.mark.parametrize("threads", [1, 2])
def test_fill_masks_equals_fill_mask(smollm2_tokenizer, smollm2_vocab, threads):
    vocab = smollm2_vocab
    text = '{"a": [1, 2.5, {"b": null}], "c": "x y"}'
    ids = smollm2_tokenizer.encode(text, add_special_tokens=False)
    # one grammar for the batch (fresh caches, so the threads race on cache misses) ...
    c = Grammar.load("json").compile(vocab, cache=False)
    matchers = []
    m = c.matcher()
    for t in ids:
        matchers.append(m.fork())
        m.advance(t)
    matchers.append(m)
    rows = np.arange(len(matchers))[::-1].copy()
    got = np.zeros((len(matchers) + 1, vocab.words), dtype=np.int32)
    c.fill_masks(matchers, got, rows, threads=threads)
    # ... and another for the reference, one mask at a time
    ref_c = Grammar.load("json").compile(vocab, cache=False)
    ref = np.zeros((1, vocab.words), dtype=np.int32)
    rm = ref_c.matcher()
    for k, row in enumerate(rows):
        rm.fill_mask(ref, 0)
        assert np.array_equal(got[row], ref[0]), k
        if k < len(ids):
            rm.advance(ids[k])
    assert not got[len(matchers)].any()


def test_fill_masks_refuses_foreign_matchers(smollm2_vocab):
    a = Grammar.load("json").compile(smollm2_vocab, cache=False)
    b = Grammar.load("json").compile(smollm2_vocab, cache=False)
    bm = np.zeros((1, smollm2_vocab.words), dtype=np.int32)
    with pytest.raises(TypeError):
        a.fill_masks([b.matcher()], bm)
    with pytest.raises(ValueError):
        a.fill_masks([a.matcher()], bm, rows=[0, 1])



def test_fill_masks_threads_duplicates_eos_and_wide_bitmask(smollm2_tokenizer, smollm2_vocab):
    """Threads: equal signatures computed once and copied to every row, finished matchers get the
    EOS row, a bitmask wider than the vocabulary gets its extra columns zeroed; a second call
    (warm: every row known) gives the same rows."""
    vocab = smollm2_vocab
    eos = sorted(vocab.eos_ids)[0]
    docs = ['[1, 2, 3]', '{"k": "v"}', '[true, "a b", {"x": -1.5e3}]']
    c = Grammar.load("json").compile(vocab, cache=False)
    ms, seqs = [], []
    for d in docs:
        m = c.matcher()
        ids = smollm2_tokenizer.encode(d, add_special_tokens=False) + [eos]
        for k, t in enumerate(ids):
            ms += [m.fork(), m.fork()]  # two matchers at every signature
            seqs += [ids[:k], ids[:k]]
            m.advance(t)
        ms.append(m)  # finished
        seqs.append(ids)
    ref_c = Grammar.load("json").compile(vocab, cache=False)
    ref = np.zeros((len(ms), vocab.words), dtype=np.int32)
    for k, seq in enumerate(seqs):  # the same states rebuilt on another grammar, masks one by one
        rm = ref_c.matcher()
        for t in seq:
            rm.advance(t)
        rm.fill_mask(ref, k)
    assert ref[-1].any() and not np.array_equal(ref[-1], ref[-2])
    for _ in range(2):
        got = np.full((len(ms), vocab.words + 3), -1, dtype=np.int32)
        c.fill_masks(ms, got, threads=2)
        assert not got[:, vocab.words:].any()
        assert np.array_equal(got[:, :vocab.words], ref)
