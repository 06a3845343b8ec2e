"""The infilling mixin of constraints that compile to grammars (regex, grammar, JSON Schema).

It sits above the base contract (`constrain.matcher`) and calls `constrain.infill` on use.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Completable"]


class Completable:
    """Mixin for constraints that compile to grammars: infilling checks (`constrain.infill`)."""

    def completable(self, partial: Any, *, limits: Any = None) -> bool:
        """Whether some filling of ``partial``'s holes is in the language (sound; exact when hole
        lengths are bounded). See `constrain.infill.completable`."""
        from .infill import completable
        return completable(self, partial, limits=limits)

    def example_completion(self, partial: Any, *, limits: Any = None) -> bytes | None:
        """One completion of ``partial`` in the language, or None."""
        from .infill import example_completion
        return example_completion(self, partial, limits=limits)
