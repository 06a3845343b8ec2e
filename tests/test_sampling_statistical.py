"""Distributional tests of the samplers on a toy model whose constrained laws are enumerable.

The toy model is non-Markov (its next-token law is a hash of the whole context) and biased
towards a branch ("a...") where most of its later mass is refused by the constraint, so the
locally constrained law (LCD) and the global target ``p(y | y in L)`` differ a lot (total
variation ~0.58). Both laws are computed exactly by walking every allowed token sequence.

* LCD and plain AWRS samples follow the local law (TV < 0.06 at 4,000 samples) and are far from the
  global target (TV > 0.4): the test can tell the laws apart.
* AWRS-SMC's posterior approaches the global target as particles grow (TV < 0.06 at 4,000 particles,
  for each estimator), its ``log_ml`` estimates the constraint's probability, and at a token
  budget it targets the budget-restricted law exactly (forced EOS with the exact EOS weight).
* No sampler emits a token its constraint refuses.

Seeds are fixed and tolerances are several times the Monte Carlo error, so these tests are
deterministic and not flaky.
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest

from constrain.regex.api import Regex
from constrain.sampling import sample
from constrain.vocab import Vocabulary

TOKENS = [b"a", b"b", b"c", b"ab", b"bc", b"ca", None]
EOS = 6
VOCAB = Vocabulary.from_bytes(TOKENS, eos_ids=[EOS])
PATTERN = r"a(b|c)c?|b(a|b|c){0,2}|cab"


class ToyLM:
    """``logprobs`` depends on the whole context through a hash; biased towards the 'a' branch."""

    vocab = VOCAB

    def __init__(self):
        self.calls = 0
        self._memo: dict[tuple, np.ndarray] = {}

    def _row(self, ctx: tuple) -> np.ndarray:
        r = self._memo.get(ctx)
        if r is None:
            text = VOCAB.decode(list(ctx))
            r = np.random.default_rng(zlib.crc32(repr(list(ctx)).encode())).normal(0, 1.0, VOCAB.size)
            if text == b"":
                r[0] += 3.0
                r[3] += 1.0
            if text.startswith(b"a"):
                r[0] += 3.0
                r[5] += 2.0
            r = r - np.logaddexp.reduce(r)
            self._memo[ctx] = r
        return r

    def logprobs(self, contexts):
        self.calls += 1
        return np.stack([self._row(tuple(c)) for c in contexts])


def exact_laws(lm, compiled, max_tokens=64):
    """(global target, local LCD law, Z = P(y in L and |y| <= max_tokens)) over output bytes.

    The global target is restricted to outputs of at most ``max_tokens`` tokens, EOS included.
    """
    glob: dict[bytes, float] = {}
    loc: dict[bytes, float] = {}

    def rec(ctx, m, lg, ll):
        lp = lm._row(tuple(ctx))
        last = len(ctx) == max_tokens - 1
        allowed = [t for t in range(VOCAB.size) if m.allows(t) and (not last or t == EOS)]
        if not allowed:
            return
        z = np.logaddexp.reduce(lp[allowed])
        for t in allowed:
            if t == EOS:
                k = VOCAB.decode(ctx)
                glob[k] = glob.get(k, 0.0) + math.exp(lg + lp[t])
                loc[k] = loc.get(k, 0.0) + math.exp(ll + lp[t] - z)
            else:
                m2 = m.fork()
                m2.advance(t)
                rec(ctx + [t], m2, lg + lp[t], ll + lp[t] - z)

    rec([], compiled.matcher(), 0.0, 0.0)
    total = sum(glob.values())
    return {k: v / total for k, v in glob.items()}, loc, total


def tv(a: dict, b: dict) -> float:
    return 0.5 * sum(abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in set(a) | set(b))


def empirical(res) -> dict:
    return res.posterior


@pytest.fixture(scope="module")
def setup():
    lm = ToyLM()
    compiled = Regex(PATTERN).compile(VOCAB)
    glob, loc, total = exact_laws(lm, compiled)
    return lm, compiled, glob, loc, total


def assert_all_allowed(res, compiled):
    for seq in res.sequences:
        m = compiled.matcher()
        for t in seq:
            assert m.allows(t), (seq, t)
            m.advance(t)


def test_the_two_laws_differ(setup):
    _, _, glob, loc, _ = setup
    assert tv(glob, loc) > 0.5
    assert sum(loc.values()) == pytest.approx(1.0)


@pytest.mark.parametrize("method", ["lcd", "awrs"])
def test_lcd_and_awrs_follow_the_local_law(setup, method):
    lm, compiled, glob, loc, _ = setup
    res = sample(lm, compiled, method=method, n_particles=4000, max_tokens=64, seed=11)
    assert all(res.finished)
    assert np.all(res.log_weights == 0.0) and res.log_ml is None
    assert_all_allowed(res, compiled)
    assert tv(empirical(res), loc) < 0.06
    assert tv(empirical(res), glob) > 0.4
    if method == "lcd":
        # one mask per drawn token; a terminated output gets its EOS without a mask
        assert 0 < res.stats.masks <= res.stats.tokens
        assert res.stats.masks + res.stats.constraint_checks == res.stats.tokens
    else:
        assert res.stats.masks == 0 and res.stats.constraint_checks > 0


@pytest.mark.parametrize("estimator", ["auto", "recursive", "two_round", "geometric"])
def test_smc_approaches_global_target(setup, estimator):
    lm, compiled, glob, loc, total = setup
    res = sample(lm, compiled, method="smc", n_particles=16000, max_tokens=64, seed=3,
                 estimator=estimator)
    assert_all_allowed(res, compiled)
    assert sum(res.posterior.values()) == pytest.approx(1.0)
    assert tv(res.posterior, glob) < 0.06
    assert tv(res.posterior, loc) > 0.4
    assert res.log_ml == pytest.approx(math.log(total), abs=0.1)


def test_smc_error_shrinks_with_particles(setup):
    lm, compiled, glob, _, _ = setup
    errs = {}
    for n in (16, 256, 4096):
        reps = 3 if n == 4096 else 12
        errs[n] = np.mean([tv(sample(lm, compiled, method="smc", n_particles=n, max_tokens=64,
                                     seed=100 + r).posterior, glob) for r in range(reps)])
    # observed means: about 0.65, 0.23, 0.06
    assert errs[16] > 1.5 * errs[256] > 2.25 * errs[4096]
    assert errs[4096] < 0.12


def test_smc_budget_forces_eos_with_exact_weight(setup):
    """With max_tokens=3 (two content tokens + EOS) SMC targets the budget-restricted law."""
    lm, compiled, _, _, _ = setup
    glob3, _, total3 = exact_laws(lm, compiled, max_tokens=3)
    res = sample(lm, compiled, method="smc", n_particles=16000, max_tokens=3, seed=5)
    assert all(len(s) <= 3 for s in res.sequences)
    assert tv(res.posterior, glob3) < 0.06
    assert res.log_ml == pytest.approx(math.log(total3), abs=0.1)


def test_lcd_budget_reports_unfinished(setup):
    lm, compiled, _, _, _ = setup
    res = sample(lm, compiled, method="lcd", n_particles=200, max_tokens=2, seed=1)
    for seq, fin, lw, text in zip(res.sequences, res.finished, res.log_weights, res.texts):
        assert len(seq) <= 2
        assert (lw == 0.0) == fin
        if fin:
            assert compiled.regex.fullmatch(text)
    assert set(res.posterior) <= {t for t, f in zip(res.texts, res.finished) if f}


def test_awrs_checks_few_tokens(setup):
    lm, compiled, _, _, _ = setup
    res = sample(lm, compiled, method="awrs", n_particles=500, max_tokens=64, seed=2)
    assert res.stats.checks_per_token < 3


def test_dead_end_kills_particle():
    """A constraint the vocabulary cannot finish: every particle dies, nothing is emitted wrongly."""
    vocab = Vocabulary.from_bytes([b"a", b"b", None], eos_ids=[2])

    class Uniform:
        def __init__(self):
            self.vocab = vocab

        def logprobs(self, contexts):
            return np.full((len(contexts), 3), -math.log(3))

    for method in ("lcd", "awrs", "smc"):
        res = sample(Uniform(), Regex(r"ac"), method=method, n_particles=8, max_tokens=5, seed=0)
        assert res.posterior == {} and not any(res.finished)
        assert all(s in ([], [0]) for s in res.sequences)
        if method == "smc":
            assert res.log_ml == -math.inf


def test_unconstrained_and_seed_reproducible(setup):
    lm = setup[0]
    a = sample(lm, None, method="awrs", n_particles=50, max_tokens=6, seed=9)
    b = sample(lm, None, method="awrs", n_particles=50, max_tokens=6, seed=9)
    assert a.sequences == b.sequences
    assert all(len(s) <= 6 for s in a.sequences)
