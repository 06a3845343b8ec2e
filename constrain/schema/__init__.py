"""JSON Schema and Pydantic constraints: `JsonSchema` compiles a schema straight to the grammar IR."""

from .api import JsonSchema, schema_of
from .compiler import compile_schema
from .errors import (IncompleteOutput, InvalidSchema, SchemaLimitExceeded, SchemaValidationError,
                     UnsupportedKeyword)

__all__ = ["JsonSchema", "schema_of", "compile_schema", "IncompleteOutput", "SchemaValidationError",
           "InvalidSchema", "UnsupportedKeyword", "SchemaLimitExceeded"]
