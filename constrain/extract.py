"""``extract``: text → a validated Pydantic object, with a language model under a JSON Schema
constraint.

The prompt is built with the tokenizer's chat template (a system message with the instructions
and the JSON Schema, the text as the user message); generation runs under `JsonSchema`, so the
output always parses; truncation raises `IncompleteOutput` (with the partial text) and a failing
Pydantic-only check (a custom validator) raises `SchemaValidationError`.

`extract_stream` yields partial objects as the fields complete (the constraint guarantees that
every prefix it emits is the start of a valid value, so a completed field is final); a batch of
texts shows a progress bar (tqdm) and can return per-text errors instead of raising.
"""

from __future__ import annotations

import json
from typing import Any

from .schema.errors import IncompleteOutput, SchemaValidationError

__all__ = ["extract", "extract_with_raw", "extract_stream", "completed_prefix"]

_PROGRESS_MIN = 8  # batches at least this long show a progress bar by default

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


def _constraint(schema, whitespace: str):
    from .schema import JsonSchema

    if isinstance(schema, JsonSchema):
        return schema
    from .schema.api import schema_of

    sch, model_ = schema_of(schema)
    constraint = JsonSchema(_close_objects(sch), whitespace=whitespace)
    constraint.model = model_  # parse with the model (extra keys are ignored by pydantic)
    return constraint


def _progress(items, progress: bool | None, desc: str):
    if progress is None:
        progress = len(items) >= _PROGRESS_MIN
    if not progress:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit="text")


def extract_with_raw(model, tokenizer, text, schema, *, instructions: str | None = None,
                     method: str = "lcd", max_new_tokens: int = 256, temperature: float = 0.3,
                     whitespace: str = "compact", seed=0, n_particles: int = 1,
                     progress: bool | None = None, on_error: str = "raise"):
    """Like `extract`, but returns ``(obj, output_text, token_ids)`` (lists of those for a batch;
    with ``on_error="return"`` a failed text's entry is the exception)."""
    if on_error not in ("raise", "return"):
        raise ValueError(f"on_error must be 'raise' or 'return', got {on_error!r}")
    constraint = _constraint(schema, whitespace)
    if isinstance(text, (list, tuple)):
        out = []
        for i, t in enumerate(_progress(list(text), progress, "extract")):
            try:
                out.append(_one(model, tokenizer, t, constraint, instructions, method,
                                max_new_tokens, temperature, seed, n_particles, i))
            except (IncompleteOutput, SchemaValidationError) as e:
                if on_error == "raise":
                    raise
                out.append(e)
        return out
    return _one(model, tokenizer, text, constraint, instructions, method, max_new_tokens,
                temperature, seed, n_particles, None)


def _one(model, tokenizer, text, constraint, instructions, method, max_new_tokens, temperature,
         seed, n_particles, index):
    from .sampling import HFModel, sample

    lm = HFModel(model, tokenizer, _messages(text, constraint.schema, instructions),
                 temperature=temperature)
    res = sample(lm, constraint, method=method, n_particles=n_particles, max_new_tokens=max_new_tokens,
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
            seed=0, n_particles: int = 1, progress: bool | None = None,
            on_error: str = "raise") -> Any:
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
    progress : bool | None
        Show a tqdm progress bar over a batch (default: for batches of 8 texts or more).
    on_error : {"raise", "return"}
        For a batch: raise the first `IncompleteOutput` / `SchemaValidationError` (default), or
        put the exception in that text's place and go on.

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
                         whitespace=whitespace, seed=seed, n_particles=n_particles,
                         progress=progress, on_error=on_error)
    if isinstance(r, list):
        return [x if isinstance(x, Exception) else x[0] for x in r]
    return r[0]


# -- streaming --------------------------------------------------------------------------------------

def completed_prefix(text: str):
    """The value made of the *completed* members of a JSON object or array prefix ``text``
    (members whose value is followed by ``,`` or the closing bracket), or None before the first
    one. ``text`` must be a prefix of valid JSON (what a JSON Schema constraint emits)."""
    i = 0
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    if i >= len(text) or text[i] not in "{[":
        return None
    closer = "}" if text[i] == "{" else "]"
    depth, in_str, esc, cut = 0, False, False, None
    for j in range(i, len(text)):
        ch = text[j]
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
            continue
        if ch == '"':
            in_str = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return json.loads(text[i:j + 1])
        elif ch == "," and depth == 1:
            cut = j
    if cut is None:
        return None
    return json.loads(text[i:cut] + closer)


def _partial_object(constraint, value):
    """A partial result: for a Pydantic model, ``model_construct`` of the completed fields (each
    validated on its own, so nested models are instances); otherwise the JSON value."""
    model = getattr(constraint, "model", None)
    if model is None or not isinstance(value, dict) or not hasattr(model, "model_fields"):
        return value
    import pydantic

    fields = {}
    by_alias = {(f.alias or n): n for n, f in model.model_fields.items()}
    for k, v in value.items():
        name = by_alias.get(k)
        if name is None:
            continue
        try:
            fields[name] = pydantic.TypeAdapter(model.model_fields[name].annotation).validate_python(v)
        except Exception:  # a field-level check the grammar cannot express: keep the raw value
            fields[name] = v
    return model.model_construct(**fields)


def extract_stream(model, tokenizer, text: str, schema, *, instructions: str | None = None,
                   max_new_tokens: int = 256, temperature: float = 0.3,
                   whitespace: str = "compact", seed=0):
    """Extract like `extract`, yielding partial results as fields complete.

    Yields a partial object (for a Pydantic model: ``Model.model_construct`` with the fields
    completed so far, ``model_fields_set`` tells which; for a JSON Schema: the dict or list of
    completed members) each time another member completes, then the validated final object.
    Decoding is LCD with one forward per token (the KV cache is kept).

    Raises
    ------
    IncompleteOutput
        The budget ran out first (after the partial results already yielded).
    SchemaValidationError
        As `extract`.
    """
    import numpy as np

    from .sampling import HFModel
    from .sampling.lcd import lcd_step

    constraint = _constraint(schema, whitespace)
    lm = HFModel(model, tokenizer, _messages(text, constraint.schema, instructions),
                 temperature=temperature)
    vocab = lm.vocab
    matcher = constraint.compile(vocab).matcher()
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    buf = np.zeros((1, vocab.words), dtype=np.int32)
    tokens: list[int] = []
    last_count = 0
    done = False
    for _ in range(max_new_tokens):
        row = lm.logprobs([tokens])[0]
        tok, _, _ = lcd_step(row, matcher, vocab, rng, buf)
        if tok < 0:
            break
        matcher.advance(tok)
        if vocab.is_eos(tok):
            done = True
            break
        tokens.append(tok)
        part = completed_prefix(vocab.decode(tokens).decode("utf-8", errors="ignore"))
        count = len(part) if isinstance(part, (dict, list)) else 0
        if count > last_count:
            last_count = count
            yield _partial_object(constraint, part)
    out = vocab.decode(tokens).decode("utf-8", errors="replace")
    if not done:
        raise IncompleteOutput(f"generation stopped after {max_new_tokens} tokens before the JSON "
                               f"value was complete (raise max_new_tokens)", text=out,
                               token_ids=tokens, index=None)
    try:
        yield constraint.parse(out)
    except Exception as e:
        errs = e.errors() if hasattr(e, "errors") else [str(e)]
        raise SchemaValidationError(f"the output matched the schema's grammar but failed "
                                    f"validation: {e}", text=out, errors=errs, index=None) from e
