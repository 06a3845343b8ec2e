"""Infilling and diffusion decoding under a grammar: completability of partial outputs.

``Partial([piece, Hole(), piece, ..., END])`` describes outputs with fixed pieces and holes;
``completable(constraint, partial)`` decides whether some filling is a sentence of the constraint
(CFG ∩ regular emptiness at the byte level, `emptiness`); `InfillChecker` gives decoders
``allows(position, token_id)`` / ``commit``; `diffusion_generate` and `infill` are decoding loops.

``Grammar``, ``Regex`` and their compiled forms expose ``completable(partial)`` and
``example_completion(partial)`` (the `constrain.matcher.Completable` mixin), which call this package.
"""

from .checker import InfillChecker, completable, example_completion, infill_grammar
from .emptiness import InfillGrammar, InfillLimits
from .partial import END, Hole, Partial

__all__ = ["Partial", "Hole", "END", "completable", "example_completion", "infill_grammar",
           "InfillChecker", "InfillGrammar", "InfillLimits", "diffusion_generate", "infill",
           "DiffusionResult", "InfillResult", "MaskedDiffusionModel", "CharTokenizer"]

_LAZY = {"diffusion_generate": ".diffusion", "DiffusionResult": ".diffusion",
         "MaskedDiffusionModel": ".diffusion",
         "CharTokenizer": ".diffusion", "infill": ".autoregressive", "InfillResult": ".autoregressive"}


def __getattr__(name: str):
    from importlib import import_module

    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(mod, __name__), name)
    globals()[name] = value
    return value
