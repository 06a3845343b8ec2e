"""constrain: make language models emit output that provably matches a constraint.

Pipeline: a constraint (``Regex``, ``Grammar``, ``JsonSchema``, ``Items``) compiles against a
``Vocabulary`` into a ``CompiledConstraint``; each sequence gets a ``Matcher`` that answers
``allows``/``fill_mask`` and consumes tokens with ``advance``; masks use the standard int32 bitmask
layout (``apply_mask``). Samplers (``sample``, ``generate``: LCD, AWRS, AWRS-SMC), the HF
``LogitsProcessor``, infilling (``infill``, ``diffusion_generate``) and ``beam_search`` use only the
Matcher contract.

Names are imported lazily at run time, so ``import constrain`` does not import torch or numba;
type checkers and IDEs read the explicit imports under ``TYPE_CHECKING`` below.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .errors import ConstraintError, InvalidSyntax, LimitExceeded, TokenRejected, UnsupportedFeature

if TYPE_CHECKING:
    from .vocab import Vocabulary, vocabulary_for, default_eos_ids
    from .regex.api import Regex, RegexLimits
    from .matcher import CompiledConstraint, Matcher, Constraint
    from .bitmask import apply_mask, allocate_bitmask, bitmask_to_bool, bool_to_bitmask
    from .hf import LogitsProcessor
    from .sampling import sample, generate, HFModel, SampleResult, SamplingStats, LanguageModel, AWRSConfig
    from .grammar.api import Grammar, GrammarLimits
    from .sql import sql_grammar, sql_grammar_text
    from .grammar.lark_frontend import lark_to_cfg
    from .grammar.gbnf import gbnf_to_cfg
    from .infill import Partial, Hole, END, completable, example_completion, InfillChecker, InfillLimits
    from .infill.diffusion import diffusion_generate, DiffusionResult
    from .infill.autoregressive import infill, InfillResult
    from .schema.api import JsonSchema
    from .extract import extract, extract_with_raw
    from .schema.errors import IncompleteOutput, SchemaValidationError
    from .items import Items, CompiledItems, ItemsMatcher
    from .beam import beam_search, BeamResult
    from .choice import Choice
    from .compose import Literal, Sequence, OneOf
    from .tagged import Tag, Tagged
    from .reasoning import Reasoning
    from .tools import ToolCalls, ToolCall, ToolFormat
    from .extract import extract_stream
    from .outcome import Outcome
    from .sampling.api import Generation

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "Vocabulary": ".vocab",
    "vocabulary_for": ".vocab",
    "default_eos_ids": ".vocab",
    "Regex": ".regex.api",
    "RegexLimits": ".regex.api",
    "CompiledConstraint": ".matcher",
    "Matcher": ".matcher",
    "Constraint": ".matcher",
    "apply_mask": ".bitmask",
    "allocate_bitmask": ".bitmask",
    "bitmask_to_bool": ".bitmask",
    "bool_to_bitmask": ".bitmask",
    "LogitsProcessor": ".hf",
    "sample": ".sampling",
    "generate": ".sampling",
    "HFModel": ".sampling",
    "SampleResult": ".sampling",
    "SamplingStats": ".sampling",
    "LanguageModel": ".sampling",
    "AWRSConfig": ".sampling",
    "Grammar": ".grammar.api",
    "GrammarLimits": ".grammar.api",
    "sql_grammar": ".sql",
    "sql_grammar_text": ".sql",
    "lark_to_cfg": ".grammar.lark_frontend",
    "gbnf_to_cfg": ".grammar.gbnf",
    "Partial": ".infill",
    "Hole": ".infill",
    "END": ".infill",
    "completable": ".infill",
    "example_completion": ".infill",
    "InfillChecker": ".infill",
    "InfillLimits": ".infill",
    "diffusion_generate": ".infill.diffusion",
    "DiffusionResult": ".infill.diffusion",
    "infill": ".infill.autoregressive",
    "InfillResult": ".infill.autoregressive",
    "JsonSchema": ".schema.api",
    "extract": ".extract",
    "extract_with_raw": ".extract",
    "IncompleteOutput": ".schema.errors",
    "SchemaValidationError": ".schema.errors",
    "Items": ".items",
    "CompiledItems": ".items",
    "ItemsMatcher": ".items",
    "beam_search": ".beam",
    "BeamResult": ".beam",
    "Choice": ".choice",
    "Literal": ".compose",
    "Sequence": ".compose",
    "OneOf": ".compose",
    "Tag": ".tagged",
    "Tagged": ".tagged",
    "Reasoning": ".reasoning",
    "ToolCalls": ".tools",
    "ToolCall": ".tools",
    "ToolFormat": ".tools",
    "extract_stream": ".extract",
    "Outcome": ".outcome",
    "Generation": ".sampling.api",
}

__all__ = ["ConstraintError", "InvalidSyntax", "LimitExceeded", "TokenRejected",
           "UnsupportedFeature", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'constrain' has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
