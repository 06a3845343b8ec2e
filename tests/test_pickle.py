"""Constraint specs, compiled constraints, matchers and vocabularies pickle; masks are equal after a
round trip (checked against the original on every state a walk reaches)."""

from __future__ import annotations

import pickle
import re

import numpy as np
import pytest

import constrain as cn
from constrain.bitmask import allocate_bitmask
from constrain.native import earley_kernels

SCHEMA = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 8},
                                           "age": {"type": "integer"}},
          "required": ["name", "age"]}


def _specs(vocab):
    a, b = [i for i, t in enumerate(vocab.token_bytes) if t and t.isalpha() and i > 300][:2]
    return {
        "regex": cn.Regex(r"[a-z]{2,5}( [0-9]+)?"),
        "regex_lazy": cn.Regex(r"(ab|cd)*[0-9]{1,3}x", eager=False),
        "schema": cn.JsonSchema(SCHEMA),
        "grammar": cn.Grammar.load("json"),
        "items": cn.Items([[a, b], [b]]),
    }


def _walk_ids(compiled, text: bytes, vocab):
    """Greedy token ids spelling ``text`` (longest allowed token first) from the start."""
    m = compiled.matcher()
    ids = []
    pos = 0
    by_bytes = {}
    for i, t in enumerate(vocab.token_bytes):
        if t and i not in set(vocab.eos_ids.tolist()):
            by_bytes.setdefault(t, i)
    while pos < len(text):
        for k in range(min(8, len(text) - pos), 0, -1):
            i = by_bytes.get(text[pos:pos + k])
            if i is not None and m.allows(i):
                break
        else:
            raise AssertionError(f"no token for {text[pos:]!r}")
        m.advance(i)
        ids.append(i)
        pos += k
    return ids


def _masks_along(compiled, ids, vocab):
    m = compiled.matcher()
    out = []
    for t in [None, *ids]:
        if t is not None:
            m.advance(t)
        buf = allocate_bitmask(1, vocab.size)
        m.fill_mask(buf, 0)
        out.append(np.asarray(buf).copy())
    return out


TEXTS = {"regex": b"abc 12", "regex_lazy": b"abcd12x", "schema": b'{"name":"Ann","age":41}',
         "grammar": b'{"a": [1, 2.5, "x"]}'}


def test_vocabulary_round_trip(smollm2_vocab):
    v2 = pickle.loads(pickle.dumps(smollm2_vocab))
    assert v2.fingerprint == smollm2_vocab.fingerprint
    assert v2.token_bytes == smollm2_vocab.token_bytes
    assert v2.eos_ids.tolist() == smollm2_vocab.eos_ids.tolist()


@pytest.mark.parametrize("kind", ["regex", "regex_lazy", "schema", "grammar", "items"])
def test_compiled_and_matcher_round_trip(kind, smollm2_vocab):
    vocab = smollm2_vocab
    spec = _specs(vocab)[kind]
    compiled = spec.compile(vocab, cache=False)
    if kind == "items":
        ids = list(spec.data[0][: spec.lengths[0]])
    else:
        ids = _walk_ids(compiled, TEXTS[kind], vocab)
    before = _masks_along(compiled, ids, vocab)
    # the compiled constraint, a mid-sequence matcher and the spec itself all round-trip
    c2 = pickle.loads(pickle.dumps(compiled))
    n_feed_types = len(earley_kernels.feed.signatures)
    assert _masks_equal(before, _masks_along(c2, ids, vocab2 := c2.vocab))
    # and feed the parser arrays of the types it was compiled for: a new numba specialisation
    # would be compiled inside the first feed's time budget (an unpickled array is writeable)
    assert len(earley_kernels.feed.signatures) == n_feed_types
    assert vocab2.fingerprint == vocab.fingerprint
    m = compiled.matcher()
    m.advance_many(ids[:1])
    m2 = pickle.loads(pickle.dumps(m))
    assert m2.num_tokens == 1
    buf = allocate_bitmask(1, vocab.size)
    m2.fill_mask(buf, 0)
    assert np.array_equal(np.asarray(buf), before[1])
    m2.advance_many(ids[1:])
    assert m2.is_accepting()
    s2 = pickle.loads(pickle.dumps(spec))
    assert _masks_equal(before, _masks_along(s2.compile(vocab, cache=False), ids, vocab))


def _masks_equal(a, b) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_unpickled_grammar_keeps_accepting(smollm2_vocab):
    g = pickle.loads(pickle.dumps(cn.JsonSchema(SCHEMA)))
    assert g.accepts('{"name":"Bo","age":3}')
    assert not g.accepts('{"name":"Bo"}')
    r = pickle.loads(pickle.dumps(cn.Regex(r"\d+-[a-z]+")))
    assert r.fullmatch("12-ab") and not r.fullmatch("12-")
    assert re.fullmatch(r"\d+-[a-z]+", "12-ab")
