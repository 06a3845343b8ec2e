"""Errors of the JSON Schema / extraction layer."""

from __future__ import annotations

from ..errors import ConstraintError

__all__ = ["IncompleteOutput", "SchemaValidationError"]


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
