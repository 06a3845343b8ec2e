"""constrain: make language models emit output that provably matches a constraint.

Pipeline: a constraint (``Regex``, ``Grammar``, ``Items``) compiles against a ``Vocabulary`` into a
``CompiledConstraint``; each sequence gets a ``Matcher`` that answers ``allows``/``fill_mask`` and
consumes tokens with ``advance``; masks use the standard int32 bitmask layout (``apply_mask``).
Samplers (``sample``, ``generate``: LCD, AWRS, AWRS-SMC) and the HF ``LogitsProcessor`` use only
the Matcher contract.

Names are imported lazily, so ``import constrain`` does not import torch or numba.
"""

from importlib import import_module

from .errors import ConstraintError, InvalidSyntax, LimitExceeded, TokenRejected, UnsupportedFeature

__version__ = "0.1.0"

_LAZY = {
    "Vocabulary": ".vocab",
    "Regex": ".regex.api", "RegexLimits": ".regex.api",
    "CompiledConstraint": ".matcher", "Matcher": ".matcher", "Constraint": ".matcher",
    "apply_mask": ".bitmask", "allocate_bitmask": ".bitmask",
    "bitmask_to_bool": ".bitmask", "bool_to_bitmask": ".bitmask",
    "LogitsProcessor": ".hf",
    "sample": ".sampling", "generate": ".sampling", "HFModel": ".sampling",
    "SampleResult": ".sampling", "SamplingStats": ".sampling", "LanguageModel": ".sampling",
    "AWRSConfig": ".sampling",
    "Grammar": ".grammar.api", "GrammarLimits": ".grammar.api",
    "sql_grammar": ".grammar.sql", "lark_to_cfg": ".grammar.lark_frontend",
    "gbnf_to_cfg": ".grammar.gbnf",
    "Partial": ".infill", "Hole": ".infill", "END": ".infill",
    "completable": ".infill", "example_completion": ".infill",
    "InfillChecker": ".infill", "InfillLimits": ".infill",
    "diffusion_generate": ".infill", "infill": ".infill",
    "JsonSchema": ".schema.api", "extract": ".extract", "extract_with_raw": ".extract",
    "IncompleteOutput": ".schema.errors", "SchemaValidationError": ".schema.errors",
    "Items": ".items", "CompiledItems": ".items", "ItemsMatcher": ".items",
    "beam_search": ".beam", "BeamResult": ".beam",
    "Choice": ".choice", "Literal": ".compose", "Sequence": ".compose", "OneOf": ".compose",
    "Tag": ".tagged", "Tagged": ".tagged", "Reasoning": ".reasoning",
    "ToolCalls": ".tools", "ToolCall": ".tools", "ToolFormat": ".tools",
    "extract_stream": ".extract", "Outcome": ".outcome", "Generation": ".sampling.api",
}

__all__ = ["ConstraintError", "InvalidSyntax", "LimitExceeded", "TokenRejected",
           "UnsupportedFeature", *_LAZY]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'constrain' has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
