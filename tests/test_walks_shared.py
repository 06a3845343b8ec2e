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
        assert shared.singles and shared.unions and shared.joints
        book_alone = len(shared.singles)
        shared.clear()
        _masks(FILM, '{"name":"Alien","runtime":117,"rating":8.5}', smollm2_tokenizer, vocab)
        from_film = len(shared.singles)
        warm = _masks(BOOK, text, smollm2_tokenizer, vocab)  # string, integer, ws walks: the film's
        assert len(shared.singles) - from_film < book_alone  # some of the film's walks were used
        assert all(np.array_equal(a, b) for a, b in zip(cold, warm))
        sizes = len(shared.singles), len(shared.unions), len(shared.joints)
        again = _masks(BOOK, text, smollm2_tokenizer, vocab)  # a fresh engine: every walk shared
        assert (len(shared.singles), len(shared.unions), len(shared.joints)) == sizes
        assert all(np.array_equal(a, b) for a, b in zip(cold, again))
    finally:
        shared.restore(saved)


def test_every_joint_walk_served_is_the_walk_of_its_states(smollm2_tokenizer, smollm2_vocab,
                                                            monkeypatch):
    """Each walk `Walker._joint_walk` returns (shared by start nodes and the shapes of the lexer
    state's DFA states) equals the kernel's walk of that very lexer state, over the masks of SQL
    queries and JSON documents on two grammars each (so keys made by one grammar serve another)."""
    from constrain.grammar.api import Grammar

    vocab = smollm2_vocab
    served = []
    joint = walks.Walker._joint_walk

    def checked(self, vocab, L, starts, nn):
        got = joint(self, vocab, L, starts, nn)
        served.append((self, L, starts.copy(), nn, got))
        return got

    monkeypatch.setattr(walks.Walker, "_joint_walk", checked)
    monkeypatch.setattr(walks, "_shared_walks", lambda trie, _t=walks._SharedWalks(): _t)
    cases = [("sqlite", ["SELECT name , count(*) FROM singer WHERE age > 20 GROUP BY name",
                         "select T1.a from t AS T1 join u on T1.b = u.c order by a desc limit 3"]),
             ("json", ['{"a": [1, -2.5e3, true], "bc": {"d": null, "e": "x y"}}', '[{"k": "v"}, 12]'])]
    for name, texts in cases:
        for _ in range(2):  # a second engine of the grammar: its walks come from the first's
            c = Grammar.load(name).compile(vocab, cache=False)
            buf = np.zeros((1, vocab.words), dtype=np.int32)
            for text in texts:
                m = c.matcher()
                for t in [*smollm2_tokenizer.encode(text, add_special_tokens=False), None]:
                    m.fill_mask(buf, 0)
                    if t is not None:
                        m.advance(t)
    assert len(served) > 100 and sum(len(x[1]) > 1 for x in served) > 20
    for walker, L, starts, nn, (row, cn, codes) in served:
        ref_row, ref_cn, ref_codes = walker._walk_kernel(vocab.trie, np.asarray(L, dtype=np.int32),
                                                         starts, nn, vocab.words)
        assert np.array_equal(row, ref_row) and np.array_equal(cn, ref_cn)
        assert np.array_equal(np.asarray(codes), np.asarray(ref_codes))
