"""Errors of the JSON Schema / extraction layer."""

from __future__ import annotations

from ..errors import ConstraintError, InvalidSyntax, LimitExceeded, UnsupportedFeature

__all__ = ["IncompleteOutput", "SchemaValidationError", "InvalidSchema", "UnsupportedKeyword",
           "SchemaLimitExceeded"]


def _where(pointer: str | None) -> str:
    return pointer or "/"


class InvalidSchema(InvalidSyntax):
    """The schema is not a valid JSON Schema (or not JSON at all). ``keyword`` names the offending
    keyword (None when the whole value is wrong), ``pointer`` is its JSON pointer ("/" for the
    root)."""

    def __init__(self, message: str, *, keyword: str | None = None, pointer: str | None = None):
        self.keyword = keyword
        self.pointer = _where(pointer)
        super().__init__(f"invalid JSON Schema at {self.pointer}: {message}")


class UnsupportedKeyword(UnsupportedFeature):
    """A keyword the compiler cannot enforce exactly (strict mode). ``keyword`` names it,
    ``pointer`` is the JSON pointer of the schema that holds it."""

    def __init__(self, keyword: str, *, pointer: str | None = None, detail: str = ""):
        self.keyword = keyword
        self.pointer = _where(pointer)
        super().__init__(keyword, detail=f"at {self.pointer}" + (f": {detail}" if detail else ""))


class SchemaLimitExceeded(LimitExceeded):
    """A configurable bound of the schema compiler was hit (nesting depth, ``oneOf`` expansion,
    any-order key sets). ``limit`` and ``value`` as in `LimitExceeded`; ``keyword`` and
    ``pointer`` locate the schema that hit it."""

    def __init__(self, limit: str, value: int | float, detail: str = "", *,
                 keyword: str | None = None, pointer: str | None = None):
        self.keyword = keyword
        self.pointer = _where(pointer)
        super().__init__(limit, value, f"at {self.pointer}" + (f": {detail}" if detail else ""))


class IncompleteOutput(ConstraintError):
    """Generation stopped (token budget, ``max_new_tokens``) before the output was a complete
    value of the schema. ``text`` is the partial output, ``token_ids`` its tokens, ``index`` the
    position of the input in a batch (None for a single text)."""

    def __init__(self, message: str, *, text: str = "", token_ids=None, index: int | None = None):
        self.text = text
        self.token_ids = list(token_ids or [])
        self.index = index
        super().__init__(message)


class SchemaValidationError(ConstraintError):
    """The output matched the grammar but the Pydantic model rejected it (a check the JSON Schema
    does not express, such as a custom validator). ``text`` is the output, ``errors`` pydantic's
    error list."""

    def __init__(self, message: str, *, text: str = "", errors=None, index: int | None = None):
        self.text = text
        self.errors = errors or []
        self.index = index
        super().__init__(message)
