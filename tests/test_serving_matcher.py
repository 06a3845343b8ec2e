"""Matcher API for servers: validate_tokens (speculative decoding), forced_bytes / forced_tokens
(jump-forward), checked against brute force over the vocabulary."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import constrain as cn

WORDS = [b"a", b"b", b"ab", b"{", b"}", b'"', b":", b",", b"1", b"12", b"x", b"name", b'{"', b'":', b" "]


@pytest.fixture(scope="module")
def vocab():
    return cn.Vocabulary.from_bytes([None, *WORDS], eos_ids=[0], size=20)


def _specs():
    return [cn.Regex(r"(ab|1)+x"), cn.Regex(r'\{"name":(1|12)\}'),
            cn.JsonSchema({"type": "object", "properties": {"name": {"type": "integer"}},
                           "required": ["name"], "additionalProperties": False}),
            cn.Grammar('start: "{" ITEM ("," ITEM)* "}"\nITEM: "a" | "b"')]


def _state(m):
    buf = cn.allocate_bitmask(1, m.vocab.size)
    m.fill_mask(buf, 0)
    return m.num_tokens, np.asarray(buf).copy()


@pytest.mark.parametrize("k", range(4))
def test_validate_tokens_is_longest_prefix_and_keeps_state(k, vocab):
    compiled = _specs()[k].compile(vocab)
    ids = list(range(vocab.size))
    for seq in itertools.islice(itertools.product(ids, repeat=3), 0, None, 37):
        m = compiled.matcher()
        before = _state(m)
        n = m.validate_tokens(seq)
        after = _state(m)
        assert before[0] == after[0] and np.array_equal(before[1], after[1])
        ref = compiled.matcher()
        expect = 0
        for t in seq:
            if not ref.allows(t):
                break
            ref.advance(t)
            expect += 1
        assert n == expect, (seq, n, expect)


BYTE_VOCAB = cn.Vocabulary.from_bytes([None, *(bytes([b]) for b in range(256))], eos_ids=[0])


def _brute_forced(spec, vocab, prefix_ids, limit=64) -> bytes:
    """Reference by masks over a one-byte-per-token vocabulary: while the full mask allows
    exactly one byte and no EOS, that byte is forced."""
    m = spec.compile(BYTE_VOCAB).matcher()
    for b in vocab.decode(prefix_ids):
        m.advance(b + 1)
    out = b""
    while len(out) < limit:
        allowed = m.allowed_tokens().tolist()
        if len(allowed) != 1 or allowed[0] == 0:
            break
        out += bytes([allowed[0] - 1])
        m.advance(allowed[0])
    return out


@pytest.mark.parametrize("k,prefix", [(1, []), (1, [13]), (2, []), (2, [4]), (3, []), (0, [])])
def test_forced_bytes_match_brute_force(k, prefix, vocab):
    compiled = _specs()[k].compile(vocab)
    m = compiled.matcher()
    m.advance_many(prefix)
    before = _state(m)
    forced = m.forced_bytes()
    assert _state(m)[0] == before[0]
    assert forced == _brute_forced(_specs()[k], vocab, prefix)
    if k == 1 and not prefix:
        assert forced == b'{"name":1'  # both 1 and 12 start with 1


def test_forced_tokens_item_set(vocab):
    items = cn.Items([[4, 12, 14], [4, 12, 9]])
    m = items.compile(vocab).matcher()
    assert m.forced_tokens() == [4, 12]
    assert m.num_tokens == 0
    assert m.forced_bytes() == b""  # token-level constraint: no byte forcing
