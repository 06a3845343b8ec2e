"""SGLang grammar backend (written against SGLang 0.5.23's ``base_grammar_backend``; UNTESTED end to
end: SGLang's wheel needs CUDA, so it does not run on the CPU machines this project is tested on).

Register it with ``register()`` (done by the ``sglang.srt.plugins`` entry point that installing
constrain declares) and start SGLang with ``--grammar-backend constrain``. Requests use SGLang's own
``json_schema`` / ``regex`` / ``ebnf`` sampling parameters; ``ebnf`` text is read as Lark grammar
text, or names a grammar shipped with constrain (``"json"``, ``"sqlite"``).

Masks are constrain's int32 bitmask (xgrammar's layout), filled on the host and applied with
`constrain.apply_mask` on the logits' device. Jump-forward uses `Matcher.forced_bytes`.
"""

from __future__ import annotations

import logging

import torch

from sglang.srt.constrained.base_grammar_backend import (  # noqa: E402 - needs SGLang
    BaseGrammarBackend, BaseGrammarObject, InvalidGrammarObject, register_grammar_backend)

__all__ = ["ConstrainGrammar", "ConstrainGrammarBackend", "register"]

log = logging.getLogger(__name__)
BACKEND_NAME = "constrain"


class ConstrainGrammar(BaseGrammarObject):
    """One request's grammar state: a constrain `Matcher`."""

    def __init__(self, matcher, eos_ids: frozenset[int]):
        super().__init__()
        self.matcher = matcher
        self.eos_ids = eos_ids
        self._ended = False

    def accept_token(self, token: int) -> None:
        self.matcher.advance(int(token))
        if int(token) in self.eos_ids:
            self._ended = True

    def rollback(self, k: int) -> None:
        self.matcher.rollback(k)
        if k:
            self._ended = False  # an accepted stop token is always the last one

    def is_terminated(self) -> bool:
        """SGLang's sense: the request may stop (a stop token was accepted)."""
        return self._ended

    def allocate_vocab_mask(self, vocab_size: int, batch_size: int, device) -> torch.Tensor:
        return torch.zeros((batch_size, (vocab_size + 31) // 32), dtype=torch.int32, device="cpu")

    def fill_vocab_mask(self, vocab_mask: torch.Tensor, idx: int) -> None:
        self.matcher.fill_mask(vocab_mask, idx)

    @staticmethod
    def reset_vocab_mask(vocab_mask: torch.Tensor) -> None:
        vocab_mask.fill_(-1)

    @staticmethod
    def move_vocab_mask(vocab_mask: torch.Tensor, device) -> torch.Tensor:
        return vocab_mask.to(device, non_blocking=True)

    @staticmethod
    def apply_vocab_mask(logits: torch.Tensor, vocab_mask: torch.Tensor) -> None:
        from ..bitmask import apply_mask

        apply_mask(logits, vocab_mask)

    def copy(self) -> "ConstrainGrammar":
        return ConstrainGrammar(self.matcher.fork(), self.eos_ids)

    def try_jump_forward(self, tokenizer):
        data = self.matcher.forced_bytes()
        text = _complete_utf8(data)
        return ([], text) if text else None

    def jump_forward_str_state(self, helper):
        return helper[1], -1

    def jump_and_retokenize(self, old_output_ids, new_output_ids, next_state) -> None:
        k = 0
        while k < min(len(old_output_ids), len(new_output_ids)) and old_output_ids[k] == new_output_ids[k]:
            k += 1
        self.matcher.rollback(len(old_output_ids) - k)
        self.matcher.advance_many(new_output_ids[k:])


def _complete_utf8(data: bytes) -> str:
    """The longest prefix of ``data`` that is whole UTF-8 characters, decoded."""
    for cut in range(len(data), max(len(data) - 4, -1), -1):
        try:
            return data[:cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
    return ""


class ConstrainGrammarBackend(BaseGrammarBackend):
    """``dispatch_json`` / ``dispatch_regex`` / ``dispatch_ebnf`` compile through the compile cache
    (and the disk cache when ``CONSTRAIN_CACHE_DIR`` is set); a bad spec fails only its request."""

    def __init__(self, tokenizer, vocab_size: int, eos_token_ids=None):
        super().__init__()
        from ..vocab import Vocabulary

        eos = sorted(int(e) for e in (eos_token_ids or [])) or None
        self.vocab = Vocabulary.from_hf(tokenizer, size=max(int(vocab_size), len(tokenizer)), eos_ids=eos)
        self.eos_ids = frozenset(int(e) for e in self.vocab.eos_ids)

    def _compile(self, spec) -> BaseGrammarObject:
        from .spec import compile_spec

        try:
            return ConstrainGrammar(compile_spec(spec, self.vocab).matcher(), self.eos_ids)
        except ValueError as e:
            log.warning("constrain: %s", e)
            return InvalidGrammarObject(str(e))

    def dispatch_json(self, key_string: str) -> BaseGrammarObject:
        return self._compile({"json_schema": key_string})

    def dispatch_regex(self, key_string: str) -> BaseGrammarObject:
        return self._compile({"regex": key_string})

    def dispatch_ebnf(self, key_string: str) -> BaseGrammarObject:
        return self._compile({"grammar": key_string})

    def dispatch_structural_tag(self, key_string: str) -> BaseGrammarObject:
        return self._not_supported("structural_tag", key_string)


def _init_backend(server_args, tokenizer, vocab_size, eos_token_ids):
    return ConstrainGrammarBackend(tokenizer, vocab_size, eos_token_ids)


def register() -> None:
    """Register the backend under ``--grammar-backend constrain`` (the entry point calls this)."""
    register_grammar_backend(BACKEND_NAME, _init_backend)
    try:
        from sglang.srt.server_args import add_grammar_backend_choices

        add_grammar_backend_choices([BACKEND_NAME])
    except ImportError:  # pragma: no cover - older SGLang
        pass
