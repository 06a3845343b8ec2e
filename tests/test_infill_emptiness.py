"""Completability of partial outputs (CFG ∩ regular emptiness) against brute force."""

from __future__ import annotations

import json
import random
import re

import pytest

from constrain import Grammar, LimitExceeded, Regex
from constrain.grammar.ir import CFG, Rule, Terminal
from constrain.infill import (END, Hole, InfillChecker, InfillLimits, Partial, completable,
                              example_completion)
from constrain.vocab import Vocabulary

# -- brute force -------------------------------------------------------------------------------

SMALL = {
    "null": ('start: "null"', "nul"),
    "kw": ('''
start: stmt+
stmt: "do" NAME ";" | NAME "=" NUM ";"
NAME: /[do]+/
NUM: /[01]+/
%ignore " "
''', "do01=; "),
    "strings": (r'''
start: "[" (STRING ("," STRING)*)? "]"
STRING: /"([a,\]]|\\")*"/
''', '[]",a\\'),
    "words": ('''
start: stmt+
stmt: "do" NAME ";" | NAME NUM ";"
NAME: /[do]+/
NUM: /[01]+/
_WORD_CHARS: /[do01]/
%ignore " "
''', "do01; "),
    "nest": ('''
start: a*
a: "(" a* ")" | "x"
''', "()x"),
}


def sentences(grammar: Grammar, alphabet: str, max_len: int) -> list[bytes]:
    """Every sentence of ``grammar`` over ``alphabet`` of at most ``max_len`` bytes (DFS over
    viable prefixes with the grammar's matcher)."""
    toks = [c.encode() for c in alphabet]
    vocab = Vocabulary.from_bytes([None] + toks, eos_ids=[0])
    m = grammar.compile(vocab).matcher()
    out: list[bytes] = []

    def dfs(prefix: bytes):
        if m.is_accepting():
            out.append(prefix)
        if len(prefix) == max_len:
            return
        for i, t in enumerate(toks, start=1):
            if m.allows(i):
                m.advance(i)
                dfs(prefix + t)
                m.rollback()

    dfs(b"")
    return out


def partial_regex(p: Partial) -> re.Pattern:
    parts = []
    for e in p.elements:
        if isinstance(e, bytes):
            parts.append(re.escape(e))
        else:
            parts.append(b".{%d,%s}" % (e.min_bytes, b"" if e.max_bytes is None else str(e.max_bytes).encode()))
    if not p.closed:
        parts.append(b".*")
    return re.compile(b"".join(parts), re.DOTALL)


def random_partial(rng: random.Random, s: bytes, bounded: bool) -> Partial:
    cuts = sorted(rng.sample(range(len(s) + 1), min(len(s) + 1, rng.randint(1, 4))))
    elems: list = []
    prev = 0
    for k, c in enumerate(cuts):
        seg = s[prev:c]
        if k % 2 == 0:
            elems.append(seg)
        else:
            if bounded:
                lo = rng.randint(0, len(seg))
                elems.append(Hole(max_bytes=len(seg) + rng.randint(0, 1), min_bytes=lo))
            else:
                elems.append(Hole(min_bytes=rng.choice([0, 0, len(seg)])))
        prev = c
    elems.append(s[prev:])
    if bounded or rng.random() < 0.6:
        elems.append(END)
    return Partial(elems)


def mutate(rng: random.Random, s: bytes, alphabet: str) -> bytes:
    s = bytearray(s)
    for _ in range(rng.randint(1, 2)):
        op = rng.random()
        c = ord(rng.choice(alphabet))
        i = rng.randint(0, len(s))
        if op < 0.4 or not s:
            s.insert(i, c)
        elif op < 0.7:
            s[min(i, len(s) - 1)] = c
        else:
            del s[min(i, len(s) - 1)]
    return bytes(s)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_against_brute_force(name):
    text, alphabet = SMALL[name]
    g = Grammar(text)
    max_len = 7
    sents = sentences(g, alphabet, max_len)
    assert sents
    rng = random.Random(hash(name) & 0xFFFF)
    n_true = n_false = 0
    for it in range(150):
        bounded = it % 2 == 0
        base = rng.choice(sents)
        if rng.random() < 0.5:
            base = mutate(rng, base, alphabet)[:max_len]
        p = random_partial(rng, base, bounded)
        got = completable(g, p)
        rx = partial_regex(p)
        brute = any(rx.fullmatch(s) for s in sents)
        total = sum(len(e) if isinstance(e, bytes) else e.max_bytes or 10**9 for e in p.elements)
        if bounded and p.closed and total <= max_len:
            assert got == brute, (p, got, brute)  # exact with bounded holes
        elif brute:
            assert got, p  # never a false refusal
        if got:
            ex = example_completion(g, p)
            assert ex is not None and g.accepts(ex) and rx.fullmatch(ex), (p, ex)
            n_true += 1
        else:
            assert example_completion(g, p) is None
            n_false += 1
    assert n_true > 10 and n_false > 10


# -- the known edge cases ------------------------------------------------------------------------

def test_null_pieces():
    g = Grammar('start: "null"')
    assert completable(g, Partial(["nu", Hole(), "ll", END]))
    assert example_completion(g, Partial(["nu", Hole(), "ll", END])) == b"null"
    assert not completable(g, Partial(["nul", Hole(), "ull", END]))
    assert not completable(g, Partial(["nul", Hole(), "ull"]))
    assert completable(g, Partial([Hole(), "ul", Hole(), END]))
    assert completable(g, Partial(["n", Hole(max_bytes=1), "ll", END]))
    assert not completable(g, Partial(["n", Hole(max_bytes=1), "l", END]))
    assert completable(g, Partial(["n", Hole(max_bytes=1, min_bytes=1), "ll", END]))
    assert not completable(g, Partial(["n", Hole(min_bytes=2), "ll", END]))
    assert completable(g, Partial([Hole(max_bytes=4), END]))
    assert not completable(g, Partial([Hole(max_bytes=3), END]))


@pytest.fixture(scope="module")
def json_g():
    return Grammar.load("json")


def test_json_string_split_across_hole(json_g):
    p = Partial(['{"ke', Hole(), 'y": [1, 2', Hole(), END])
    assert completable(json_g, p)
    ex = example_completion(json_g, p)
    assert json_g.accepts(ex) and ex.startswith(b'{"ke') and b'y": [1, 2' in ex
    json.loads(ex)
    # a piece that is inside a string on one side and structure on the other
    assert completable(json_g, Partial(['["a', Hole(), '", "b"]', END]))
    assert completable(json_g, Partial(['[', Hole(), '":"', Hole(), ']', END]))
    assert not completable(json_g, Partial(['{"a"', Hole(max_bytes=0), '1}', END]))
    assert completable(json_g, Partial(['{"a"', Hole(max_bytes=1), '1}', END]))
    assert not completable(json_g, Partial(['[1,', Hole(), '"x', Hole(), '}', END]))


def test_json_bounded_holes_exact(json_g):
    assert completable(json_g, Partial(["tr", Hole(max_bytes=1), "e", END]))
    assert not completable(json_g, Partial(["tr", Hole(max_bytes=1, min_bytes=1), "ue", END]))
    assert not completable(json_g, Partial(['{"a": ', Hole(max_bytes=3), "]", END]))
    assert completable(json_g, Partial(['{"a": ', Hole(max_bytes=1, min_bytes=1), "}", END]))
    assert not completable(json_g, Partial(['{"a": ', Hole(max_bytes=0), "}", END]))
    # whitespace may pad a hole with a minimum
    assert completable(json_g, Partial(['[1', Hole(min_bytes=5, max_bytes=5), ']', END]))


def test_utf8_split(json_g):
    # é = c3 a9 split across two pieces (tokens)
    assert completable(json_g, Partial([b'["\xc3', Hole(max_bytes=0), b'\xa9"]', END]))
    assert not completable(json_g, Partial([b'["\xc3', Hole(max_bytes=1, min_bytes=1), b'\xa9"]', END]))
    assert completable(json_g, Partial([b'["\xc3', Hole(max_bytes=1, min_bytes=1), b'"]', END]))
    assert not completable(json_g, Partial([b'["\xc3"]', END]))
    vocab = Vocabulary.from_bytes([None, None, b'["', b"\xc3", b"\xa9", b'"]', b"x"], eos_ids=[1])
    p = Partial.from_tokens([2, 3, 0, 5], mask_id=0, vocab=vocab)
    assert completable(json_g, p)  # the mask can be \xa9
    ex = example_completion(json_g, p)
    assert json_g.accepts(ex) and len(ex) == 6


def test_keyword_identifier_prefix():
    g = Grammar('''
start: stmt*
stmt: "for" "(" ")" ";" | NAME ";"
NAME: /[a-z]+/
%ignore " "
''')
    assert completable(g, Partial(["for", Hole(max_bytes=3, min_bytes=3), ";", END]))  # "format;"/"for();"
    assert completable(g, Partial(["fo", Hole(max_bytes=1), "mat;", END]))  # identifier "format"
    assert not completable(g, Partial(["fo", Hole(max_bytes=1, min_bytes=1), "mat(", END]))
    assert completable(g, Partial(["fo", Hole(max_bytes=1, min_bytes=1), "();", END]))
    assert not completable(g, Partial(["format", Hole(max_bytes=0), "();", END]))
    assert not completable(g, Partial(["format", Hole(max_bytes=3), "();", END]))
    assert completable(g, Partial(["format", Hole(max_bytes=4), "();", END]))  # "format;for();"
    ex = example_completion(g, Partial(["format", Hole(max_bytes=4), "();", END]))
    assert g.accepts(ex)


def test_regex_and_cfg_constraints():
    r = Regex(r"[a-z]+@[a-z]+\.com")
    assert completable(r, Partial(["ab", Hole(), ".com", END]))
    assert not completable(r, Partial(["ab", Hole(), ".org", END]))
    assert completable(r, Partial(["a", Hole(max_bytes=2, min_bytes=2), "b.com", END]))
    assert not completable(r, Partial(["a", Hole(max_bytes=1, min_bytes=1), ".com", END]))
    assert r.fullmatch(example_completion(r, Partial([Hole(), "@", Hole(), END])))
    cfg = CFG(start="S", rules=(Rule("S", ("A", "S", "B")), Rule("S", ())),
              terminals={"A": Terminal("A", "a", literal="a"), "B": Terminal("B", "b", literal="b")})
    assert completable(cfg, Partial(["aa", Hole(), "b", END]))
    assert not completable(cfg, Partial(["aa", Hole(max_bytes=0), "b", END]))
    assert example_completion(cfg, Partial(["aa", Hole(), "b", END])) == b"aabb"
    assert completable(cfg, Partial([END]))


def test_attached_methods(json_g, tiny_vocab):
    assert json_g.completable(Partial(["[", Hole(), "]", END]))
    compiled = Regex("ab+").compile(tiny_vocab)
    assert compiled.completable(Partial(["a", Hole(), END]))
    assert compiled.example_completion(Partial([Hole(), "b", END])) == b"ab"


def test_limits(json_g):
    p = Partial(["[", Hole(), "1", Hole(), "]", END])
    with pytest.raises(LimitExceeded):
        completable(json_g, p, limits=InfillLimits(max_triples=10))
    with pytest.raises(LimitExceeded):
        completable(json_g, Partial(["[", Hole(max_bytes=500), "]", END]), limits=InfillLimits(max_states=100))


def _doc(rng, depth=0):
    r = rng.random()
    if depth > 3 or r < 0.3:
        return rng.choice([rng.randint(-1000, 10**6), "s\u00e9" + str(rng.random())[:5], True, None, 2.5e-3])
    if r < 0.65:
        return [_doc(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {f"k{i}": _doc(rng, depth + 1) for i in range(rng.randint(0, 4))}


def test_json_pieces_of_real_documents(json_g):
    rng = random.Random(5)
    for _ in range(40):
        s = json.dumps(_doc(rng), indent=rng.choice([None, 1]), ensure_ascii=False).encode()
        p = random_partial(rng, s, bounded=rng.random() < 0.5)
        assert completable(json_g, p), p  # pieces of a real document: always completable
        ex = example_completion(json_g, p)
        json.loads(ex)
        assert partial_regex(p).fullmatch(ex)
        q = random_partial(rng, mutate(rng, s, '{}[]":,1a '), bounded=False)
        if completable(json_g, q):
            ex = example_completion(json_g, q)
            assert json_g.accepts(ex) and partial_regex(q).fullmatch(ex)


def test_checker_allows_commit(json_g):
    vocab = Vocabulary.from_bytes([None, None, b"[", b"]", b"1", b",", b" ", b"{", b'"', b"\xc3", b"\xa9"],
                                  eos_ids=[1])
    ch = InfillChecker(json_g, vocab, 6)
    assert ch.allows(0, 2) and not ch.allows(0, 3) and not ch.allows(0, 5)
    ch.commit(0, 2)
    assert not ch.allows(1, 1)  # "[" then EOS
    assert ch.allows(5, 3) and ch.allows(2, 5)
    ch.commit(5, 3)
    assert not ch.allows(1, 3) and ch.allows(1, 4)  # "[]" then 4 masks then "]"? no: "[" ? ? ? ? "]"
    ch.commit(1, 8)   # '["'
    assert ch.allows(2, 9) and ch.allows(3, 10)
    ch.commit(2, 9)
    assert not ch.allows(3, 8)  # '"\xc3"' is invalid UTF-8
    ch.commit(3, 10)
    assert ch.allows(4, 8) and ch.allows(4, 1) is False
    hits = ch.stats["cache_hits"]
    assert ch.allows(4, 8) and ch.stats["cache_hits"] == hits + 1
    ch.commit(4, 8)
    assert ch.is_complete() and json_g.accepts(ch.text())
    # EOS ends the output; later positions only take EOS
    ch2 = InfillChecker(json_g, vocab, 6)
    ch2.commit(0, 4)
    assert ch2.allows(1, 1)
    ch2.commit(1, 1)
    assert ch2.allows(3, 1) and not ch2.allows(3, 4)
    assert ch2.text() == b"1" and ch2.is_complete()


def test_json_schema_completable():
    """JSON Schema constraints compile to grammars, so infilling checks work on them too."""
    import constrain as cn

    s = cn.JsonSchema({"type": "object", "properties": {"age": {"type": "integer"}},
                       "required": ["age"], "additionalProperties": False})
    assert s.completable(cn.Partial(['{"age":', cn.Hole(), "}", cn.END]))
    assert not s.completable(cn.Partial(['{"age":"', cn.Hole(), "}", cn.END]))
    done = s.example_completion(cn.Partial(['{"a', cn.Hole(), cn.END]))
    assert done is not None and s.accepts(done.decode())
