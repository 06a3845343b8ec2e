"""AWRS estimators: exact unbiasedness and proper weighting by enumerating every random order.

A step's randomness is the order in which items are drawn (successive sampling without
replacement from ``q``). `ScriptedOrders` replays a script of choices and branches at every new
choice point, so running an estimator once per script enumerates every outcome with its exact
probability. Checked for the two-round and recursive estimators (and the improper first-acceptance
sampler), on 200 random small cases and through ``awrs_step`` with a real regex matcher:

* ``E[z_hat] = z``                               (unbiased)
* ``E[z_hat 1{x = a}] = q(a) l(a)`` for every a  (properly weighted)
* first acceptance: ``P(x = a) = q(a) l(a) / z`` (LCD's law)

The geometric estimator draws Geometric phantom counts (unbounded support), so it is checked by
Monte Carlo against the same targets with a fixed seed and a 6-standard-error tolerance.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from constrain.regex.api import Regex
from constrain.sampling.awrs import (AWRSConfig, GumbelOrders, StepChecker, awrs_step,
                                     first_acceptance, geometric_estimate, item_log_weights,
                                     prefix_parents, recursive_estimate, two_round_estimate)
from constrain.vocab import Vocabulary


# ----------------------------------------------------------------------------- enumeration
class ScriptedOrders:
    """Orders whose choices follow ``script``; unexplored alternatives are pushed on ``stack``."""

    def __init__(self, script, stack):
        self.script = list(script)
        self.pos = 0
        self.prob = 1.0
        self.stack = stack

    def _choose(self, options, probs):
        if self.pos < len(self.script):
            k = self.script[self.pos]
        else:
            for alt in range(1, len(options)):
                self.stack.append(tuple(self.script) + (alt,))
            k = 0
            self.script.append(0)
        self.pos += 1
        self.prob *= probs[k]
        return options[k]

    def walk(self, lq, removed=None):
        avail = [i for i in range(len(lq)) if lq[i] > -math.inf and not (removed is not None and removed[i])]
        while avail:
            q = np.exp(np.asarray([lq[i] for i in avail], dtype=np.float64))
            o = self._choose(avail, q / q.sum())
            yield o
            avail.remove(o)

    def geometric(self, p):  # pragma: no cover - the geometric estimator is not enumerated
        raise AssertionError("not enumerable")


def enumerate_outcomes(fn):
    """[(probability, fn(orders))] over every order; probabilities sum to 1."""
    stack = [()]
    out = []
    while stack:
        orders = ScriptedOrders(stack.pop(), stack)
        res = fn(orders)
        out.append((orders.prob, res))
    assert math.isclose(sum(p for p, _ in out), 1.0, rel_tol=1e-9)
    return out


def random_case(rng, n):
    """(lq, accept set): normalised log q over n items (some pruned), a random acceptance set."""
    q = rng.dirichlet(np.ones(n))
    q = np.maximum(q, 1e-3)
    q[rng.random(n) < 0.2] = 0.0
    if q.sum() == 0:
        q[0] = 1.0
    q /= q.sum()
    with np.errstate(divide="ignore"):
        lq = np.log(q)
    acc = rng.random(n) < rng.uniform(0.1, 0.9)
    return lq, acc


def check_proper(lq, acc, estimator):
    q = np.exp(lq)
    z = float(np.sum(q * acc))
    calls = []

    def run(orders):
        def accept(i):
            calls.append(i)
            return bool(acc[i])
        return estimator(lq, accept, orders)

    outcomes = enumerate_outcomes(run)
    ez = 0.0
    ezx = np.zeros(len(lq))
    for p, (x, logz) in outcomes:
        zhat = math.exp(logz) if logz > -math.inf else 0.0
        ez += p * zhat
        if zhat > 0:
            assert x >= 0 and acc[x], "a positive weight must come with an accepted item"
            ezx[x] += p * zhat
    assert ez == pytest.approx(z, rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(ezx, q * acc, rtol=1e-9, atol=1e-12)


CASES = [(seed, n) for seed in range(40) for n in (2, 3, 4, 5, 6)]  # 200 cases


@pytest.mark.parametrize("seed,n", CASES)
def test_recursive_exact(seed, n):
    lq, acc = random_case(np.random.default_rng(seed), n)
    check_proper(lq, acc, recursive_estimate)


@pytest.mark.parametrize("seed,n", CASES)
def test_two_round_exact(seed, n):
    lq, acc = random_case(np.random.default_rng(1000 + seed), n)
    check_proper(lq, acc, two_round_estimate)


@pytest.mark.parametrize("seed,n", CASES[::4])
def test_first_acceptance_is_lcd_law(seed, n):
    lq, acc = random_case(np.random.default_rng(2000 + seed), n)
    q = np.exp(lq)
    z = float(np.sum(q * acc))
    outcomes = enumerate_outcomes(lambda o: first_acceptance(lq, lambda i: bool(acc[i]), o))
    px = np.zeros(n)
    dead = 0.0
    for p, (x, lw) in outcomes:
        if x < 0:
            dead += p
        else:
            assert acc[x] and lw == 0.0
            px[x] += p
    if z == 0:
        assert dead == pytest.approx(1.0)
    else:
        assert dead == pytest.approx(0.0, abs=1e-12)
        np.testing.assert_allclose(px, q * acc / z, rtol=1e-9, atol=1e-12)


def test_recursive_check_count_bound():
    """At most rejections + 2 checks, and exactly 1 check when the only positive item is accepted."""
    rng = np.random.default_rng(5)
    for _ in range(50):
        lq, acc = random_case(rng, 6)
        for p, (n_rej, n_calls) in enumerate_outcomes(lambda o: _count(lq, acc, o)):
            assert n_calls <= n_rej + 2
    lq = np.array([0.0, -math.inf])
    assert enumerate_outcomes(lambda o: _count(lq, np.array([True, True]), o))[0][1][1] == 1


def _count(lq, acc, orders):
    calls = []
    x, _ = recursive_estimate(lq, lambda i: calls.append(i) or bool(acc[i]), orders)
    rejected = sum(1 for i in calls if not acc[i])
    return rejected, len(calls)


# ------------------------------------------------------------------ through awrs_step + Matcher
TOKENS = [b"a", b"b", b"ab", b"ba", b"c", None, b"", b"aa"]  # 5 = EOS, 6 = empty (pruned)
VOCAB = Vocabulary.from_bytes(TOKENS, eos_ids=[5])


class _NoMask:
    """Matcher wrapper that fails on fill_mask (AWRS must not call it) and counts allows."""

    def __init__(self, m):
        self.m = m
        self.byte_prefix_closed = m.byte_prefix_closed

    def allows(self, t):
        return self.m.allows(t)

    def is_accepting(self):
        return self.m.is_accepting()

    def fill_mask(self, *a, **k):  # pragma: no cover - must not be called
        raise AssertionError("AWRS called fill_mask")


@pytest.mark.parametrize("estimator", ["recursive", "two_round"])
@pytest.mark.parametrize("prefix", [b"", b"a", b"ab", b"b"])
def test_awrs_step_exact_with_regex(estimator, prefix):
    """Proper weighting of the whole step (EOS merge, pruning, regex matcher) by enumeration."""
    compiled = Regex(r"(ab|b)a?b?").compile(VOCAB)
    rng = np.random.default_rng(len(prefix) * 7 + len(estimator))
    for _ in range(4):
        m = compiled.matcher()
        for ch in prefix:
            m.advance(TOKENS.index(bytes([ch])))
        logp = rng.normal(0, 1.5, VOCAB.size)
        logp -= np.logaddexp.reduce(logp)
        lw, _ = item_log_weights(logp, VOCAB)
        allowed = np.array([m.allows(t) for t in range(VOCAB.size)])
        target = np.where(allowed, np.exp(logp), 0.0)
        target[5] = np.exp(logp[5]) if m.is_accepting() else 0.0
        target[6] = 0.0
        cfg = AWRSConfig(estimator)
        got = np.zeros(VOCAB.size)
        for p, (tok, logw, _, _) in enumerate_outcomes(
                lambda o: awrs_step(logp, _NoMask(m), VOCAB, o, cfg)):
            if logw > -math.inf:
                assert allowed[tok]
                got[tok] += p * math.exp(logw)
        np.testing.assert_allclose(got, target, rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------- geometric: Monte Carlo
@pytest.mark.parametrize("case,A,R", [(0, 2, math.inf), (1, 3, math.inf), (2, 2, 3)])
def test_geometric_monte_carlo(case, A, R):
    rng = np.random.default_rng(77 + case)
    lq, acc = random_case(rng, 5)
    acc[int(np.argmax(lq))] = True  # keep z > 0
    q = np.exp(lq)
    orders = GumbelOrders(np.random.default_rng(1234 + case))
    n = 40_000
    zs = np.zeros(n)
    xs = np.full(n, -1)
    for k in range(n):
        x, lz = geometric_estimate(lq, lambda i: bool(acc[i]), orders, A, R)
        zs[k] = math.exp(lz) if lz > -math.inf else 0.0
        xs[k] = x
    for a in range(5):
        contrib = zs * (xs == a)
        se = contrib.std() / math.sqrt(n)
        assert abs(contrib.mean() - q[a] * acc[a]) <= 6 * se + 1e-4, (a, contrib.mean(), q[a] * acc[a])
    assert abs(zs.mean() - np.sum(q * acc)) <= 6 * zs.std() / math.sqrt(n) + 1e-4


# ------------------------------------------------------------------------- production orders
@pytest.mark.parametrize("switch", [0.0, 0.75, 1.0])
def test_orders_walk_is_a_permutation(switch):
    rng = np.random.default_rng(0)
    n = 5000
    lq = rng.normal(size=n)
    lq[rng.random(n) < 0.3] = -math.inf
    removed = rng.random(n) < 0.1
    seen = list(GumbelOrders(rng, switch).walk(lq, removed))
    expect = set(np.flatnonzero((lq > -math.inf) & ~removed).tolist())
    assert len(seen) == len(expect) and set(seen) == expect


@pytest.mark.parametrize("switch", [0.0, 0.6, 1.0])
def test_orders_law_of_first_three(switch):
    """The first three items follow successive sampling without replacement (Monte Carlo, fixed
    seed), for the Gumbel path (switch 0), the inverse-CDF path (switch 1) and a mix of both."""
    q = np.array([0.45, 0.3, 0.15, 0.05, 0.05, 0.0])
    with np.errstate(divide="ignore"):
        lq = np.log(q)
    removed = np.zeros(6, dtype=bool)
    removed[4] = True
    qr = np.where(removed, 0.0, q)
    orders = GumbelOrders(np.random.default_rng(3), switch)
    n = 30_000
    counts = {}
    for _ in range(n):
        it = orders.walk(lq, removed)
        t = (next(it), next(it), next(it))
        counts[t] = counts.get(t, 0) + 1
    total = 0.0
    for (a, b, c) in counts:
        assert qr[a] > 0 and qr[b] > 0 and qr[c] > 0
    for a in range(6):
        for b in range(6):
            for c in range(6):
                if len({a, b, c}) < 3 or min(qr[a], qr[b], qr[c]) == 0:
                    continue
                s = qr.sum()
                p = qr[a] / s * qr[b] / (s - qr[a]) * qr[c] / (s - qr[a] - qr[b])
                total += p
                got = counts.get((a, b, c), 0) / n
                assert abs(got - p) <= 6 * math.sqrt(p * (1 - p) / n) + 1e-4, ((a, b, c), got, p)
    assert total == pytest.approx(1.0)


def test_awrs_step_large_vocab_never_sorts_everything(monkeypatch):
    """A walk that ends early only partitions; np.argsort sees chunks, never the whole vocabulary."""
    n = 262_144
    toks = [bytes([65 + i % 26]) * (1 + i // 26 % 3) for i in range(n - 1)] + [None]
    vocab = Vocabulary.from_bytes(toks, eos_ids=[n - 1])
    compiled = Regex(r"[A-E]+").compile(vocab)
    m = compiled.matcher()
    logp = np.random.default_rng(0).normal(0, 3, n).astype(np.float32)
    sizes = []
    real = np.argsort

    def spy(a, *args, **kw):
        sizes.append(np.asarray(a).size)
        return real(a, *args, **kw)

    monkeypatch.setattr(np, "argsort", spy)
    tok, lw, checks, _ = awrs_step(logp, _NoMask(m), vocab, GumbelOrders(np.random.default_rng(1)))
    assert m.allows(tok) and lw > -math.inf and checks >= 1
    assert not sizes or max(sizes) < n // 4  # the inverse-CDF path sorts nothing at all


# ------------------------------------------------------------------ inferred rejections
PTOKENS = [b"a", b"ab", b"abc", b"b", b"ab", None, b"", b"x", b"xy", b"c", b"d", b"e", b"eb"]
PVOCAB = Vocabulary.from_bytes(PTOKENS, eos_ids=[5])


def test_prefix_parents():
    """Longest proper byte prefix that is a token; a duplicate points to the first id."""
    assert prefix_parents(PVOCAB) == [-1, 0, 1, -1, 1, -1, -1, -1, 7, -1, -1, -1, 11]


class _Counting:
    """Matcher stub: ``allows`` from a set of allowed ids, every call recorded."""

    def __init__(self, allowed):
        self.allowed, self.calls = set(allowed), []

    def allows(self, t):
        self.calls.append(t)
        return t in self.allowed

    def is_accepting(self):
        self.calls.append("eos")
        return False


def test_step_checker_infers_rejections_and_asks_roots():
    m = _Counting({3, 11, 12})
    check = StepChecker(m, PVOCAB.size, prefix_parents(PVOCAB))
    assert not check(0) and not check(2) and not check(4)  # "abc", "ab" extend the rejected "a"
    assert m.calls == [0]
    assert not check(9) and not check(10) and not check(7)  # c, d, x: 4 rejections
    assert check.rejections == 4 and check.checks == 4
    m.calls.clear()
    assert not check(8)  # "xy": its root "x" is known rejected: no call
    assert check(12) and m.calls == [11, 12]  # past 4 rejections "eb" asks its root "e" first
    assert check(3) and check.checks == 7


EVOCAB = Vocabulary.from_bytes([b"a", b"ab", b"b", b"c", b"d", b"e", b"eb", None], eos_ids=[7])


@pytest.mark.parametrize("estimator", ["recursive", "two_round"])
def test_awrs_step_exact_with_inferred_rejections(estimator):
    """Proper weighting by enumeration where rejections are inferred ("ab" after "a") and roots
    are asked after 4 rejections ("e" before "eb"); a check is never repeated."""
    compiled = Regex(r"eb|b").compile(EVOCAB)
    m = compiled.matcher()
    logp = np.log(np.array([0.3, 0.1, 0.02, 0.2, 0.2, 0.02, 0.06, 0.1]))
    allowed = np.array([m.allows(t) for t in range(EVOCAB.size)])
    target = np.where(allowed, np.exp(logp), 0.0)
    cfg = AWRSConfig(estimator)
    got = np.zeros(EVOCAB.size)
    for p, (tok, logw, checks, _) in enumerate_outcomes(
            lambda o: awrs_step(logp, _NoMask(m), EVOCAB, o, cfg)):
        assert checks <= EVOCAB.size
        if logw > -math.inf:
            assert allowed[tok]
            got[tok] += p * math.exp(logw)
    np.testing.assert_allclose(got, target, rtol=1e-9, atol=1e-12)


def _walk_states(compiled, vocab, rng, steps):
    """Matchers at the states of one random walk over allowed tokens (the initial state first)."""
    m = compiled.matcher()
    out = [m.fork()]
    for _ in range(steps):
        ok = [t for t in range(vocab.size) if m.allows(t) and not vocab.is_eos(t)]
        if not ok:
            break
        m.advance(int(rng.choice(ok)))
        out.append(m.fork())
    return out


def test_shipped_matchers_are_prefix_closed():
    """The inference's premise for regex and grammar matchers: a token whose bytes extend a
    refused token's bytes is refused, at every state of random walks."""
    from constrain.schema.api import JsonSchema

    alphabet = [b"{", b"}", b'"', b"a", b"1", b":", b",", b" "]
    toks = alphabet + [x + y for x in alphabet for y in alphabet] + [b'{"a":', b'"a"', None]
    vocab = Vocabulary.from_bytes(toks, eos_ids=[len(toks) - 1])
    parents = prefix_parents(vocab)
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    rng = np.random.default_rng(0)
    for c in (Regex(r'\{"a": ?1+\}|a+1'), JsonSchema(schema, whitespace="pretty")):
        compiled = c.compile(vocab)
        for _ in range(3):
            for m in _walk_states(compiled, vocab, rng, 6):
                ok = [m.allows(t) for t in range(vocab.size)]
                for t, p in enumerate(parents):
                    if p >= 0 and not ok[p]:
                        assert not ok[t], (c, toks[p], toks[t])


def test_token_level_constraints_get_no_inferred_rejections():
    """An item set judges token ids, not bytes: "ab" may be allowed where "a" is refused, so AWRS
    must not infer a refusal of "ab" from one of "a" (only byte-prefix-closed matchers do)."""
    from constrain.items import Items
    from constrain.sampling import sample

    vocab = Vocabulary.from_bytes([b"a", b"ab", None], eos_ids=[2])

    class PrefersA:
        def __init__(self):
            self.vocab = vocab

        def logprobs(self, contexts):
            return np.tile(np.log([0.97, 0.02, 0.01]), (len(contexts), 1))

    compiled = Items([[1]]).compile(vocab)
    assert not compiled.matcher().byte_prefix_closed
    assert Regex("ab").compile(vocab).matcher().byte_prefix_closed
    for method in ("awrs", "smc"):
        res = sample(PrefersA(), compiled, method=method, n_particles=4, max_tokens=3, seed=1)
        assert res.posterior == {b"ab": pytest.approx(1.0)}, method
