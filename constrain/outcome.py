"""What happened to one output row: completed, cut by the token budget, or failed (and why).

`constrain.LogitsProcessor.outcomes` and `constrain.sample` / `constrain.generate` report one
`Outcome` per row or particle, so a partial or invalid text is never returned silently.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from .errors import ConstraintError

__all__ = ["Outcome", "DeadEnd", "COMPLETE", "TRUNCATED", "FAILED", "check_on_error", "warn_failure"]

COMPLETE, TRUNCATED, FAILED = "complete", "truncated", "failed"


class DeadEnd(ConstraintError):
    """The constraint allowed no token at some step (its language has no continuation there), or
    the output ended with EOS before it was complete."""


@dataclass
class Outcome:
    """One row's result.

    Attributes
    ----------
    status : "complete" | "truncated" | "failed"
        ``complete``: ended with EOS in an accepting state (the text is in the language).
        ``truncated``: the token budget ran out first (``valid`` tells whether the text so far
        happens to be in the language already). ``failed``: the matcher raised (a limit, the mask
        time budget), or a dead end; ``error`` holds the exception and the text is not valid.
    valid : bool
        Whether the output text (EOS excluded) is in the constraint's language.
    error : BaseException | None
    num_tokens : int
        Generated tokens (EOS included, padding excluded).
    """

    status: str
    valid: bool
    error: BaseException | None = None
    num_tokens: int = 0

    @property
    def ok(self) -> bool:
        return self.status == COMPLETE


def check_on_error(on_error: str) -> str:
    if on_error not in ("eos", "raise"):
        raise ValueError(f"on_error must be 'eos' or 'raise', got {on_error!r}")
    return on_error


def warn_failure(where: str, error: BaseException, stacklevel: int = 3) -> None:
    """One RuntimeWarning for one failed row (``where`` names the row, so that the warnings
    filter does not fold two rows' warnings into one)."""
    warnings.warn(f"{where} failed and was ended with EOS: {error!r} (its Outcome has "
                  "status 'failed'; pass on_error='raise' to raise instead)", RuntimeWarning,
                  stacklevel=stacklevel)
