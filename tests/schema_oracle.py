"""Shared set-up of the schema brute-force tests: compile a schema, or settle the comparison
with `jsonschema` when the compiler proves it empty or refuses it."""

from __future__ import annotations

from typing import Iterable

from constrain.errors import ConstraintError
from constrain.schema import InvalidSchema, JsonSchema


def compile_or_settle(schema, instances: Iterable, validator, allow_refusal: bool = True):
    """``(JsonSchema, None)``, or ``(None, n)`` without one: ``n = 0`` when the compiler proves
    the schema unsatisfiable (asserting that no instance of the pool is valid either), ``n = -1``
    when it refuses the schema (a `ConstraintError`; raised instead unless ``allow_refusal``)."""
    try:
        return JsonSchema(schema), None
    except InvalidSchema as e:
        assert "unsatisfiable" in str(e), e
        assert not any(validator.is_valid(v) for v in instances), schema
        return None, 0
    except ConstraintError:
        if not allow_refusal:
            raise
        return None, -1
