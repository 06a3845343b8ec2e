"""Locally constrained decoding (LCD, token masking): mask, renormalise, sample.

Each step computes the full allowed set with ``Matcher.fill_mask`` (one bitmask row), sets the
log-probabilities of disallowed ids to ``-inf`` and samples from the renormalised rest (Gumbel-max,
vectorised). The draw follows the locally constrained law ``p(x) l(x) / Z`` exactly; over a whole
sequence LCD samples ``p(y) 1[y in L] / prod_t Z_t``, not the global target ``p(y | y in L)``.

Cost per step: one ``fill_mask`` (for a regex: one row copy), one ``np.unpackbits`` over ``V/8``
bytes, and ``O(V)`` numpy work.
"""

from __future__ import annotations

import math
import time

import numpy as np

from ..bitmask import bitmask_to_bool

__all__ = ["lcd_step"]


def lcd_step(logp: np.ndarray, matcher, vocab, rng: np.random.Generator,
             buf: np.ndarray | None = None) -> tuple[int, float]:
    """One masked draw.

    Parameters
    ----------
    logp : numpy.ndarray
        Next-token log probabilities, shape ``[>= V]``.
    matcher : Matcher
        Sequence state; ``fill_mask`` is called once.
    vocab : Vocabulary
    rng : numpy.random.Generator
    buf : numpy.ndarray, optional
        int32 scratch of shape ``[1, vocab.words]`` (allocated when omitted).

    Returns
    -------
    (token_id, log_Z, mask_seconds)
        The drawn id and the log of the allowed mass ``Z`` (``(-1, -inf, .)`` when nothing is
        allowed), and the time spent in ``fill_mask``.
    """
    v = vocab.size
    if buf is None:
        buf = np.zeros((1, vocab.words), dtype=np.int32)
    t0 = time.perf_counter()
    matcher.fill_mask(buf, 0)
    mask_s = time.perf_counter() - t0
    allowed = bitmask_to_bool(buf, v)[0]
    lp = np.where(allowed, np.asarray(logp[:v], dtype=np.float64), -math.inf)
    lp[np.isnan(lp)] = -math.inf
    m = float(np.max(lp)) if v else -math.inf
    if m == -math.inf:
        return -1, -math.inf, mask_s
    log_z = m + math.log(float(np.sum(np.exp(lp - m))))
    keys = lp - np.log(rng.standard_exponential(v))
    return int(np.argmax(keys)), log_z, mask_s
