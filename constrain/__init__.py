"""constrain: make language models emit output that provably matches a constraint.

Pipeline: a constraint (``Regex``, ...) compiles against a ``Vocabulary`` into a
``CompiledConstraint``; each sequence gets a ``Matcher`` that answers ``allows``/``fill_mask`` and
consumes tokens with ``advance``; masks use the standard int32 bitmask layout (``apply_mask``).
"""

from .errors import ConstraintError, InvalidSyntax, LimitExceeded, TokenRejected, UnsupportedFeature

__version__ = "0.1.0"

__all__ = [
    "ConstraintError", "InvalidSyntax", "LimitExceeded", "TokenRejected", "UnsupportedFeature",
]

def __getattr__(name: str):  # lazy imports keep `import constrain` cheap (no torch, no numba)
    if name == "Vocabulary":
        from .vocab import Vocabulary
        return Vocabulary
    if name in ("Regex", "RegexLimits"):
        from .regex import api
        return getattr(api, name)
    if name in ("CompiledConstraint", "Matcher"):
        from . import matcher
        return getattr(matcher, name)
    if name in ("apply_mask", "allocate_bitmask", "bitmask_to_bool", "bool_to_bitmask"):
        from . import bitmask
        return getattr(bitmask, name)
    if name == "LogitsProcessor":
        from .hf import LogitsProcessor
        return LogitsProcessor
    raise AttributeError(f"module 'constrain' has no attribute {name!r}")
