"""The particle loop shared by LCD, AWRS and AWRS-SMC.

All live particles advance one token per step with one batched ``lm.logprobs`` call (identical
contexts are sent once). Per particle the step is:

``"lcd"``   mask (``fill_mask``) and sample; log weight stays 0.
``"awrs"``  adaptive rejection sampling without weights (`awrs.first_acceptance`): LCD's law, a
            handful of ``allows`` checks instead of a mask; log weight stays 0. Particles with the
            same tokens share the step's check answers (their matchers are in the same state).
``"smc"``   AWRS with a properly weighted estimate; the particle's log weight accumulates
            ``log W + log z_hat``; after the step, when the effective sample size
            ``ESS = 1 / sum(w_bar^2)`` falls below ``ess_threshold * N``, the particles are
            resampled (stratified by default) and every log weight is set to
            ``logsumexp(L) - log N``, which keeps the marginal-likelihood estimate
            ``log_ml = logmeanexp(L)`` unbiased. Finished particles take part in resampling.

When one token of budget is left (``max_tokens`` reached), EOS is forced: the particle finishes
with weight ``log p(EOS | y) + log l(EOS)`` for SMC (exact: ``sum`` over the EOS ids, ``-inf`` when
the output is not accepting), and for LCD / AWRS it ends with EOS when the output is accepting and
is otherwise reported unfinished (log weight ``-inf``). A particle whose step finds no allowed
token dies (log weight ``-inf``). Every emitted token goes through ``Matcher.advance``, which raises
`TokenRejected` for a refused token: a sampler cannot emit one silently.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from .awrs import AWRSConfig, GumbelOrders, StepChecker, _logsumexp, awrs_step
from .lcd import lcd_step

__all__ = ["SamplingStats", "Particle", "run_particles", "resample_indices", "ess"]


@dataclass
class SamplingStats:
    """Counters of one sampling run.

    Attributes
    ----------
    model_calls : int
        ``lm.logprobs`` calls (one batched forward each for `HFModel`).
    model_rows : int
        Contexts evaluated (sum of the batch sizes after deduplication).
    constraint_checks : int
        ``allows`` / ``is_accepting`` calls (AWRS, forced EOS).
    masks : int
        ``fill_mask`` calls (LCD); each decides all ``V`` tokens.
    tokens : int
        Tokens emitted over all particles (EOS included).
    steps : int
        Loop iterations (at most ``max_tokens``).
    resamples : int
        Resampling events (SMC).
    model_time_s, sampler_time_s, check_time_s, wall_time_s : float
        Time in ``lm.logprobs``; time in the per-token sampler work (constraint calls plus the
        vectorised numpy work around them: Gumbel keys, partial order, unpacking masks); time
        inside the matcher calls alone (``allows``, ``is_accepting``, ``fill_mask``); whole run.
    """

    model_calls: int = 0
    model_rows: int = 0
    constraint_checks: int = 0
    masks: int = 0
    tokens: int = 0
    steps: int = 0
    resamples: int = 0
    model_time_s: float = 0.0
    sampler_time_s: float = 0.0
    check_time_s: float = 0.0
    wall_time_s: float = 0.0
    ess_history: list = field(default_factory=list)

    @property
    def checks_per_token(self) -> float:
        return self.constraint_checks / self.tokens if self.tokens else math.nan


@dataclass
class Particle:
    """One sequence: generated ids, constraint state, log weight, status."""

    tokens: list
    matcher: object
    log_weight: float = 0.0
    done: bool = False
    eos: bool = False  # finished with an EOS (a complete output)

    def clone(self) -> "Particle":
        return Particle(list(self.tokens), self.matcher.fork(), self.log_weight, self.done, self.eos)


def ess(log_weights: np.ndarray) -> float:
    """Effective sample size ``1 / sum(w_bar^2)`` of normalised weights; 0 when all are ``-inf``."""
    lw = np.asarray(log_weights, dtype=np.float64)
    m = float(np.max(lw)) if lw.size else -math.inf
    if m == -math.inf:
        return 0.0
    w = np.exp(lw - m)
    w /= w.sum()
    return float(1.0 / np.sum(w * w))


def resample_indices(log_weights: np.ndarray, rng: np.random.Generator,
                     scheme: str = "stratified") -> np.ndarray:
    """``N`` ancestor indices drawn in proportion to ``exp(log_weights)``.

    ``scheme``: ``"multinomial"`` (iid), ``"stratified"`` (one uniform per stratum) or
    ``"systematic"`` (one uniform shared by all strata). All are unbiased; the last two have
    lower variance. Cost: O(N log N).
    """
    lw = np.asarray(log_weights, dtype=np.float64)
    n = lw.shape[0]
    w = np.exp(lw - np.max(lw))
    c = np.cumsum(w / w.sum())
    c[-1] = 1.0
    if scheme == "multinomial":
        u = rng.random(n)
    elif scheme == "stratified":
        u = (np.arange(n) + rng.random(n)) / n
    elif scheme == "systematic":
        u = (np.arange(n) + rng.random()) / n
    else:
        raise ValueError(f"unknown resampling scheme {scheme!r}")
    return np.minimum(np.searchsorted(c, u, side="right"), n - 1)


def run_particles(lm, compiled, *, method: str, n_particles: int, max_tokens: int,
                  rng: np.random.Generator, ess_threshold: float = 0.5,
                  awrs: AWRSConfig | None = None, resampling: str = "stratified",
                  stats: SamplingStats | None = None) -> tuple[list[Particle], SamplingStats]:
    """Run the particle loop; returns the final particles and the counters.

    Parameters
    ----------
    lm : LanguageModel
    compiled : CompiledConstraint
        Anything with ``.matcher()``.
    method : {"lcd", "awrs", "smc"}
    n_particles, max_tokens : int
    rng : numpy.random.Generator
    ess_threshold : float
        Resample when ``ESS < ess_threshold * N`` (SMC only; 0 disables resampling).
    awrs : AWRSConfig, optional
        Estimator options for ``"smc"`` (``proper`` is forced to True there, False for ``"awrs"``).
    resampling : {"stratified", "systematic", "multinomial"}

    Cost: ``<= max_tokens`` model calls; per particle and step, one mask (LCD) or the AWRS checks.
    """
    if method not in ("lcd", "awrs", "smc"):
        raise ValueError(f"method must be 'lcd', 'awrs' or 'smc', got {method!r}")
    if n_particles < 1:
        raise ValueError(f"n_particles must be >= 1, got {n_particles}")
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    st = stats or SamplingStats()
    t_start = time.perf_counter()
    vocab = lm.vocab
    eos_ids = np.asarray(vocab.eos_ids, dtype=np.int64)
    base = AWRSConfig() if awrs is None else awrs
    if method == "smc":
        cfg = AWRSConfig(base.estimator, True, base.max_accepts, base.max_rejects)
    else:
        cfg = AWRSConfig("auto", False)
    orders = GumbelOrders(rng)
    buf = np.zeros((1, vocab.words), dtype=np.int32)
    root = compiled.matcher()
    particles = [Particle([], root.fork()) for _ in range(n_particles)]
    weighted = method == "smc"

    for t in range(max_tokens):
        active = [p for p in particles if not p.done]
        if not active:
            break
        st.steps += 1
        index: dict[tuple, int] = {}
        contexts = []
        for p in active:
            k = tuple(p.tokens)
            if k not in index:
                index[k] = len(contexts)
                contexts.append(p.tokens)
        t0 = time.perf_counter()
        lp = lm.logprobs(contexts)
        st.model_time_s += time.perf_counter() - t0
        st.model_calls += 1
        st.model_rows += len(contexts)
        last = t == max_tokens - 1
        t0 = time.perf_counter()
        shared: dict[int, dict] = {}  # AWRS check answers per context: same tokens, same state
        for p in active:
            ci = index[tuple(p.tokens)]
            row = lp[ci]
            if last or (len(eos_ids) and p.matcher.is_terminated()):
                # forced EOS: exact weight log p(EOS) + log l(EOS)
                check = StepChecker(p.matcher, -1)
                ok = check(-1)
                st.constraint_checks += check.checks
                st.check_time_s += check.time_s
                p.done = True
                if ok and len(eos_ids):
                    le = row[eos_ids].astype(np.float64)
                    tok = int(eos_ids[int(np.argmax(le))])
                    p.matcher.advance(tok)
                    p.tokens.append(tok)
                    p.eos = True
                    st.tokens += 1
                    if weighted:
                        p.log_weight += float(np.logaddexp.reduce(le))
                else:
                    p.log_weight = -math.inf
                continue
            if method == "lcd":
                tok, _, mask_s = lcd_step(row, p.matcher, vocab, rng, buf)
                st.masks += 1
                st.check_time_s += mask_s
                lw = 0.0 if tok >= 0 else -math.inf
            else:
                tok, lw, n_checks, check_s = awrs_step(row, p.matcher, vocab, orders, cfg,
                                                       shared.setdefault(ci, {}))
                st.constraint_checks += n_checks
                st.check_time_s += check_s
            if tok < 0 or lw == -math.inf:
                p.done = True
                p.log_weight = -math.inf
                continue
            p.matcher.advance(tok)  # raises TokenRejected if a sampler ever drew a refused token
            p.tokens.append(tok)
            st.tokens += 1
            if weighted:
                p.log_weight += lw
            if vocab.is_eos(tok):
                p.done = True
                p.eos = True
        st.sampler_time_s += time.perf_counter() - t0

        if weighted and n_particles > 1 and ess_threshold > 0:
            L = np.array([p.log_weight for p in particles])
            e = ess(L)
            st.ess_history.append(e)
            if e > 0 and e < ess_threshold * n_particles:
                anc = resample_indices(L, rng, resampling)
                used: set[int] = set()
                new = []
                for a in anc.tolist():
                    if a in used:
                        new.append(particles[a].clone())
                    else:
                        used.add(a)
                        new.append(particles[a])
                avg = _logsumexp(L) - math.log(n_particles)
                for p in new:
                    p.log_weight = avg
                particles = new
                st.resamples += 1
    for p in particles:  # budget exhausted without a forced step (cannot happen; defensive)
        if not p.done:
            p.done = True
            p.log_weight = -math.inf
    st.wall_time_s += time.perf_counter() - t_start
    return particles, st
