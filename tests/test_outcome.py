"""Per-row outcomes: complete / truncated / failed with the error, ``on_error``, and one warning
per failed row, in the HF processor and in `sample`."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

import constrain as cn
from constrain.errors import LimitExceeded
from constrain.outcome import DeadEnd

# id: bytes; 0 is EOS, 1 the prompt token
TOKENS = [None, b"?", b"a", b"b", b"ab", b"c"]
EOS, Q, A, B, AB, C = range(6)


def vocab():
    return cn.Vocabulary.from_bytes(list(TOKENS), eos_ids=[EOS])


class Exploding(cn.Regex):
    """``a*b?`` whose matchers raise a `LimitExceeded` in ``fill_mask`` once they hold
    ``after`` tokens (as a grammar's item limit or mask time budget would)."""

    def __init__(self, after: int):
        super().__init__("a*b?")
        self.after = after

    def cache_key(self):
        return ("exploding", self.after)

    def _compile(self, v):
        inner = super()._compile(v)
        after = self.after

        class C:
            vocab = v

            def matcher(self):
                return M(inner.matcher())

        class M:
            def __init__(self, m):
                self.m, self.vocab = m, v

            def fill_mask(self, bm, row=0):
                if self.m.num_tokens >= after:
                    raise LimitExceeded("max_items_total", 3, "test")
                self.m.fill_mask(bm, row)

            def __getattr__(self, name):
                return getattr(self.m, name)

            def fork(self):
                return M(self.m.fork())

        return C()


def run(proc, rows: list[list[int]]):
    """Drive the processor as generate does: one call per new token, on the rows so far (rows
    of one batch have one length; a finished row continues with EOS as padding)."""
    n = len(rows[0])
    assert all(len(r) == n for r in rows)
    for t in range(n):
        proc(torch.tensor([[Q] + r[:t] for r in rows]), torch.zeros(len(rows), len(TOKENS)))
    return torch.tensor([[Q] + r for r in rows])


def test_complete_truncated_and_eos_before_complete():
    proc = cn.LogitsProcessor(cn.Regex("ab"), vocab=vocab())
    out = run(proc, [[A, B, EOS], [A, B, B], [AB, EOS, EOS]])
    o = proc.outcomes(out)
    assert [x.status for x in o] == ["complete", "failed", "complete"]  # [A,B,B]: B rejected
    proc = cn.LogitsProcessor(cn.Regex("ab"), vocab=vocab())
    out = run(proc, [[A, B], [A, A]])
    o = proc.outcomes(out)
    assert (o[0].status, o[0].valid) == ("truncated", True)
    assert o[1].status == "failed"  # "aa" is a rejected token, not a truncation
    proc = cn.LogitsProcessor(cn.Regex("ab"), vocab=vocab())
    o = proc.outcomes(run(proc, [[A]]))
    assert (o[0].status, o[0].valid, o[0].num_tokens) == ("truncated", False, 1)
    proc = cn.LogitsProcessor(cn.Regex("ab"), vocab=vocab())
    o = proc.outcomes(run(proc, [[A, EOS]]))  # an EOS the mask did not allow (forced by hand)
    assert o[0].status == "failed" and isinstance(o[0].error, DeadEnd)


def test_failed_rows_warn_once_each_and_end_with_eos():
    proc = cn.LogitsProcessor(Exploding(after=1), vocab=vocab())
    with pytest.warns(RuntimeWarning) as rec:
        proc(torch.tensor([[Q], [Q]]), torch.zeros(2, 6))
        out = proc(torch.tensor([[Q, A], [Q, B]]), torch.zeros(2, 6))
        out = proc(torch.tensor([[Q, A, EOS], [Q, B, EOS]]), torch.zeros(2, 6))
    msgs = [str(w.message) for w in rec if "failed" in str(w.message)]
    assert len(msgs) == 2  # one per failed row, not one per processor
    assert torch.isfinite(out[0]).tolist() == [True] + [False] * 5
    o = proc.outcomes(torch.tensor([[Q, A, EOS, EOS], [Q, B, EOS, EOS]]))
    assert [x.status for x in o] == ["failed", "failed"]
    assert all(isinstance(x.error, LimitExceeded) and not x.valid for x in o)


def test_on_error_raise():
    proc = cn.LogitsProcessor(Exploding(after=1), vocab=vocab(), on_error="raise")
    proc(torch.tensor([[Q]]), torch.zeros(1, 6))
    with pytest.raises(LimitExceeded):
        proc(torch.tensor([[Q, A]]), torch.zeros(1, 6))
    with pytest.raises(ValueError):
        cn.LogitsProcessor(cn.Regex("a"), vocab=vocab(), on_error="ignore")


class UniformLM:
    def __init__(self, v):
        self.vocab = v

    def logprobs(self, contexts):
        return np.full((len(contexts), self.vocab.size), -math.log(self.vocab.size), dtype=np.float32)


def test_sample_outcomes():
    v = vocab()
    res = cn.sample(UniformLM(v), cn.Regex("ab"), n_particles=4, max_tokens=8, seed=0)
    assert all(o.status == "complete" and o.valid for o in res.outcomes)
    res = cn.sample(UniformLM(v), cn.Regex("a{5}"), n_particles=3, max_tokens=3, seed=0)
    assert [o.status for o in res.outcomes] == ["truncated"] * 3 and not res.outcomes[0].valid
    with pytest.raises(LimitExceeded):
        cn.sample(UniformLM(v), Exploding(after=0), max_tokens=4, seed=0)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        res = cn.sample(UniformLM(v), Exploding(after=0), n_particles=2, max_tokens=4, seed=0,
                        on_error="eos")
    assert [o.status for o in res.outcomes] == ["failed", "failed"]
    assert isinstance(res.outcomes[0].error, LimitExceeded) and not res.posterior
    assert sum("failed" in str(w.message) for w in rec) == 2
