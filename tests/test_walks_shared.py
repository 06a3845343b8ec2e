"""Trie walks shared between grammars (`constrain.grammar.walks.shared_walks`): a grammar that
finds its lexer states' walks made by other grammars has the same masks as with none shared,
and does not walk them again."""

from __future__ import annotations

import numpy as np

from constrain.grammar import walks
from constrain.grammar.walks import shared_walks
from constrain.schema import JsonSchema

BOOK = {"type": "object", "properties": {"title": {"type": "string"}, "year": {"type": "integer"},
                                         "tags": {"type": "array", "items": {"type": "string"}}},
        "required": ["title", "year"], "additionalProperties": False}
FILM = {"type": "object", "properties": {"name": {"type": "string"}, "runtime": {"type": "integer"},
                                         "rating": {"type": "number"}},
        "required": ["name"], "additionalProperties": False}


def _masks(schema, text: str, tokenizer, vocab) -> list:
    m = JsonSchema(schema).compile(vocab, cache=False).matcher()
    buf = np.zeros((1, vocab.words), dtype=np.int32)
    out = []
    for t in [*tokenizer.encode(text, add_special_tokens=False), None]:
        m.fill_mask(buf, 0)
        out.append(buf[0].copy())
        if t is not None:
            m.advance(t)
    return out


def test_shared_walks_give_the_masks_of_cold_ones(smollm2_tokenizer, smollm2_vocab, monkeypatch):
    vocab = smollm2_vocab
    text = '{"title":"Dune","year":1965,"tags":["sf","epic"]}'
    with monkeypatch.context() as mp:  # the reference: every walk made anew, nothing shared
        mp.setattr(walks, "_shared_walks", lambda trie: walks._SharedWalks())
        ref = _masks(BOOK, text, smollm2_tokenizer, vocab)
    shared = shared_walks(vocab)
    saved = shared.snapshot()
    try:
        shared.clear()
        cold = _masks(BOOK, text, smollm2_tokenizer, vocab)
        assert all(np.array_equal(a, b) for a, b in zip(ref, cold))
        assert shared.singles and shared.unions
        book_alone = len(shared.singles)
        shared.clear()
        _masks(FILM, '{"name":"Alien","runtime":117,"rating":8.5}', smollm2_tokenizer, vocab)
        from_film = len(shared.singles)
        warm = _masks(BOOK, text, smollm2_tokenizer, vocab)  # string, integer, ws walks: the film's
        assert len(shared.singles) - from_film < book_alone  # some of the film's walks were used
        assert all(np.array_equal(a, b) for a, b in zip(cold, warm))
        n_single, n_union = len(shared.singles), len(shared.unions)
        again = _masks(BOOK, text, smollm2_tokenizer, vocab)  # a fresh engine: every walk shared
        assert (len(shared.singles), len(shared.unions)) == (n_single, n_union)
        assert all(np.array_equal(a, b) for a, b in zip(cold, again))
    finally:
        shared.restore(saved)
