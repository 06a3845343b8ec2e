"""User-facing sampling API: `sample` (any LM behind the protocol) and `generate` (transformers).

>>> res = sample(lm, Regex(r"\\d{3}-\\d{4}"), method="smc", n_particles=5, max_new_tokens=16, seed=0)
>>> best = max(res.posterior, key=res.posterior.get)     # bytes of the most probable output
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import TokenRejected
from ..outcome import COMPLETE, FAILED, TRUNCATED, DeadEnd, Outcome, check_on_error, warn_failure
from .awrs import AWRSConfig
from .smc import SamplingStats, run_particles

__all__ = ["sample", "generate", "SampleResult", "Unconstrained", "Generation"]


@dataclass
class SampleResult:
    """What `sample` returns.

    Attributes
    ----------
    sequences : list[list[int]]
        Generated token ids of each particle (a final EOS id included when it finished).
    log_weights : numpy.ndarray
        float64 ``[n_particles]``. SMC: the particles' log importance weights (``-inf`` = dead).
        LCD / AWRS: 0 for every finished output (they weigh equally), ``-inf`` for particles that
        did not finish (dead end, or budget exhausted on a non-accepting output).
    finished : list[bool]
        Whether each particle ended with EOS.
    texts : list[bytes]
        Output bytes of each particle (EOS excluded).
    posterior : dict[bytes, float]
        Normalised weight of each distinct finished output (weights of identical outputs summed);
        empty when no particle finished with positive weight.
    log_ml : float | None
        SMC: ``logmeanexp(log_weights)``, an unbiased (in ``exp``) estimate of the probability the
        model gives to the constraint's language within ``max_tokens`` tokens. None otherwise.
    stats : SamplingStats
    method : str
    outcomes : list[Outcome]
        Per particle: ``complete`` (ended with EOS), ``truncated`` (budget spent before the
        output was complete), or ``failed`` (the matcher raised, with ``on_error="eos"``, or a
        dead end: nothing allowed), with the error.
    """

    sequences: list
    log_weights: np.ndarray
    finished: list
    texts: list
    posterior: dict
    log_ml: float | None
    stats: SamplingStats
    method: str = ""
    outcomes: list = None

    @property
    def best(self) -> bytes | None:
        """The output with the largest posterior weight (None when nothing finished)."""
        if not self.posterior:
            return None
        return max(self.posterior, key=self.posterior.get)

    @property
    def ess(self) -> float:
        """Effective sample size of the final weights."""
        from .smc import ess
        return ess(self.log_weights)


class Unconstrained:
    """The constraint that allows every token with bytes, and EOS at any point.

    Used by `sample` when ``constraint=None`` (plain ancestral sampling from the model, the
    baseline in benchmarks). Has ``.compile(vocab)`` and, once compiled, ``.matcher()``.
    """

    def __init__(self, vocab=None):
        self.vocab = vocab

    def compile(self, vocab) -> "Unconstrained":
        return Unconstrained(vocab)

    def matcher(self) -> "_FreeMatcher":
        from ..bitmask import bool_to_bitmask
        from .awrs import _candidate_mask

        v = self.vocab
        allowed = _candidate_mask(v).copy()
        allowed[np.asarray(v.eos_ids, dtype=np.int64)] = True
        return _FreeMatcher(v, allowed, bool_to_bitmask(allowed), 0)


class _FreeMatcher:
    __slots__ = ("vocab", "_allowed", "_row", "_n")

    def __init__(self, vocab, allowed, row, n):
        self.vocab, self._allowed, self._row, self._n = vocab, allowed, row, n

    def allows(self, token_id: int) -> bool:
        return 0 <= token_id < self.vocab.size and bool(self._allowed[token_id])

    def fill_mask(self, bitmask, row: int = 0) -> None:
        np.asarray(bitmask)[row] = self._row

    def advance(self, token_id: int) -> None:
        if not self.allows(int(token_id)):
            raise TokenRejected(f"token {token_id} has no bytes")
        self._n += 1

    def rollback(self, n: int = 1) -> None:
        if n < 0 or n > self._n:
            raise ValueError(f"cannot roll back {n} tokens: {self._n} consumed")
        self._n -= n

    def fork(self) -> "_FreeMatcher":
        return _FreeMatcher(self.vocab, self._allowed, self._row, self._n)

    def is_accepting(self) -> bool:
        return True

    def is_terminated(self) -> bool:
        return False

    @property
    def num_tokens(self) -> int:
        return self._n


class _Guarded:
    """A compiled constraint whose matchers turn an exception (a limit, the mask time budget)
    into a dead particle: it then allows nothing (so the sampler ends it with weight ``-inf``)
    and keeps the error for its `Outcome`; ``TokenRejected`` from ``advance`` still propagates."""

    def __init__(self, compiled):
        self.inner = compiled
        self.vocab = compiled.vocab

    def matcher(self):
        return _GuardedMatcher(self.inner.matcher(), None)


class _GuardedMatcher:
    __slots__ = ("m", "error", "vocab")

    def __init__(self, m, error):
        self.m, self.error = m, error
        self.vocab = m.vocab

    @property
    def byte_prefix_closed(self) -> bool:
        return bool(getattr(self.m, "byte_prefix_closed", False))

    @property
    def num_tokens(self) -> int:
        return self.m.num_tokens

    def _failed(self, e: BaseException) -> None:
        self.error = e
        warn_failure(f"constrain.sample: a particle after {self.m.num_tokens} tokens", e, stacklevel=5)

    def allows(self, token_id: int) -> bool:
        if self.error is not None:
            return False
        try:
            return self.m.allows(token_id)
        except Exception as e:
            self._failed(e)
            return False

    def fill_mask(self, bitmask, row: int = 0) -> None:
        if self.error is None:
            try:
                self.m.fill_mask(bitmask, row)
                return
            except Exception as e:
                self._failed(e)
        np.asarray(bitmask)[row] = 0

    def advance(self, token_id: int) -> None:
        if self.error is not None:
            return  # a failed particle allows nothing; the sampler only ends it
        try:
            self.m.advance(token_id)
        except TokenRejected:
            raise
        except Exception as e:  # the particle is failed from now on (it allows nothing)
            self._failed(e)

    def advance_many(self, token_ids) -> None:
        for t in token_ids:
            self.advance(int(t))

    def rollback(self, n: int = 1) -> None:
        self.m.rollback(n)

    def fork(self) -> "_GuardedMatcher":
        return _GuardedMatcher(self.m.fork(), self.error)

    def is_accepting(self) -> bool:
        return self.error is None and self.m.is_accepting()

    def is_terminated(self) -> bool:
        return self.error is None and self.m.is_terminated()


def _outcome(p, max_tokens: int) -> Outcome:
    n = len(p.tokens)
    err = getattr(p.matcher, "error", None)
    if p.eos:
        return Outcome(COMPLETE, True, None, n)
    if err is not None:
        return Outcome(FAILED, False, err, n)
    if n >= max_tokens - 1:
        return Outcome(TRUNCATED, bool(p.matcher.is_accepting()), None, n)
    return Outcome(FAILED, False, DeadEnd(f"the constraint allows no token after {n} tokens "
                                          "(or none the model gives mass to)"), n)


def _compile(constraint, vocab):
    if constraint is None:
        return Unconstrained(vocab)
    if hasattr(constraint, "compile"):
        return constraint.compile(vocab)
    if hasattr(constraint, "matcher"):
        cv = getattr(constraint, "vocab", None)
        if cv is not None and cv is not vocab and (
                cv.size != vocab.size or cv.fingerprint != vocab.fingerprint):
            raise ValueError("the constraint was compiled for another vocabulary than the model's")
        return constraint
    raise TypeError(f"constraint must have .compile(vocab) or .matcher(), got {type(constraint).__name__}")


def sample(lm, constraint, *, method: str = "lcd", n_particles: int = 1,
           ess_threshold: float = 0.5, max_new_tokens: int = 256, seed=None,
           estimator: str = "auto", max_accepts: int = 2, max_rejects: float = math.inf,
           resampling: str = "stratified", on_error: str = "raise",
           max_tokens: int | None = None) -> SampleResult:
    """Sample outputs of ``lm`` that satisfy ``constraint``.

    Parameters
    ----------
    lm : LanguageModel
        ``vocab`` and ``logprobs(contexts)`` (see `constrain.sampling.lm`); e.g. `HFModel`.
    constraint
        A constraint spec (``.compile(vocab)``: `Regex`, ...), a compiled constraint
        (``.matcher()``), or None (unconstrained sampling).
    method : {"lcd", "awrs", "smc"}
        ``"lcd"``: mask then sample, ``n_particles`` independent samples. ``"awrs"``: the same law
        by adaptive rejection (checks only the drawn tokens). ``"smc"``: AWRS-SMC, samples the
        global target ``p(y | y in L, |y| <= max_tokens)`` as ``n_particles`` grows.
    n_particles : int
        Particles (SMC) or independent samples (LCD, AWRS); they share one batched forward a step.
    ess_threshold : float
        SMC resamples when ``ESS < ess_threshold * n_particles``.
    max_new_tokens : int
        Token budget per output, EOS included; the last step forces EOS (exact weight for SMC).
        The same name as `generate` and Hugging Face ``generate``.
    seed : int | numpy.random.Generator | None
    estimator, max_accepts, max_rejects
        AWRS weight estimator for SMC (see `constrain.sampling.awrs`); default: the selection rule.
    resampling : {"stratified", "systematic", "multinomial"}
    on_error : {"raise", "eos"}
        What a matcher exception (a limit, the mask time budget) does: propagate (default), or
        end that particle (weight ``-inf``, one ``RuntimeWarning`` per failed particle) and
        report it in ``outcomes``.
    max_tokens : int, optional
        The former name of ``max_new_tokens``, still accepted (give one of the two).

    Returns
    -------
    SampleResult

    Raises
    ------
    TokenRejected
        Never in correct operation: every emitted token is consumed with ``Matcher.advance``,
        which raises rather than let a refused token through.

    Notes
    -----
    Cost: at most ``max_tokens`` model calls (one batched forward over the live particles each);
    per particle and step, LCD computes one full mask and AWRS a few ``allows`` checks (about
    ``1/z`` plus one for the weight, ``z`` the allowed mass; rejections implied by a rejected byte
    prefix are not asked, see `constrain.sampling.awrs`).
    """
    if max_tokens is not None:
        if max_new_tokens != 256 and max_new_tokens != max_tokens:
            raise TypeError("give max_new_tokens or its former name max_tokens, not both")
        max_new_tokens = max_tokens
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, (int, np.integer)) \
            or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be a positive int, got {max_new_tokens!r}")
    max_tokens = int(max_new_tokens)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    compiled = _compile(constraint, lm.vocab)
    if check_on_error(on_error) == "eos":
        compiled = _Guarded(compiled)
    cfg = AWRSConfig(estimator, True, max_accepts, max_rejects)
    particles, stats = run_particles(lm, compiled, method=method, n_particles=int(n_particles),
                                     max_tokens=int(max_tokens), rng=rng,
                                     ess_threshold=float(ess_threshold), awrs=cfg,
                                     resampling=resampling)
    vocab = lm.vocab
    if method == "smc":
        lw = np.array([p.log_weight for p in particles], dtype=np.float64)
    else:  # LCD / AWRS samples weigh equally; unfinished ones are not outputs
        lw = np.array([0.0 if p.eos else -math.inf for p in particles], dtype=np.float64)
    texts = [vocab.decode(p.tokens) for p in particles]
    posterior: dict[bytes, float] = {}
    m = float(np.max(lw)) if lw.size else -math.inf
    if m > -math.inf:
        w = np.exp(lw - m)
        w /= w.sum()
        for p, text, wi in zip(particles, texts, w.tolist()):
            if p.eos and wi > 0:
                posterior[text] = posterior.get(text, 0.0) + wi
    log_ml = None
    if method == "smc":
        log_ml = m + math.log(float(np.mean(np.exp(lw - m)))) if m > -math.inf else -math.inf
    return SampleResult([list(p.tokens) for p in particles], lw, [p.eos for p in particles],
                        texts, posterior, log_ml, stats, method,
                        [_outcome(p, int(max_tokens)) for p in particles])


@dataclass
class Generation:
    """What `generate` returns with ``return_outcome=True``: the best text (None when no
    particle completed), the `Outcome` of the particle it came from (or, when none completed,
    the most telling one: a failure's error, else a truncation), and every distinct completed
    output with its weight."""

    text: str | None
    outcome: Outcome
    candidates: list
    result: SampleResult


def _best_outcome(res: SampleResult) -> Outcome:
    outs = res.outcomes or []
    for status in (COMPLETE, FAILED, TRUNCATED):
        for o in outs:
            if o.status == status:
                return o
    return Outcome(FAILED, False, DeadEnd("no particle"), 0)


def generate(model, tokenizer, prompt, constraint, *, method: str = "smc", n_particles: int = 5,
             max_new_tokens: int = 64, temperature: float = 1.0, seed=None,
             return_all: bool = False, chat: bool | None = None, system: str | None = None,
             ess_threshold: float = 0.5, on_error: str = "eos", return_outcome: bool = False):
    """Constrained generation with a transformers model in one call.

    Parameters
    ----------
    model, tokenizer
        A transformers causal LM and its tokenizer.
    prompt : str | list[dict]
        User message (wrapped in the chat template when the tokenizer has one, unless
        ``chat=False``) or a list of chat messages.
    constraint
        As for `sample` (a spec, a compiled constraint, or None).
    method, n_particles, max_new_tokens, seed, ess_threshold
        As for `sample`.
    temperature : float
    return_all : bool
        Return ``[(text, weight), ...]`` for every distinct finished output, by decreasing weight,
        instead of the single best text.
    chat, system
        See `HFModel`.
    on_error : {"eos", "raise"}
        A matcher exception ends that particle and is reported (default), or propagates.
    return_outcome : bool
        Return a `Generation` (text, `Outcome`, candidates) instead: whether the output was
        completed, cut by ``max_new_tokens``, or failed, and why.

    Returns
    -------
    str | None | list[tuple[str, float]] | Generation
        The highest-weight output decoded as UTF-8 (invalid bytes replaced), None when no
        particle finished; or the list with ``return_all``; or a `Generation`.
    """
    from .lm import HFModel

    lm = HFModel(model, tokenizer, prompt, temperature=temperature, chat=chat, system=system)
    res = sample(lm, constraint, method=method, n_particles=n_particles,
                 max_new_tokens=max_new_tokens, seed=seed, ess_threshold=ess_threshold,
                 on_error=on_error)
    items = sorted(res.posterior.items(), key=lambda kv: -kv[1])
    if return_outcome:
        cands = [(b.decode("utf-8", errors="replace"), w) for b, w in items]
        return Generation(cands[0][0] if cands else None, _best_outcome(res), cands, res)
    if return_all:
        return [(b.decode("utf-8", errors="replace"), w) for b, w in items]
    return items[0][0].decode("utf-8", errors="replace") if items else None
