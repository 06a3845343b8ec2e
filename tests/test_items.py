"""Item constraints (``constrain.items``): CSR trie vs a reference built from the item list,
the matcher contract, the batched CPU step and masks, the torch/Triton device path, constrained
beam search vs brute-force enumeration, and ``model.generate`` with the real SmolLM2."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import zlib

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import constrain as cn
from constrain.beam import beam_search, beam_topk
from constrain.bitmask import bitmask_to_bool
from constrain.items import CompiledItems, Items
from constrain.native import triton_items as ti
from constrain.vocab import Vocabulary

V = 70  # token ids 0..69 (three bitmask words); 70 = EOS, 71 = a control token (no bytes)
EOS = 70
NOTOK = 71


def make_vocab(v: int = V) -> Vocabulary:
    toks: list[bytes | None] = [f"<{i}>".encode() for i in range(v)] + [None, None]
    return Vocabulary.from_bytes(toks, eos_ids=[v], size=v + 3)  # id v+2: beyond the tokens


VOCAB = make_vocab()


# ----------------------------------------------------------------------------- references


def ref_next(items: set[tuple], prefix: tuple) -> set[int]:
    """Allowed next ids after ``prefix``, straight from the item list (EOS when it is an item)."""
    n = len(prefix)
    out = {it[n] for it in items if len(it) > n and it[:n] == prefix}
    if prefix in items:
        out.add(EOS)
    return out


def mask_of(m) -> set[int]:
    buf = np.zeros((1, VOCAB.words), np.int32)
    m.fill_mask(buf, 0)
    return set(np.flatnonzero(bitmask_to_bool(buf, VOCAB.size)[0]).tolist())


item_sets = st.lists(st.lists(st.integers(0, V - 1), min_size=1, max_size=6), min_size=1, max_size=25)


def prefixes(items: set[tuple]) -> set[tuple]:
    return {it[:k] for it in items for k in range(len(it) + 1)}


# ----------------------------------------------------------------------------- index


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(item_sets, st.integers(0, 2**32 - 1))
def test_masks_equal_reference_every_step(raw, seed):
    items = {tuple(x) for x in raw}
    c = Items(raw).compile(VOCAB, cache=False)
    assert set(c.iter_items()) == items and c.n_items == len(items)
    assert c.n_states == len(prefixes(items))
    rng = np.random.default_rng(seed)
    for _ in range(3):
        m = c.matcher()
        prefix: tuple = ()
        while True:
            want = ref_next(items, prefix)
            assert mask_of(m) == want, prefix
            for t in range(VOCAB.size):
                assert m.allows(t) == (t in want)
            assert m.is_accepting() == (prefix in items)
            assert m.is_terminated() == (want == {EOS})
            bad = [t for t in range(V) if t not in want]
            if bad:
                with pytest.raises(cn.TokenRejected):
                    m.advance(int(rng.choice(bad)))
                assert m.num_tokens == len(prefix)
            t = int(rng.choice(sorted(want)))
            m.advance(t)
            if t == EOS:
                break
            prefix += (t,)
        assert mask_of(m) == {EOS} and m.is_terminated() and m.allows(EOS)
        m.rollback(m.num_tokens)
        assert m.num_tokens == 0 and mask_of(m) == ref_next(items, ())


@settings(max_examples=40, deadline=None)
@given(item_sets)
def test_every_item_reachable_and_nothing_else(raw):
    items = {tuple(x) for x in raw}
    c = Items(raw).compile(VOCAB, cache=False)
    for it in items:
        s = c.walk(it)
        assert s > 0 and c.is_end(s)
        assert c.walk(it + (EOS,)) == c.done
    # every state is a prefix of some item; every leaf is an item
    for s in range(1, c.n_states):
        if c.degree([s])[0] == 0:
            assert c.is_end(s)
    # level tables: the widest fan-out per level
    pre = prefixes(items)
    for d, k in enumerate(c.level_width.tolist()):
        assert k == max((len(ref_next(items, p) - {EOS}) for p in pre if len(p) == d), default=0)


def test_unsorted_duplicates_and_padded_array_agree():
    rng = np.random.default_rng(0)
    raw = [rng.integers(0, V, size=rng.integers(1, 7)).tolist() for _ in range(200)]
    raw += raw[:50] + [raw[3][:1], raw[5][:2]]  # duplicates and prefixes
    L = max(map(len, raw))
    pad = np.full((len(raw), L), 12345, np.int64)  # padding values are ignored
    for i, r in enumerate(raw):
        pad[i, : len(r)] = r
    lens = [len(r) for r in raw]
    a = Items(raw).compile(VOCAB, cache=False)
    b = Items(pad, lengths=lens).compile(VOCAB, cache=False)
    c = Items(list(reversed(raw))).compile(VOCAB, cache=False)
    d = Items(torch.from_numpy(pad), lengths=torch.tensor(lens)).compile(VOCAB, cache=False)
    for x in (b, c, d):
        np.testing.assert_array_equal(a.indptr, x.indptr)
        np.testing.assert_array_equal(a.tokens, x.tokens)
        np.testing.assert_array_equal(a.end_bits, x.end_bits)
    assert a.n_items == len({tuple(r) for r in raw})
    # fixed-width array without lengths
    e = Items(np.array([[1, 2], [1, 3], [1, 2]])).compile(VOCAB, cache=False)
    assert sorted(e.iter_items()) == [(1, 2), (1, 3)]
    # compile() caches per (items, vocabulary)
    it = Items(raw)
    assert it.compile(VOCAB) is it.compile(VOCAB)


def test_packed_static_layout():
    c = Items([[1, 2, 3, 4], [1, 2, 5, 6], [1, 4, 4, 4], [2, 3, 4, 5]]).compile(VOCAB, cache=False)
    p = c.packed()
    E = c.tokens.shape[0]
    for s in range(c.n_states):
        for e in range(c.indptr[s], c.indptr[s + 1]):
            assert c.child(s, int(p[e, 0])) == p[e, 1] == e + 1
    assert (p[E:, 0] == VOCAB.size).all() and p.shape[0] == E + c.level_width.max()
    assert c.level_width.tolist() == [2, 2, 2, 1, 0]


@pytest.mark.parametrize("budget", [0, 1 << 30])
def test_dense_rows_agree_with_csr(budget):
    rng = np.random.default_rng(1)
    raw = [rng.integers(0, V, size=3).tolist() for _ in range(2000)]  # wide first levels
    c = CompiledItems(Items(raw), VOCAB, dense_budget=budget)
    assert (c.dense_levels > 0) == (budget > 0)
    items = {tuple(x) for x in raw}
    states = np.arange(-1, c.n_states + 1)
    buf = np.zeros((len(states), VOCAB.words), np.int32)
    c.fill_masks(states, buf)
    got = bitmask_to_bool(buf, VOCAB.size)
    inv = {c.walk(p): p for p in prefixes(items)}
    for k, s in enumerate(states.tolist()):
        want = set() if s < 0 else {EOS} if s == c.done else ref_next(items, inv[s])
        assert set(np.flatnonzero(got[k]).tolist()) == want
        if 0 <= s < c.done and k % 5 == 0:  # allows() on a sample of the states
            m = c.matcher()
            m._states = [s]
            assert {t for t in range(VOCAB.size) if m.allows(t)} == want


def test_errors_name_item_and_position():
    with pytest.raises(cn.InvalidSyntax, match="empty"):
        Items([])
    with pytest.raises(cn.InvalidSyntax, match="item 1: is empty"):
        Items([[1], []])
    with pytest.raises(cn.InvalidSyntax, match=r"item 2: token id -3 .*position 1"):
        Items([[1], [2], [3, -3]])
    cases = [(V + 3, "is outside the vocabulary"), (V + 50, "is outside the vocabulary"),
             (EOS, "is an end-of-sequence"), (NOTOK, "has no token"), (V + 2, "has no token")]
    for bad, what in cases:
        with pytest.raises(cn.InvalidSyntax, match=rf"item 1: token id {bad} {what}.*position 2") as ei:
            Items([[1, 2], [4, 5, bad, 6]]).compile(VOCAB, cache=False)
        assert ei.value.item == 1 and ei.value.position == 2
    with pytest.raises(cn.InvalidSyntax):
        Items(np.zeros((2, 2, 2), np.int64))
    with pytest.raises(cn.InvalidSyntax, match="item 0: length 5"):
        Items(np.zeros((2, 3), np.int64), lengths=[5, 1])


def test_matcher_contract_fork_rollback_prefix_items():
    c = Items([[5, 6], [5, 6, 7], [5, 8], [9]]).compile(VOCAB, cache=False)
    m = c.matcher()
    assert not m.is_accepting() and not m.allows(EOS)
    m.advance(5)
    m.advance(6)
    assert m.is_accepting() and not m.is_terminated() and mask_of(m) == {7, EOS}
    f = m.fork()
    f.advance(7)
    assert f.is_terminated() and mask_of(f) == {EOS}
    assert m.num_tokens == 2 and mask_of(m) == {7, EOS}  # fork is independent
    m.advance(EOS)
    assert m.is_terminated() and m.is_accepting() and mask_of(m) == {EOS}
    m.advance(EOS)  # after EOS only EOS
    with pytest.raises(cn.TokenRejected):
        m.advance(7)
    m.rollback(3)
    assert m.num_tokens == 1 and mask_of(m) == {6, 8}
    with pytest.raises(ValueError):
        m.rollback(2)
    assert not m.allows(-1) and not m.allows(10**6)
    assert m.allowed_tokens().tolist() == [6, 8]


def test_from_strings(smollm2_tokenizer):
    tok = smollm2_tokenizer
    words = ["Paris", "Paris, France", "London", "Berlin"]
    it = Items.from_strings(words, tok)
    vocab = Vocabulary.from_hf(tok)
    c = it.compile(vocab)
    for w in words:
        assert c.is_end(c.walk(tok.encode(w, add_special_tokens=False)))
    assert c.n_items == 4


# ----------------------------------------------------------------------------- batched step


def _random_case(seed, n=300, maxlen=6):
    rng = np.random.default_rng(seed)
    raw = [rng.integers(0, V, size=rng.integers(1, maxlen + 1)).tolist() for _ in range(n)]
    c = Items(raw).compile(VOCAB, cache=False)
    states = np.concatenate([np.arange(c.n_states), [c.done, -1]])
    rng.shuffle(states)
    lp = np.log(rng.dirichlet(np.ones(VOCAB.size), size=len(states))).astype(np.float32)
    return c, states, lp


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cpu_step_equals_matchers(seed):
    c, states, lp = _random_case(seed)
    K = c.width(states)
    assert K == c.level_width.max()
    tok, clp, nxt = c.step(states, lp, eos_id=EOS)
    assert tok.shape == (len(states), K + 1)
    for r, s in enumerate(states.tolist()):
        if s < 0:
            assert (nxt[r] == -1).all() and np.isneginf(clp[r]).all()
            continue
        m = c.matcher()
        if s == c.done:
            want = {EOS}
        else:
            m._states = [s]
            want = set(m.allowed_tokens().tolist())
        valid = nxt[r] >= 0
        assert set(tok[r][valid].tolist()) == want
        for j in np.flatnonzero(valid):
            t = int(tok[r, j])
            assert nxt[r, j] == (c.done if t == EOS else c.child(s, t))
            assert clp[r, j] == (0.0 if s == c.done else lp[r, t])
        assert (tok[r, :K][valid[:K]] != EOS).all() and list(tok[r, :K][valid[:K]]) == sorted(tok[r, :K][valid[:K]])
    # eos_id = -1: the end candidate scores 0
    _, clp0, nxt0 = c.step(states, lp, eos_id=-1)
    ends = nxt0[:, K] == c.done
    assert (clp0[ends, K] == 0).all()
    # per-level K and K too small
    lvl_states = np.arange(c.level_start[1], c.level_start[2])
    assert c.step(lvl_states, lp[: len(lvl_states)], level=1)[0].shape[1] == c.level_width[1] + 1
    with pytest.raises(ValueError, match="more than K"):
        c.step(states, lp, K=max(K - 1, 0))
    # batched masks equal per-matcher masks
    buf = np.zeros((len(states), VOCAB.words), np.int32)
    c.fill_masks(states, buf)
    for r, s in enumerate(states.tolist()):
        row = np.zeros((1, VOCAB.words), np.int32)
        if 0 <= s < c.done:
            m = c.matcher()
            m._states = [s]
            m.fill_mask(row, 0)
            np.testing.assert_array_equal(buf[r], row[0])


def test_torch_step_and_masks_equal_numba():
    c, states, lp = _random_case(3)
    K = c.width(states)
    idx = c.to_device("cpu")
    for eos in (EOS, -1):
        want = c.step(states, lp, eos_id=eos)
        got = ti.step_torch(idx, torch.from_numpy(states), torch.from_numpy(lp), K, eos)
        for a, b in zip(want, got):
            np.testing.assert_array_equal(a, b.numpy())
    buf = np.zeros((len(states), VOCAB.words), np.int32)
    c.fill_masks(states, buf)
    np.testing.assert_array_equal(ti.fill_masks_torch(idx, states, K).numpy(), buf)


def test_triton_kernels_in_interpreter_mode():
    """The Triton step and mask kernels, run by Triton's CPU interpreter, equal the numba path."""
    pytest.importorskip("triton")
    code = textwrap.dedent(
        """
        import numpy as np, torch
        from constrain.items import Items, CompiledItems
        from constrain.native import triton_items as ti
        from constrain.vocab import Vocabulary
        V = 70
        vocab = Vocabulary.from_bytes([f"<{i}>".encode() for i in range(V)], eos_ids=[0], size=V + 1)
        rng = np.random.default_rng(0)
        raw = [rng.integers(1, V, size=rng.integers(1, 5)).tolist() for _ in range(400)]
        for budget in (0, 1 << 30):
            c = CompiledItems(Items(raw), vocab, dense_budget=budget)
            idx = c.to_device("cpu")
            states = np.concatenate([np.arange(c.n_states), [c.done, -1, -1]])
            lp = np.log(rng.dirichlet(np.ones(V + 1), size=len(states))).astype(np.float32)
            K = int(c.level_width.max())
            for eos in (0, -1):
                want = c.step(states, lp, eos_id=eos)
                got = ti.step(idx, torch.from_numpy(states), torch.from_numpy(lp), K, eos)
                for a, b in zip(want, got):
                    assert np.array_equal(a, b.numpy()), eos
            want = np.zeros((len(states), vocab.words), np.int32)
            c.fill_masks(states, want)
            got = torch.full((len(states) + 2, vocab.words), 7, dtype=torch.int32)
            rows = np.arange(len(states)) + 2
            ti.fill_masks(idx, torch.from_numpy(states), got, torch.from_numpy(rows))
            assert np.array_equal(got[2:].numpy(), want)
        print("OK")
        """
    )
    env = dict(os.environ, TRITON_INTERPRET="1")
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0 and "OK" in res.stdout, res.stderr[-3000:]


@pytest.mark.skipif(not ti.available(), reason="needs a CUDA device and Triton")
def test_cuda_equals_cpu():
    c, states, lp = _random_case(4, n=2000, maxlen=8)
    idx = c.to_device("cuda")
    K = int(c.level_width.max())
    for eos in (EOS, -1):
        want = c.step(states, lp, eos_id=eos)
        got = ti.step(idx, torch.from_numpy(states).cuda(), torch.from_numpy(lp).cuda(), K, eos)
        for a, b in zip(want, got):
            np.testing.assert_array_equal(a, b.cpu().numpy())
    want = np.zeros((len(states), VOCAB.words), np.int32)
    c.fill_masks(states, want)
    got = torch.zeros((len(states), VOCAB.words), dtype=torch.int32, device="cuda")
    ti.fill_masks(idx, torch.from_numpy(states).cuda(), got)
    np.testing.assert_array_equal(got.cpu().numpy(), want)
    r1 = beam_search(c, _ToyModel(2), batch_size=2, num_beams=5, eos_id=EOS)
    r2 = beam_search(c, lambda t: torch.from_numpy(_ToyModel(2)(t)).cuda(), batch_size=2,
                     num_beams=5, eos_id=EOS, backend="torch")
    assert r1.items == r2.items


# ----------------------------------------------------------------------------- beam search


class _ToyModel:
    """Deterministic next-token log-probs as a function of (batch element, prefix)."""

    def __init__(self, B, v=VOCAB.size, temp=2.0):
        self.B, self.v, self.temp = B, v, temp
        self.calls = 0

    def logp(self, b: int, prefix: tuple) -> np.ndarray:
        seed = zlib.crc32(repr((b, prefix)).encode())
        x = np.random.default_rng(seed).standard_normal(self.v) * self.temp
        return x - np.log(np.exp(x - x.max()).sum()) - x.max()

    def __call__(self, tokens):
        self.calls += 1
        B, M, t = tokens.shape
        out = np.empty((B, M, self.v))
        for b in range(B):
            for m in range(M):
                pre = tuple(int(x) for x in tokens[b, m] if x >= 0)
                out[b, m] = self.logp(b, pre)
        return out

    def score(self, b: int, item: tuple, eos_id) -> float:
        s = sum(self.logp(b, item[:k])[item[k]] for k in range(len(item)))
        return s + (self.logp(b, item)[eos_id] if eos_id is not None else 0.0)


@pytest.mark.parametrize("eos_id", [None, EOS])
@pytest.mark.parametrize("seed", [0, 1])
def test_beam_search_matches_brute_force(seed, eos_id):
    rng = np.random.default_rng(seed)
    raw = [rng.integers(0, 8, size=rng.integers(1, 5)).tolist() for _ in range(12)]
    raw += [raw[0] + [3], raw[1][:1]]  # prefixes of items are items too
    items = sorted({tuple(r) for r in raw})
    c = Items(raw).compile(VOCAB, cache=False)
    model = _ToyModel(2)
    B = 2
    M = len(items) + 3  # more beams than items: exact, and 3 missing beams
    res = beam_search(c, model, batch_size=B, num_beams=M, eos_id=eos_id)
    for b in range(B):
        brute = sorted(items, key=lambda it: -model.score(b, it, eos_id))
        assert res.items[b] == brute
        np.testing.assert_allclose(res.scores[b, : len(items)],
                                   [model.score(b, it, eos_id) for it in brute], rtol=1e-5)
        assert np.isneginf(res.scores[b, len(items):]).all()
        assert res.missing[b] == 3 and not res.valid[b, len(items):].any()
        assert (res.tokens[b, len(items):] == -1).all() and (res.lengths[b, len(items):] == 0).all()
        for m, it in enumerate(res.items[b]):
            assert tuple(res.tokens[b, m, : res.lengths[b, m]]) == it
    # fewer beams than items: only items, scores right, best first; equal to the torch backend
    for M in (1, 3, 5):
        r = beam_search(c, model, batch_size=B, num_beams=M, eos_id=eos_id)
        rt = beam_search(c, model, batch_size=B, num_beams=M, eos_id=eos_id, backend="torch")
        assert r.items == rt.items
        np.testing.assert_allclose(r.scores, rt.scores, rtol=1e-6)
        for b in range(B):
            assert len(r.items[b]) == M and set(r.items[b]) <= set(items)
            sc = [model.score(b, it, eos_id) for it in r.items[b]]
            np.testing.assert_allclose(r.scores[b], sc, rtol=1e-5)
            assert sc == sorted(sc, reverse=True)
        if M == 1:  # greedy over the trie
            for b in range(B):
                pre = ()
                while True:
                    allowed = ref_next(set(items), pre)
                    lp = model.logp(b, pre)
                    opts = {t: (lp[t] if t != EOS or eos_id is not None else 0.0) for t in allowed}
                    t = max(opts, key=opts.get)
                    if t == EOS:
                        break
                    pre += (t,)
                assert r.items[b] == [pre]


def test_beam_search_fixed_length_skips_model_on_last_step():
    rng = np.random.default_rng(5)
    raw = rng.integers(0, V, size=(500, 4))
    c = Items(raw).compile(VOCAB, cache=False)
    model = _ToyModel(1)
    r = beam_search(c, model, batch_size=1, num_beams=8)
    assert model.calls == 4 and r.steps == 5  # the end step needs no model call
    assert all(len(it) == 4 for it in r.items[0]) and len(r.items[0]) == 8
    assert set(r.items[0]) <= {tuple(x) for x in raw.tolist()}


def test_beam_topk_underfull():
    lp = np.full((4, 3), -np.inf)
    lp[0, 1] = -1.0
    lp[2, 0] = -0.5
    parent, col, score = beam_topk(np.array([0.0, -np.inf, -2.0, -np.inf]), lp, 2, 2)
    assert parent.tolist() == [[0, -1], [0, -1]] and col.tolist() == [[1, -1], [0, -1]]
    assert score[0, 0] == -1.0 and score[1, 0] == -2.5 and np.isneginf(score[:, 1]).all()


# ----------------------------------------------------------------------------- HF generate


@pytest.mark.slow
def test_generate_with_beams_smollm2(smollm2_tokenizer):
    from constrain.models import load_smollm2_model

    tok = smollm2_tokenizer
    model = load_smollm2_model()
    words = ["Paris", "Paris, France", "London", "Berlin", "Madrid", "Rome"]
    items = Items.from_strings(words, tok)
    proc = cn.LogitsProcessor(items, tok)
    msgs = [{"role": "user", "content": "Name the capital of France. Answer only with it."}]
    text = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    enc = tok([text], return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**enc, logits_processor=[proc], max_new_tokens=8, num_beams=3,
                             num_return_sequences=3, do_sample=False, pad_token_id=tok.pad_token_id)
    gen = out[:, enc["input_ids"].shape[1]:].tolist()
    c = proc.compiled
    encoded = {tuple(tok.encode(w, add_special_tokens=False)) for w in words}
    finished = 0
    for row in gen:
        if tok.eos_token_id in row:
            body = tuple(row[: row.index(tok.eos_token_id)])
            assert body in encoded, tok.decode(list(body))
            finished += 1
        else:  # cut by max_new_tokens: a valid prefix
            assert c.walk(row) >= 0
    assert finished >= 1
    assert tok.decode(gen[0][: gen[0].index(tok.eos_token_id)]) in words
