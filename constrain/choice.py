"""``Choice``: the output is exactly one of a list of strings."""

from __future__ import annotations

import re

from .errors import InvalidSyntax
from .matcher import CompiledConstraint, Completable, Constraint
from .vocab import Vocabulary

__all__ = ["Choice"]


class Choice(Completable, Constraint):
    """The output is one of ``strings`` (any tokenization of it).

    Compiles as a regex alternation of the escaped strings: one minimal byte DFA (a trie of the
    strings, merged suffixes), so a mask is a row copy, like any `Regex`. For very many strings
    matched by token ids rather than bytes, see `Items`.

    Raises
    ------
    InvalidSyntax
        No strings, or a non-str entry.
    LimitExceeded
        The DFA exceeds ``limits`` (`RegexLimits`).
    """

    def __init__(self, strings, *, limits=None):
        from .regex.api import Regex

        strings = list(strings)
        if not strings:
            raise InvalidSyntax("Choice needs at least one string")
        for i, s in enumerate(strings):
            if not isinstance(s, str):
                raise InvalidSyntax(f"Choice entry {i} is {type(s).__name__}, expected str")
        self.strings = tuple(dict.fromkeys(strings))
        # longest first: the DFA does not care, but a reader of the pattern (and re) does
        alts = sorted(self.strings, key=lambda s: (-len(s), s))
        self.pattern = "(?:" + "|".join(re.escape(s) for s in alts) + ")"
        self.flags = 0
        self.regex = Regex(self.pattern, limits=limits)

    def __repr__(self) -> str:
        shown = ", ".join(map(repr, self.strings[:5])) + (", ..." if len(self.strings) > 5 else "")
        return f"Choice([{shown}])"

    def cache_key(self) -> tuple:
        return ("choice", self.strings)

    def _compile(self, vocab: Vocabulary) -> CompiledConstraint:
        return self.regex.compile(vocab)

    def fullmatch(self, text: str | bytes) -> bool:
        data = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
        return data in self.strings

    accepts = fullmatch

    def parse(self, text: str | bytes) -> str:
        """The chosen string (raises ValueError when ``text`` is not one of them)."""
        data = text.decode("utf-8") if isinstance(text, bytes) else text
        if data not in self.strings:
            raise ValueError(f"{data!r} is not one of the choices")
        return data
