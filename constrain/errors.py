"""Typed errors. Every failure a user can cause is a `ConstraintError` that says what and where."""

from __future__ import annotations

#: Characters of a source quoted around the error position in a message (long patterns,
#: grammars and schemas are cut to this window, with "..." at the cuts).
EXCERPT_CHARS = 80


MESSAGE_CHARS = 300


def cut(text: str, limit: int = MESSAGE_CHARS) -> str:
    """``text`` with its middle cut when longer than ``limit`` (a quoted name or literal can be
    as long as the source)."""
    if len(text) <= limit:
        return text
    keep = limit // 2
    return f"{text[:keep]} ...[{len(text) - 2 * keep} characters cut]... {text[-keep:]}"


def excerpt(text: str, position: int) -> str:
    """Two message lines: ``text`` around ``position`` (at most `EXCERPT_CHARS` characters,
    "..." where cut) and a caret under ``position``."""
    half = EXCERPT_CHARS // 2
    lo = max(0, min(position - half, len(text) - EXCERPT_CHARS))
    hi = min(len(text), lo + EXCERPT_CHARS)
    head = "..." if lo > 0 else ""
    tail = "..." if hi < len(text) else ""
    return f"\n  {head}{text[lo:hi]}{tail}\n  {' ' * (len(head) + position - lo)}^"


class ConstraintError(Exception):
    """Base class of every error raised for a bad constraint or a bad use of one."""


class InvalidSyntax(ConstraintError, ValueError):
    """The constraint's text is malformed (a regex, a grammar, a schema).

    ``position`` is the 0-based offset into the source text when known; ``line`` and ``column``
    (1-based) locate it in multi-line sources such as grammars (the message then quotes that
    line of ``source`` rather than the whole text)."""

    def __init__(self, message: str, *, source: str | None = None, position: int | None = None,
                 line: int | None = None, column: int | None = None):
        self.source = source
        self.position = position
        self.line = line
        self.column = column
        message = cut(message)
        if line is not None:
            message = f"{message} (line {line}" + (f", column {column})" if column else ")")
            lines = source.splitlines() if source is not None else []
            if column and 0 < line <= len(lines):
                message += excerpt(lines[line - 1], column - 1)
        elif position is not None:
            message = f"{message} (at position {position})"
            if source is not None:
                message += excerpt(source, position)
        super().__init__(message)


class UnsupportedFeature(ConstraintError):
    """The constraint uses a feature that cannot be enforced exactly (for example a regex
    lookaround or backreference). ``feature`` names it; ``position`` locates it."""

    def __init__(self, feature: str, *, source: str | None = None, position: int | None = None,
                 detail: str = ""):
        self.feature = feature
        self.source = source
        self.position = position
        message = cut(f"unsupported feature: {feature}" + (f" ({detail})" if detail else ""))
        if position is not None:
            message += f" at position {position}"
            if source is not None:
                message += excerpt(source, position)
        super().__init__(message)


class LimitExceeded(ConstraintError):
    """A configurable limit was hit (DFA states, time, ...). ``limit`` names it, ``value`` is
    the configured bound."""

    def __init__(self, limit: str, value: int | float, detail: str = ""):
        self.limit = limit
        self.value = value
        message = cut(f"limit exceeded: {limit} = {value}" + (f" ({detail})" if detail else ""))
        super().__init__(message)


class TokenRejected(ConstraintError, ValueError):
    """`Matcher.advance` was given a token the constraint does not allow; the state is unchanged."""
