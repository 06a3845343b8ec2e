"""``extract``: text → a validated Pydantic object, with a language model under a JSON Schema
constraint.

The prompt is built with the tokenizer's chat template (a system message with the instructions
and the JSON Schema, the text as the user message); generation runs under `JsonSchema`, so the
output always parses; truncation raises `IncompleteOutput` (with the partial text) and a failing
Pydantic-only check (a custom validator) raises `SchemaValidationError`.
"""

from __future__ import annotations

import json
from typing import Any

from .schema.errors import IncompleteOutput, SchemaValidationError

__all__ = ["extract", "extract_with_raw"]

DEFAULT_INSTRUCTIONS = ("Extract the requested information from the user's text. Answer with one "
                        "JSON value that matches this JSON Schema, and nothing else.")


def _messages(text: str, schema: dict, instructions: str | None) -> list[dict]:
    sys = (instructions or DEFAULT_INSTRUCTIONS) + "\nJSON Schema:\n" + json.dumps(schema, separators=(",", ":"))
    return [{"role": "system", "content": sys}, {"role": "user", "content": text}]


def _close_objects(schema):
    """A copy where objects with ``properties`` and no ``additionalProperties`` get
    ``additionalProperties: false``: outputs stay valid for the original schema (a subset), and a
    small model cannot wander into extra keys (Pydantic ignores extras by default anyway)."""
    if isinstance(schema, list):
        return [_close_objects(x) for x in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: (_close_objects(v) if k not in ("enum", "const", "default", "examples") else v)
           for k, v in schema.items()}
    if isinstance(schema.get("properties"), dict) and "additionalProperties" not in schema \
            and "patternProperties" not in schema and "unevaluatedProperties" not in schema:
        out["additionalProperties"] = False
    return out


def extract_with_raw(model, tokenizer, text, schema, *, instructions: str | None = None,
                     method: str = "lcd", max_new_tokens: int = 256, temperature: float = 0.3,
                     whitespace: str = "compact", seed=0, n_particles: int = 1):
    """Like `extract`, but returns ``(obj, output_text, token_ids)`` (lists of those for a batch)."""
    from .schema import JsonSchema

    if isinstance(schema, JsonSchema):
        constraint = schema
    else:
        from .schema.api import schema_of

        sch, model_ = schema_of(schema)
        constraint = JsonSchema(_close_objects(sch), whitespace=whitespace)
        constraint.model = model_  # parse with the model (extra keys are ignored by pydantic)
    if isinstance(text, (list, tuple)):
        return [_one(model, tokenizer, t, constraint, instructions, method, max_new_tokens,
                     temperature, seed, n_particles, i) for i, t in enumerate(text)]
    return _one(model, tokenizer, text, constraint, instructions, method, max_new_tokens,
                temperature, seed, n_particles, None)


def _one(model, tokenizer, text, constraint, instructions, method, max_new_tokens, temperature,
         seed, n_particles, index):
    from .sampling import HFModel, sample

    lm = HFModel(model, tokenizer, _messages(text, constraint.schema, instructions),
                 temperature=temperature)
    res = sample(lm, constraint, method=method, n_particles=n_particles, max_tokens=max_new_tokens,
                 seed=seed)
    best = None
    for i, fin in enumerate(res.finished):
        if fin and (best is None or res.log_weights[i] > res.log_weights[best]):
            best = i
    if best is None:
        out = res.texts[0].decode("utf-8", errors="replace") if res.texts else ""
        raise IncompleteOutput(f"generation stopped after {max_new_tokens} tokens before the JSON "
                               f"value was complete (raise max_new_tokens)", text=out,
                               token_ids=res.sequences[0] if res.sequences else [], index=index)
    out = res.texts[best].decode("utf-8")
    ids = [t for t in res.sequences[best] if t not in set(lm.vocab.eos_ids)]
    try:
        obj = constraint.parse(out)
    except Exception as e:  # pydantic.ValidationError (custom validators) or a JSON error
        errs = e.errors() if hasattr(e, "errors") else [str(e)]
        raise SchemaValidationError(f"the output matched the schema's grammar but failed "
                                    f"validation: {e}", text=out, errors=errs, index=index) from e
    return obj, out, ids


def extract(model, tokenizer, text, schema, *, instructions: str | None = None, method: str = "lcd",
            max_new_tokens: int = 256, temperature: float = 0.3, whitespace: str = "compact",
            seed=0, n_particles: int = 1) -> Any:
    """Extract a value of ``schema`` from ``text`` with a transformers model.

    Parameters
    ----------
    model, tokenizer
        A transformers causal LM and its tokenizer (the chat template is used when present).
    text : str | list[str]
        The input text, or a batch of texts (then a list of results is returned).
    schema
        A Pydantic model class (the result is an instance), any type ``pydantic.TypeAdapter``
        accepts, a JSON Schema dict/JSON string (the result is the parsed JSON value), or a
        `JsonSchema`.
    instructions : str, optional
        System instructions (the JSON Schema is appended to them).
    method : {"lcd", "awrs", "smc"}
        Sampler (see `constrain.sample`); ``n_particles`` for SMC.
    max_new_tokens : int
        Token budget, EOS included.
    temperature, whitespace, seed

    Raises
    ------
    UnsupportedFeature, InvalidSyntax
        The schema cannot be compiled exactly (before any generation).
    IncompleteOutput
        The budget ran out before the value was complete (``.text`` holds the partial output).
    SchemaValidationError
        The value matched the JSON Schema but Pydantic rejected it (custom validators).
    """
    r = extract_with_raw(model, tokenizer, text, schema, instructions=instructions, method=method,
                         max_new_tokens=max_new_tokens, temperature=temperature,
                         whitespace=whitespace, seed=seed, n_particles=n_particles)
    if isinstance(r, list):
        return [x[0] for x in r]
    return r[0]
