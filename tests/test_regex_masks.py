"""Token masks equal a brute-force check over the whole vocabulary at every step, on real
vocabularies (SmolLM2 49k, Gemma 3 262k); the Matcher contract (advance, rollback, fork, EOS).

The brute force is independent of the implementation: every token's bytes are run through the
DFA with vectorised numpy (no trie, no numba).
"""

from __future__ import annotations

import random
import re

import numpy as np
import pytest

import constrain as cn
from constrain.bitmask import bitmask_to_bool

CASES = [
    (r"\d{3}-\d{4}", ["555-1234", "000-9999"]),
    (r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?",
     ["john.doe@example.com"]),
    (r"(https?:\/\/)?([\da-z\.-]+)\.([a-z\.]{2,6})([\/\w \.-]*)*\/?", ["https://www.github.com/dottxt-ai/outlines"]),
    (r'\{"name": "[^"]{1,20}", "age": \d{1,3}\}', ['{"name": "Zoë 日本", "age": 42}']),
    (r"(café|naïve|日本語|😀+)", ["naïve", "日本語", "😀😀😀"]),
    (r"(?i)select \w+ from \w+", ["SELECT name FROM singer"]),
    (r"-?\d+(\.\d+)?([eE][+-]?\d+)?", ["-12.5e+3"]),
]


class BruteForce:
    """Independent reference: token bytes as a padded matrix, DFA run column by column."""

    def __init__(self, vocab: cn.Vocabulary):
        self.vocab = vocab
        lens = np.array([len(b) if b else 0 for b in vocab.token_bytes], dtype=np.int64)
        self.lens = lens
        width = int(lens.max())
        mat = np.zeros((vocab.size, width), dtype=np.uint8)
        for i, b in enumerate(vocab.token_bytes):
            if b:
                mat[i, :len(b)] = np.frombuffer(b, dtype=np.uint8)
        self.mat = mat
        self.eos = set(vocab.eos_ids.tolist())
        self.normal = (lens > 0) & ~np.isin(np.arange(vocab.size), vocab.eos_ids)

    def allowed(self, dfa, state: int) -> np.ndarray:
        trans = dfa.transitions
        cur = np.full(self.vocab.size, state, dtype=np.int64)
        alive = self.normal.copy()
        for j in range(self.mat.shape[1]):
            active = alive & (self.lens > j)
            if not active.any():
                break
            nxt = trans[cur[active], self.mat[active, j]]
            cur[active] = nxt
            alive[active] = nxt >= 0
        out = alive
        if dfa.accepting[state]:
            out = out.copy()
            out[list(self.eos)] = True
        return out


def _check_walk(vocab, brute, tokenizer, pattern, texts):
    regex = cn.Regex(pattern)
    compiled = regex.compile(vocab)
    buf = np.zeros((2, vocab.words), dtype=np.int32)
    for text in texts:
        assert re.fullmatch(pattern, text, regex.flags)
        ids = tokenizer.encode(text, add_special_tokens=False)
        assert vocab.decode(ids) == text.encode()
        m = compiled.matcher()
        for step, tid in enumerate(list(ids) + [None]):
            m.fill_mask(buf, 1)
            got = bitmask_to_bool(buf[1], vocab.size)
            want = brute.allowed(regex.dfa, m.state)
            diff = np.flatnonzero(got != want)
            assert diff.size == 0, (pattern, text, step, [(int(t), vocab.token_bytes[t]) for t in diff[:5]])
            # allows() agrees with the mask on allowed tokens and a sample of others
            sample = np.concatenate([np.flatnonzero(want)[:50], np.random.default_rng(step).integers(0, vocab.size, 50)])
            for t in sample.tolist():
                assert m.allows(t) == bool(want[t]), (pattern, text, step, t)
            if tid is None:
                assert m.is_accepting()
                for e in vocab.eos_ids.tolist():
                    assert m.allows(e)
                m.advance(int(vocab.eos_ids[0]))
                assert m.is_terminated()
                break
            m.advance(tid)


@pytest.mark.parametrize("pattern,texts", CASES)
def test_masks_equal_brute_force_smollm2(smollm2_vocab, smollm2_tokenizer, pattern, texts):
    _check_walk(smollm2_vocab, _brute(smollm2_vocab), smollm2_tokenizer, pattern, texts)


@pytest.mark.parametrize("pattern,texts", CASES)
def test_masks_equal_brute_force_gemma3(gemma3_vocab, gemma3_tokenizer, pattern, texts):
    _check_walk(gemma3_vocab, _brute(gemma3_vocab), gemma3_tokenizer, pattern, texts)


_BRUTE: dict[str, BruteForce] = {}


def _brute(vocab) -> BruteForce:
    if vocab.fingerprint not in _BRUTE:
        _BRUTE[vocab.fingerprint] = BruteForce(vocab)
    return _BRUTE[vocab.fingerprint]


def test_random_walks_under_the_mask_stay_valid(smollm2_vocab):
    """Sample allowed tokens at random: every finished output fullmatches; masks never dead-end."""
    vocab = smollm2_vocab
    rng = random.Random(0)
    for pattern in [r"[A-Z][a-z]{2,8}( [A-Z][a-z]{2,8}){0,2}", r"\d{1,3}(,\d{3})*(\.\d\d)?", r"(a|bc)+d"]:
        compiled = cn.Regex(pattern).compile(vocab)
        for _ in range(20):
            m = compiled.matcher()
            out = []
            for _ in range(60):
                allowed = m.allowed_tokens()
                assert allowed.size > 0
                t = int(rng.choice(allowed.tolist()))
                m.advance(t)
                if t in vocab.eos_ids:
                    break
                out.append(t)
            if m.is_terminated():
                assert re.fullmatch(pattern, vocab.decode(out).decode(), compiled.regex.flags)


def test_matcher_contract(tiny_vocab):
    vocab = tiny_vocab
    ids = {b: i for i, b in enumerate(vocab.token_bytes) if b}
    compiled = cn.Regex(r"ab+c?").compile(vocab)
    m = compiled.matcher()
    assert not m.is_accepting() and m.num_tokens == 0
    eos = int(vocab.eos_ids[0])
    assert not m.allows(eos)
    a, b = ids.get(b"a"), ids.get(b"b")
    assert a is not None and b is not None
    with pytest.raises(cn.TokenRejected):
        m.advance(b)
    assert m.num_tokens == 0  # unchanged after a rejection
    m.advance(a)
    f = m.fork()
    m.advance(b)
    assert m.is_accepting() and m.allows(eos) and not f.is_accepting()
    m.rollback(1)
    assert m.num_tokens == 1 and not m.is_accepting()
    with pytest.raises(ValueError):
        m.rollback(5)
    assert not m.allows(-1) and not m.allows(vocab.size) and not m.allows(10**9)


def test_terminated_allows_only_eos(tiny_vocab):
    vocab = tiny_vocab
    ids = {b: i for i, b in enumerate(vocab.token_bytes) if b}
    m = cn.Regex("a").compile(vocab).matcher()
    m.advance(ids[b"a"])
    assert m.is_terminated() and m.is_accepting()
    assert set(m.allowed_tokens().tolist()) == set(vocab.eos_ids.tolist())


def test_compile_is_cached_and_torch_bitmask(smollm2_vocab):
    import torch
    r1, r2 = cn.Regex(r"\d+"), cn.Regex(r"\d+")
    assert r1.compile(smollm2_vocab) is r2.compile(smollm2_vocab)
    m = r1.compile(smollm2_vocab).matcher()
    t = torch.zeros((3, smollm2_vocab.words), dtype=torch.int32)
    m.fill_mask(t, 2)
    assert t[2].ne(0).any() and t[0].eq(0).all()


def test_fill_mask_destinations(tiny_vocab):
    """Contiguous, strided, wider-than-vocabulary and torch bitmasks all get the same row."""
    import torch
    vocab = tiny_vocab
    m = cn.Regex(r"a+b?").compile(vocab).matcher()
    ref = np.zeros((1, vocab.words), dtype=np.int32)
    m.fill_mask(ref, 0)
    wide = np.full((2, vocab.words + 2), -1, dtype=np.int32)
    m.fill_mask(wide, 1)
    assert (wide[1, :vocab.words] == ref[0]).all() and (wide[1, vocab.words:] == 0).all()
    strided = np.full((4, vocab.words), -1, dtype=np.int32)[::2]
    m.fill_mask(strided, 1)
    assert (strided[1] == ref[0]).all()
    t = torch.full((3, vocab.words), -1, dtype=torch.int32)
    m.fill_mask(t, 2)
    m.fill_mask(t, 0)
    assert (t[2].numpy() == ref[0]).all() and (t[0].numpy() == ref[0]).all() and (t[1] == -1).all()


def test_background_rows_equal_eager_rows(smollm2_vocab):
    pattern = r"[a-z]{1,3}\d{1,60}"  # > 48 states: rows are built in the background
    bg = cn.Regex(pattern).compile(smollm2_vocab, cache=False)
    eager = cn.Regex(pattern, eager=True).compile(smollm2_vocab, cache=False)
    assert bg.n_states > 48
    m = bg.matcher()  # a foreground walk while the background thread runs
    for t in [smollm2_vocab.token_bytes.index(b"a"), smollm2_vocab.token_bytes.index(b"1")]:
        m.allowed_tokens()
        m.advance(t)
    assert bg.wait_ready(timeout=60)
    for s in range(bg.n_states):
        assert (bg.row(s) == eager.row(s)).all(), s
