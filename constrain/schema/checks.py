"""The schema must be JSON data before any keyword is read: one iterative pass (no recursion, so
any nesting depth is safe) that rejects what JSON cannot hold and bounds the nesting."""

from __future__ import annotations

import math

from .common import _ptr_join
from .errors import InvalidSchema, SchemaLimitExceeded

__all__ = ["check_json", "MAX_JSON_DEPTH"]

MAX_JSON_DEPTH = 500  # nesting of JSON containers in the schema document


def _keyword_of(ptr: str) -> str | None:
    """The last pointer segment that names a keyword (not an index or a property name)."""
    parts = ptr.split("/")[1:]
    return parts[-1].replace("~1", "/").replace("~0", "~") if parts else None


def check_json(schema, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Raise `InvalidSchema` (``keyword``/``pointer`` set) when ``schema`` holds a value JSON
    cannot express (a non-string object key, NaN or an infinity, a set, bytes, any other Python
    object) and `SchemaLimitExceeded` when containers nest deeper than ``max_depth``. Linear in
    the schema's size."""
    stack = [(schema, "", 0)]
    while stack:
        node, ptr, depth = stack.pop()
        if node is None or isinstance(node, (bool, int, str)):
            continue
        if isinstance(node, float):
            if not math.isfinite(node):
                raise InvalidSchema(f"{node!r} is not a JSON number (JSON has no NaN or infinity)",
                                    keyword=_keyword_of(ptr), pointer=ptr)
            continue
        if isinstance(node, (dict, list)):
            if depth >= max_depth:
                raise SchemaLimitExceeded("schema_json_depth", max_depth, "containers nest deeper",
                                          keyword=_keyword_of(ptr), pointer=ptr)
            if isinstance(node, dict):
                for k, v in node.items():
                    if not isinstance(k, str):
                        raise InvalidSchema(f"object key {k!r} is not a string",
                                            keyword=_keyword_of(ptr), pointer=ptr)
                    stack.append((v, _ptr_join(ptr, k), depth + 1))
            else:
                for i, v in enumerate(node):
                    stack.append((v, _ptr_join(ptr, i), depth + 1))
            continue
        raise InvalidSchema(f"a {type(node).__name__} is not a JSON value", keyword=_keyword_of(ptr),
                            pointer=ptr)
