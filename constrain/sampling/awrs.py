"""Adaptive weighted rejection sampling (AWRS): one constrained next-token draw per call.

Given the model's next-token log-probabilities and a `Matcher`, AWRS draws a token from the
locally constrained law ``p(x) l(x) / Z`` by walking a Gumbel-top-k order of the vocabulary and
checking only the tokens it draws (``Matcher.allows``; ``Matcher.is_accepting`` for EOS). It never
calls ``fill_mask``. With ``proper=True`` it also returns a log weight ``log W_hat`` that is an
unbiased, properly weighted estimate of the step's normaliser: ``E[W_hat 1{x=a}] = p(a) l(a)`` for
every token ``a`` (design notes, algorithms.md §1.2-1.3). SMC adds that weight to the particle's log
weight, which corrects LCD's bias towards dead ends.

Items. The work is done over ``V + 1`` *items*: the ``V`` token ids plus one EOS item (index ``V``)
whose mass is the sum over all EOS ids. Token ids that are EOS, have no bytes (``None`` or ``b""``)
are given zero mass (pruned): a constraint never allows them, so pruning does not change
``p(x) l(x)``. The EOS item is accepted iff ``matcher.is_accepting()``; when it is drawn the
returned token id is the most probable EOS id.

Estimators (all exactly unbiased and properly weighted; tests check this by exact enumeration):

``"recursive"``
    One ordered walk; after the first acceptance, one more check on the next item (the tail).
    At most ``rejections + 2`` checks.
``"two_round"``
    The paper's version: a first walk to the first acceptance (rejections ``R1``), a fresh walk over
    the items not in ``R1`` (rejections ``R2``); ``z_hat = (1 - q(R1)) / (1 + |R1| + |R2|)``.
``"geometric"``
    Passes over fresh orders until ``max_accepts`` acceptances, adding Geometric "phantom"
    rejections that reconstruct with-replacement sampling; negative-binomial estimate
    ``min(A - 1, n_acc) / (n_acc + n_rej - 1)``. The only one that supports a finite ``max_rejects``.
``"auto"`` (default)
    The selection rule of genlm-control >= 0.2.11: geometric when ``max_accepts > 2``, a finite
    ``max_rejects`` is asked for, or the top item has ``q >= 2/3`` (then a geometric step needs fewer
    than 2 distinct checks on average, and recursive always needs 2); recursive otherwise.

Inferred rejections. A constraint is a language of byte strings and ``allows(t)`` says whether the
output followed by ``t``'s bytes can still be completed (architecture §2.3); a prefix of a
completable string is completable, so a token whose bytes extend a *rejected* token's bytes is
rejected too. `StepChecker` records that without calling the matcher: each token knows its longest
proper byte prefix that is itself a token (`prefix_parents`, once per vocabulary), and a token with
a rejected ancestor in the step's cache is rejected for free. Once a step has seen a few
rejections (a constraint at odds with what the model wants), a drawn token's shortest token prefix
is asked before the token itself, so one rejected ``" "`` settles every ``" ..."`` token. Answers
are the ones ``allows`` would give and the walk (the order of the draws) does not depend on which
were asked, so the law and the weights are unchanged; only the number of calls changes.

Cost per call, outside the model: ``O(V)`` vectorised numpy work (a copy, one logsumexp, and per
walk one ``exp`` and one block sum; see `GumbelOrders`: no sort over the vocabulary, and Gumbel
keys with ``np.argpartition`` only once most of the mass has been drawn) plus the constraint
checks: about 0.15 ms per call at V = 49k on this machine. Check results are
cached within a call, so an item is never checked twice.
"""

from __future__ import annotations

import math
from time import perf_counter as _perf_counter
from typing import Callable, Iterator

import numpy as np

__all__ = ["AWRSConfig", "awrs_step", "GumbelOrders", "StepChecker", "prefix_parents",
           "recursive_estimate", "two_round_estimate", "geometric_estimate", "first_acceptance",
           "item_log_weights", "ESTIMATORS"]

ESTIMATORS = ("auto", "recursive", "two_round", "geometric")

_NEG_INF = -math.inf
# Rejected mass above 1 - 1e-5: treat the whole mass as explored (numerical guard, PR #102).
_LOG_MASS_DEAD = math.log1p(-1e-5)


def _log1mexp(x: float) -> float:
    """``log(1 - exp(x))`` for ``x <= 0``, stable on both ends; ``-inf`` at ``x = 0``."""
    if x >= 0.0:
        return _NEG_INF
    if x > -0.6931471805599453:
        return math.log(-math.expm1(x))
    return math.log1p(-math.exp(x))


def _logaddexp(a: float, b: float) -> float:
    if a == _NEG_INF:
        return b
    if b == _NEG_INF:
        return a
    m = a if a > b else b
    return m + math.log(math.exp(a - m) + math.exp(b - m))


class AWRSConfig:
    """Options of an AWRS step.

    Parameters
    ----------
    estimator : {"auto", "recursive", "two_round", "geometric"}
        Weight estimator (see the module docstring).
    proper : bool
        Return a properly weighted log weight (True) or 0 (False: a plain adaptive rejection
        sampler whose draws follow LCD's law exactly).
    max_accepts : int
        ``A >= 2`` of the geometric estimator.
    max_rejects : float
        ``R >= 1`` of the geometric estimator (``inf`` = unbounded).
    """

    __slots__ = ("estimator", "proper", "max_accepts", "max_rejects")

    def __init__(self, estimator: str = "auto", proper: bool = True, max_accepts: int = 2,
                 max_rejects: float = math.inf):
        if estimator not in ESTIMATORS:
            raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
        if int(max_accepts) < 2:
            raise ValueError(f"max_accepts must be >= 2, got {max_accepts}")
        if not max_rejects >= 1:
            raise ValueError(f"max_rejects must be >= 1, got {max_rejects}")
        if estimator in ("recursive", "two_round") and (max_accepts != 2 or max_rejects != math.inf):
            raise ValueError("max_accepts / max_rejects apply to the geometric estimator only")
        self.estimator = estimator
        self.proper = bool(proper)
        self.max_accepts = int(max_accepts)
        self.max_rejects = float(max_rejects)


# ------------------------------------------------------------------------------------ orders
class GumbelOrders:
    """Random orders without replacement, produced lazily.

    ``walk(lq, removed)`` yields the items with finite ``lq`` that are not ``removed``, in an order
    distributed as successive sampling without replacement from ``exp(lq)``.

    Two exact mechanisms, chosen for speed:

    * while the items drawn so far hold less than ``switch_mass`` (default 3/4) of the mass, the
      next item is an inverse-CDF draw from the whole distribution, redrawn when it hits an item
      already drawn (rejection; at most 4 draws on average). The CDF is two-level (sums of blocks
      of 256, then a cumulative sum inside one block), so a walk costs one ``exp`` and one block
      sum over ``V`` plus ``O(V / 256 + 256)`` per draw -- no per-item random key over ``V``;
    * past that point (or after 64 draws) the rest of the order comes from Gumbel keys
      (``lq - log(Exponential(1))``) over the remaining items, revealed in chunks of 4, 16, 64, ...
      with one ``np.argpartition`` each and a sort of the chunk only, never a full sort.
    """

    _BLOCK = 256

    def __init__(self, rng: np.random.Generator, switch_mass: float = 0.75):
        self.rng = rng
        self.switch_mass = float(switch_mass)

    def walk(self, lq: np.ndarray, removed: np.ndarray | None = None) -> Iterator[int]:
        n = lq.shape[0]
        B = self._BLOCK
        nb = -(-n // B)
        w = np.zeros(nb * B, dtype=np.float64)
        np.exp(lq, out=w[:n])
        if removed is not None:
            w[:n][removed] = 0.0
        bc = np.cumsum(w.reshape(nb, B).sum(axis=1))
        total = float(bc[-1])
        if not total > 0.0:
            return
        drawn: set[int] = set()
        drawn_mass = 0.0
        rnd = self.rng.random
        limit = self.switch_mass * total
        while drawn_mass < limit and len(drawn) < 64:
            u = rnd() * total
            b = min(int(np.searchsorted(bc, u, side="right")), nb - 1)
            u -= float(bc[b - 1]) if b else 0.0
            inner = np.cumsum(w[b * B:(b + 1) * B])
            i = b * B + min(int(np.searchsorted(inner, u, side="right")), B - 1)
            if w[i] == 0.0 or i in drawn:
                continue
            drawn.add(i)
            drawn_mass += float(w[i])
            yield i
        yield from self._gumbel(lq, removed, drawn)

    def _gumbel(self, lq: np.ndarray, removed, drawn) -> Iterator[int]:
        n = lq.shape[0]
        keys = lq - np.log(self.rng.standard_exponential(n))
        if removed is not None:
            keys[removed] = _NEG_INF
        if drawn:
            keys[np.fromiter(drawn, dtype=np.int64, count=len(drawn))] = _NEG_INF
        k = 4
        while True:
            if k < n:
                idx = np.argpartition(keys, n - k)[n - k:]
            else:
                idx = np.arange(n)
            top = keys[idx]
            order = np.argsort(-top, kind="stable")
            idx, top = idx[order], top[order]
            for j in range(idx.shape[0]):
                if top[j] == _NEG_INF:
                    return
                yield int(idx[j])
            if k >= n:
                return
            keys[idx] = _NEG_INF
            k *= 4

    def geometric(self, p: float) -> int:
        """Number of Bernoulli(p) trials up to and including the first success (>= 1)."""
        if p >= 1.0:
            return 1
        if p <= 0.0:
            raise ValueError("geometric with success probability 0")
        return int(self.rng.geometric(p))


# ----------------------------------------------------------------------------------- checker
# After this many rejections in a step, a drawn token's shortest token prefix (its first byte, for
# byte-level BPE) is asked first: one "no" there settles the whole subtree of tokens below it.
_ASK_ROOT_AFTER = 4


class StepChecker:
    """The acceptance test ``l(item)`` of one step, cached and counted.

    Parameters
    ----------
    matcher : Matcher
        Current state of the sequence (not modified).
    eos_item : int
        Index of the EOS item (``V``).
    parents : list[int], optional
        `prefix_parents` of the vocabulary: rejections are then inferred from rejected byte
        prefixes (see the module docstring) instead of asked. Only for matchers whose
        ``byte_prefix_closed`` is true (not item sets, whose tokens are not judged by bytes).
    cache : dict, optional
        Answers already known for this matcher state (shared by particles with the same tokens
        in one step); filled in place.

    Attributes
    ----------
    checks : int
        Number of constraint calls made (cache hits and inferred rejections are free).
    rejections : int
        How many of those calls said no.
    time_s : float
        Seconds spent inside those calls.
    """

    __slots__ = ("_allows", "_accepting", "eos_item", "_parents", "cache", "checks", "rejections",
                 "time_s")

    def __init__(self, matcher, eos_item: int, parents: list | None = None, cache: dict | None = None):
        self._allows = matcher.allows
        self._accepting = matcher.is_accepting
        self.eos_item = eos_item
        self._parents = parents
        self.cache: dict[int, bool] = {} if cache is None else cache
        self.checks = 0
        self.rejections = 0
        self.time_s = 0.0

    def __call__(self, item: int) -> bool:
        cache = self.cache
        r = cache.get(item)
        if r is not None:
            return r
        parents = self._parents
        if parents is not None and item != self.eos_item:
            root = -1
            p = parents[item]
            while p >= 0:  # O(token length): ancestors are ever shorter byte prefixes
                if cache.get(p) is False:
                    cache[item] = False
                    return False
                root = p
                p = parents[p]
            if root >= 0 and self.rejections >= _ASK_ROOT_AFTER and not self._ask(root):
                cache[item] = False
                return False
        return self._ask(item)

    def _ask(self, item: int) -> bool:
        r = self.cache.get(item)
        if r is None:
            self.checks += 1
            t0 = _perf_counter()
            r = bool(self._accepting() if item == self.eos_item else self._allows(item))
            self.time_s += _perf_counter() - t0
            self.cache[item] = r
            self.rejections += not r
        return r


# ------------------------------------------------------------------------------- estimators
Accept = Callable[[int], bool]


def first_acceptance(lq: np.ndarray, accept: Accept, orders) -> tuple[int, float]:
    """Plain adaptive rejection sampling: the first accepted item of one walk, log weight 0.

    The item is distributed exactly as ``q l / z`` (LCD's law). Returns ``(-1, -inf)`` when every
    positive-mass item is rejected.
    """
    for o in orders.walk(lq):
        if accept(o):
            return o, 0.0
    return -1, _NEG_INF


def recursive_estimate(lq: np.ndarray, accept: Accept, orders) -> tuple[int, float]:
    """Recursive estimator: returns ``(item, log z_hat)``; ``(-1, -inf)`` when all mass is rejected.

    ``lq`` are the normalised log probabilities ``log q`` of the items (``-inf`` = pruned).
    """
    remaining = int(np.count_nonzero(lq > _NEG_INF))
    log_m = _NEG_INF  # rejected mass
    log_M = 0.0
    it = orders.walk(lq)
    for o in it:
        if remaining == 1:
            lc = 0.0
        else:
            lc = min(0.0, float(lq[o]) - _log1mexp(log_m))
        if accept(o):
            if remaining == 1:
                tail = 0.0
            else:
                nxt = next(it, None)
                tail = 0.0 if (nxt is None or accept(nxt)) else lc
            return o, min(0.0, log_M) + tail
        log_M += _log1mexp(lc)
        log_m = _logaddexp(log_m, float(lq[o]))
        remaining -= 1
        if remaining == 0 or log_m >= _LOG_MASS_DEAD or log_M == _NEG_INF:
            break
    return -1, _NEG_INF


def two_round_estimate(lq: np.ndarray, accept: Accept, orders) -> tuple[int, float]:
    """Two-round estimator (the paper's): ``z_hat = (1 - q(R1)) / (1 + |R1| + |R2|)``."""
    rejected1: list[int] = []
    x = -1
    for o in orders.walk(lq):
        if accept(o):
            x = o
            break
        rejected1.append(o)
    if x < 0:
        return -1, _NEG_INF
    removed = np.zeros(lq.shape[0], dtype=bool)
    removed[rejected1] = True
    n2 = 0
    for o in orders.walk(lq, removed):
        if accept(o):
            break
        n2 += 1
    if rejected1:
        log_r1 = float(np.logaddexp.reduce(lq[rejected1]))
        if log_r1 >= _LOG_MASS_DEAD:
            return -1, _NEG_INF
        log_keep = _log1mexp(log_r1)
    else:
        log_keep = 0.0
    return x, log_keep - math.log(1 + len(rejected1) + n2)


def geometric_estimate(lq: np.ndarray, accept: Accept, orders, max_accepts: int = 2,
                       max_rejects: float = math.inf) -> tuple[int, float]:
    """Geometric (with-replacement reconstruction) estimator, ``A = max_accepts``, ``R = max_rejects``.

    ``z_hat = min(A - 1, n_acc) / (n_acc + n_rej - 1)`` with ``n_rej`` clipped at ``R``.
    """
    n = lq.shape[0]
    removed = np.zeros(n, dtype=bool)
    n_acc = 0
    n_rej = 0
    first = -1
    log_m = _NEG_INF
    stop = False
    while n_acc < max_accepts and not stop:
        progressed = False
        for o in orders.walk(lq, removed):
            progressed = True
            if log_m > _NEG_INF:
                if log_m >= _LOG_MASS_DEAD:
                    stop = True
                    break
                n_rej += orders.geometric(-math.expm1(log_m)) - 1
                if n_rej >= max_rejects:
                    stop = True
                    break
            if accept(o):
                n_acc += 1
                if first < 0:
                    first = o
                break
            n_rej += 1
            removed[o] = True
            log_m = _logaddexp(log_m, float(lq[o]))
            if n_rej >= max_rejects:
                stop = True
                break
        else:
            # walked every remaining item without an acceptance: nothing is acceptable
            if n_acc == 0:
                return -1, _NEG_INF
        if not progressed:
            break
    if n_acc == 0:
        return -1, _NEG_INF
    n_rej = min(n_rej, max_rejects)
    return first, math.log(min(max_accepts - 1, n_acc)) - math.log(n_acc + n_rej - 1)


# ---------------------------------------------------------------------------------- the step
_CANDIDATES: dict[str, np.ndarray] = {}


def _candidate_mask(vocab) -> np.ndarray:
    """Token ids that can ever be allowed: non-empty bytes and not EOS (cached per vocabulary)."""
    key = vocab.fingerprint
    m = _CANDIDATES.get(key)
    if m is None:
        m = np.fromiter((b is not None and len(b) > 0 for b in vocab.token_bytes), dtype=bool,
                        count=vocab.size)
        m[np.asarray(vocab.eos_ids, dtype=np.int64)] = False
        m.setflags(write=False)
        if len(_CANDIDATES) > 16:
            _CANDIDATES.clear()
        _CANDIDATES[key] = m
    return m


_PARENTS: dict[str, list] = {}


def prefix_parents(vocab) -> list:
    """Per token id, the id of its longest proper byte prefix that is itself a candidate token
    (non-empty bytes, not EOS), or -1; a token with the same bytes as a smaller id points to that
    id. Non-candidates get -1. Cached per vocabulary; cost once: O(sum of token lengths) lookups.
    """
    key = vocab.fingerprint
    out = _PARENTS.get(key)
    if out is None:
        cand = _candidate_mask(vocab)
        first: dict[bytes, int] = {}
        for i, b in enumerate(vocab.token_bytes):
            if cand[i] and b not in first:
                first[b] = i
        out = [-1] * vocab.size
        for i, b in enumerate(vocab.token_bytes):
            if not cand[i]:
                continue
            j = first[b]
            if j != i:
                out[i] = j
                continue
            for k in range(len(b) - 1, 0, -1):
                j = first.get(b[:k])
                if j is not None:
                    out[i] = j
                    break
        if len(_PARENTS) > 16:
            _PARENTS.clear()
        _PARENTS[key] = out
    return out


def item_log_weights(logp: np.ndarray, vocab) -> tuple[np.ndarray, int]:
    """Item log weights ``log w`` over ``V + 1`` items (tokens, then the merged EOS item).

    Returns ``(lw, eos_id)``: ``lw`` is float64, ``-inf`` for pruned ids; ``eos_id`` is the most
    probable EOS id (``-1`` without EOS ids). Cost: O(V).
    """
    v = vocab.size
    logp = np.asarray(logp)
    if logp.shape[-1] < v:
        raise ValueError(f"log-probabilities have width {logp.shape[-1]}, vocabulary size is {v}")
    lw = np.empty(v + 1, dtype=np.float64)
    np.copyto(lw[:v], logp[:v])
    lw[:v][~_candidate_mask(vocab)] = _NEG_INF
    lw[np.isnan(lw)] = _NEG_INF
    eos = np.asarray(vocab.eos_ids, dtype=np.int64)
    if eos.size:
        le = logp[eos].astype(np.float64)
        lw[v] = float(np.logaddexp.reduce(le))
        eos_id = int(eos[int(np.argmax(le))])
    else:
        lw[v] = _NEG_INF
        eos_id = -1
    return lw, eos_id


def _logsumexp(x: np.ndarray) -> float:
    """log(sum(exp(x))) without overflow; -inf for an empty or all -inf ``x``."""
    x = np.asarray(x, dtype=np.float64)
    m = float(np.max(x)) if x.size else _NEG_INF
    if m == _NEG_INF:
        return _NEG_INF
    return m + math.log(float(np.sum(np.exp(x - m))))


def awrs_step(logp: np.ndarray, matcher, vocab, orders: GumbelOrders,
              config: AWRSConfig | None = None, cache: dict | None = None) -> tuple[int, float, int, float]:
    """One AWRS draw for one sequence.

    Parameters
    ----------
    logp : numpy.ndarray
        Next-token log probabilities, shape ``[>= V]`` (the first ``V`` entries are used).
    matcher : Matcher
        The sequence's constraint state; only ``allows`` and ``is_accepting`` are called.
    vocab : Vocabulary
    orders : GumbelOrders
        Source of random orders (holds the generator).
    config : AWRSConfig, optional
    cache : dict, optional
        Check answers shared with other sequences in the same state this step (see `StepChecker`).

    Returns
    -------
    (token_id, log_weight, checks, check_seconds)
        ``token_id`` is an allowed token (an EOS id for the EOS item), or ``-1`` when no token is
        allowed (then ``log_weight = -inf``). ``log_weight = log W + log z_hat`` with proper
        weights, else ``0``. ``checks`` = constraint calls made, ``check_seconds`` their time.
    """
    cfg = config or _DEFAULT
    lw, eos_id = item_log_weights(logp, vocab)
    log_W = _logsumexp(lw)
    if log_W == _NEG_INF:
        return -1, _NEG_INF, 0, 0.0
    lq = lw - log_W
    eos_item = vocab.size
    parents = prefix_parents(vocab) if getattr(matcher, "byte_prefix_closed", False) else None
    check = StepChecker(matcher, eos_item, parents, cache)
    if not cfg.proper:
        item, log_z = first_acceptance(lq, check, orders)
        log_W = 0.0
    else:
        est = cfg.estimator
        if est == "auto":
            est = ("geometric" if cfg.max_accepts > 2 or cfg.max_rejects != math.inf
                   or float(np.max(lq)) >= math.log(2 / 3) else "recursive")
        if est == "recursive":
            item, log_z = recursive_estimate(lq, check, orders)
        elif est == "two_round":
            item, log_z = two_round_estimate(lq, check, orders)
        else:
            item, log_z = geometric_estimate(lq, check, orders, cfg.max_accepts, cfg.max_rejects)
    if item < 0:
        return -1, _NEG_INF, check.checks, check.time_s
    tok = eos_id if item == eos_item else item
    return tok, log_W + log_z, check.checks, check.time_s


_DEFAULT = AWRSConfig()
