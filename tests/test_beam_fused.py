"""The fused numba beam step (``items_kernels.beam_step``, used by ``beam_search``) equals the
unfused path (``CompiledItems.step`` + ``beam_topk`` + numpy bookkeeping) bit for bit, and the
top items by enumeration when there are enough beams: random variable-length item sets with
prefix items, under-full beams, ``-inf`` log-probs, float32 and float64 log-probs."""

from __future__ import annotations

import numpy as np
import pytest

from constrain.beam import beam_search, beam_topk
from constrain.items import Items
from constrain.vocab import Vocabulary

V = 12  # token ids 0..11, EOS = 12
EOS = V
VOCAB = Vocabulary.from_bytes([f"<{i}>".encode() for i in range(V)], eos_ids=[EOS], size=V + 1)


class _TableModel:
    """Log-probs from a hash of (row, prefix): deterministic, some tokens at ``-inf``."""

    def __init__(self, seed: int, dtype, holes: bool):
        self.seed, self.dtype, self.holes = seed, dtype, holes

    def row(self, r: int, prefix: tuple) -> np.ndarray:
        rng = np.random.default_rng(abs(hash((self.seed, r, prefix))) % 2**32)
        x = rng.standard_normal(V + 1)
        x = x - np.log(np.exp(x).sum())
        if self.holes:
            x[rng.random(V + 1) < 0.15] = -np.inf
        return x.astype(self.dtype)

    def __call__(self, tokens):
        B, M, t = tokens.shape
        return np.stack([self.row(b, tuple(int(x) for x in tokens[b, m] if x >= 0))
                         for b in range(B) for m in range(M)])


def _unfused(c, model, B, M, eos_id):
    """The unfused reference: fixed-shape step, top-M, then numpy gathers of the histories."""
    T = c.max_len + 1
    R = B * M
    states = np.full(R, -1, np.int64)
    states[::M] = 0
    scores = np.full(R, -np.inf)
    scores[::M] = 0.0
    hist = np.full((R, T), -1, np.int64)
    base = (np.arange(B) * M)[:, None]
    for t in range(T):
        live = (states >= 0) & (states < c.done)
        if not live.any():
            break
        lp = model(hist[:, :t].reshape(B, M, t))
        K = c.width(states)
        tok, clp, nxt = c.step(states, lp, K=K, eos_id=-1 if eos_id is None else eos_id)
        parent, col, new_scores = beam_topk(scores, clp, B, M)
        ok = (parent >= 0).reshape(-1)
        src = np.where(parent >= 0, base + parent, 0).reshape(-1)
        cc = np.where(col >= 0, col, 0).reshape(-1)
        states = np.where(ok, nxt[src, cc], -1).astype(np.int64)
        new_tok = np.where(ok & (cc < K), tok[src, cc], -1)
        hist = np.where(ok[:, None], hist[src], -1)
        hist[:, t] = new_tok
        scores = new_scores.reshape(-1)
    fin = np.where(states == c.done, scores, -np.inf).reshape(B, M)
    out = []
    for b in range(B):
        out.append([(tuple(int(x) for x in hist[b * M + m] if x >= 0), fin[b, m])
                    for m in np.argsort(-fin[b], kind="stable") if np.isfinite(fin[b, m])])
    return out


def _score(model, b, item, eos_id):
    s = 0.0
    for k in range(len(item)):
        s += float(model.row(b, item[:k])[item[k]])
    return s + (float(model.row(b, item)[eos_id]) if eos_id is not None else 0.0)


@pytest.mark.parametrize("seed", range(12))
def test_fused_equals_unfused_and_enumeration(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 30))
    raw = [rng.integers(0, V, size=rng.integers(1, 6)).tolist() for _ in range(n)]
    raw += [raw[0][:1], raw[-1] + [int(rng.integers(0, V))]]  # prefixes of items are items
    items = sorted({tuple(r) for r in raw})
    c = Items(raw).compile(VOCAB, cache=False)
    eos_id = None if seed % 3 == 0 else EOS
    model = _TableModel(seed, np.float32 if seed % 2 else np.float64, holes=seed % 4 == 1)
    B = 1 + seed % 3
    for M in (1, 2, 5, len(items) + 2):  # under-full beams, and enough beams for every item
        res = beam_search(c, model, batch_size=B, num_beams=M, eos_id=eos_id)
        ref = _unfused(c, model, B, M, eos_id)
        for b in range(B):
            got = [(it, res.scores[b, m]) for m, it in enumerate(res.items[b])]
            assert got == ref[b]  # same items, same order, same float scores
            assert res.missing[b] == M - len(ref[b])
            assert (res.tokens[b, len(ref[b]):] == -1).all()
        if M >= len(items):  # exact: every reachable item, best first
            for b in range(B):
                want = sorted(((it, _score(model, b, it, eos_id)) for it in items),
                              key=lambda x: -x[1])
                want = [w for w in want if np.isfinite(w[1])]
                assert sorted(res.items[b]) == sorted(w[0] for w in want)
                np.testing.assert_allclose([s for _, s in ref[b]], [s for _, s in want], rtol=1e-5)
