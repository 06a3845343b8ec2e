"""The grammar engine: a byte-level Earley recognizer over terminal DFAs, its masks and matcher.

* acceptance equals lark's Earley parser (``lexer="dynamic_complete"``) on random and mutated
  sentences of hand-written hard grammars (ambiguous, left/right-recursive, nullable-heavy,
  non-LALR(1), keywords versus identifiers, ignored terminals);
* masks equal brute force (feed every token's bytes) over the whole SmolLM2 vocabulary at several
  steps of JSON and SQL-like sentences;
* rollback / fork, EOS semantics, limits, and generation with SmolLM2 under a JSON grammar.
"""

from __future__ import annotations

import dataclasses
import json
import random
import re

import numpy as np
import pytest

import constrain as cn
from constrain.bitmask import bitmask_to_bool
from constrain.errors import InvalidSyntax, LimitExceeded, TokenRejected
from constrain.grammar.api import CompiledGrammar, Grammar, GrammarLimits, GrammarMatcher
from constrain.grammar.ir import CFG, Rule, Terminal
from constrain.grammar.testing import (AllSplitsRecognizer, lark_accepts, lark_parser, mutate,
                                       random_sentences)


def _t(name, pattern, flags=0):
    return Terminal(name, pattern, flags)


def _lit(name, s, flags=0):
    return Terminal(name, re.escape(s), flags, literal=s)


def _cfg(start, rules, terms, ignore=()):
    return CFG(start, tuple(Rule(a, tuple(b.split()) if b else ()) for a, b in rules),
               {t.name: t for t in terms}, tuple(ignore))


WS = _t("WS", r"[ \t\n]+")

GRAMMARS = {
    # ambiguous, left-recursive, juxtaposition, keywords overlapping identifiers, ignored spaces
    "ambiguous_expr": _cfg("e", [("e", "e PLUS e"), ("e", "e e"), ("e", "ID"), ("e", "IF"),
                                  ("e", "NUM"), ("e", "LP e RP")],
                           [_lit("PLUS", "+"), _t("ID", r"[a-z]+"), _lit("IF", "if"), _t("NUM", r"[0-9]+"),
                            _lit("LP", "("), _lit("RP", ")"), WS], ["WS"]),
    # left recursion with separators, and right recursion
    "left_list": _cfg("s", [("s", "s COMMA x"), ("s", "x"), ("x", "A"), ("x", "B")],
                      [_lit("COMMA", ","), _t("A", "a+"), _t("B", "b")]),
    "right_list": _cfg("s", [("s", "x SEMI s"), ("s", "x"), ("x", "A")],
                       [_lit("SEMI", ";"), _t("A", "[0-9a]+")]),
    # nullable-heavy: every symbol can vanish, hidden left recursion through nullables
    "nullable": _cfg("s", [("s", "a b c"), ("a", ""), ("a", "a X"), ("b", ""), ("b", "s Y"),
                           ("c", "a"), ("c", "Z c")],
                     [_lit("X", "x"), _lit("Y", "y"), _lit("Z", "z")]),
    # LR(1) but not LALR(1); and a nondeterministic palindrome language
    "non_lalr": _cfg("s", [("s", "A e C"), ("s", "B e D"), ("s", "A f D"), ("s", "B f C"),
                           ("e", "E"), ("f", "E")],
                     [_lit("A", "a"), _lit("B", "b"), _lit("C", "c"), _lit("D", "d"), _lit("E", "e")]),
    "palindrome": _cfg("s", [("s", "A s A"), ("s", "B s B"), ("s", "A"), ("s", "B"), ("s", "")],
                       [_lit("A", "a"), _lit("B", "b")]),
    # keywords vs identifiers (case-insensitive keywords), every split counts
    "sql_like": _cfg("q", [("q", "SELECT cols FROM ID where"), ("cols", "col"), ("cols", "cols COMMA col"),
                           ("col", "ID"), ("col", "ID AS ID"), ("col", "STAR"), ("where", ""),
                           ("where", "WHERE ID EQ val"), ("val", "NUM"), ("val", "STR"), ("val", "ID")],
                     [_lit("SELECT", "select", re.I), _lit("FROM", "from", re.I), _lit("AS", "as", re.I),
                      _lit("WHERE", "where", re.I), _t("ID", r"[A-Za-z_][A-Za-z0-9_]*"), _lit("COMMA", ","),
                      _lit("STAR", "*"), _lit("EQ", "="), _t("NUM", r"[0-9]+"), _t("STR", r"'[^']*'"), WS],
                     ["WS"]),
    # overlapping multi-byte terminals, unicode
    "overlap": _cfg("s", [("s", "w"), ("s", "s w"), ("w", "AB"), ("w", "ABC"), ("w", "CD"), ("w", "U")],
                    [_lit("AB", "ab"), _lit("ABC", "abc"), _lit("CD", "cd"), _t("U", "[é日]+")]),
}

# sql_like where no lexeme boundary may fall between two word characters (CFG.word_chars)
SQL_WORDS = dataclasses.replace(GRAMMARS["sql_like"], word_chars="[A-Za-z0-9_]")

JSON_LARK = r"""
?start: value
?value: object | array | string | SIGNED_NUMBER | "true" | "false" | "null"
array  : "[" [value ("," value)*] "]"
object : "{" [pair ("," pair)*] "}"
pair   : string ":" value
string : ESCAPED_STRING
%import common.ESCAPED_STRING
%import common.SIGNED_NUMBER
%import common.WS
%ignore WS
"""

SQL_LARK = r"""
start: query
query: select (UNION select)* [ORDER BY expr (ASC|DESC)?] [LIMIT NUMBER]
select: SELECT [DISTINCT] cols FROM tables [WHERE cond] [GROUP BY expr ("," expr)* [HAVING cond]]
cols: col ("," col)*
col: expr [AS? NAME] | "*"
tables: table (JOIN table ON cond)*
table: NAME [AS? NAME] | "(" query ")" [AS? NAME]
cond: cond (AND|OR) cond | NOT cond | expr OP expr | expr IN "(" query ")" | expr LIKE STRING | "(" cond ")"
expr: NAME | NAME "." NAME | NUMBER | STRING | FUNC "(" (expr|"*") ")" | expr ("+"|"-"|"*"|"/") expr
OP: "=" | "!=" | "<" | ">" | "<=" | ">="
SELECT: "select"i
DISTINCT: "distinct"i
FROM: "from"i
WHERE: "where"i
GROUP: "group"i
BY: "by"i
HAVING: "having"i
ORDER: "order"i
ASC: "asc"i
DESC: "desc"i
LIMIT: "limit"i
UNION: "union"i
JOIN: "join"i
ON: "on"i
AS: "as"i
AND: "and"i
OR: "or"i
NOT: "not"i
IN: "in"i
LIKE: "like"i
FUNC: "count"i | "max"i | "min"i | "avg"i | "sum"i
NAME: /[A-Za-z_][A-Za-z0-9_]*/
NUMBER: /[0-9]+(\.[0-9]+)?/
STRING: /'[^']*'/ | /"[^"]*"/
%import common.WS
%ignore WS
"""


@pytest.fixture(scope="module")
def json_grammar():
    return Grammar(JSON_LARK)


@pytest.fixture(scope="module")
def sql_grammar():
    return Grammar(SQL_LARK)


# ----------------------------------------------------------------------------- acceptance vs lark
@pytest.mark.parametrize("name", sorted(GRAMMARS))
def test_acceptance_equals_lark(name):
    cfg = GRAMMARS[name]
    g = Grammar.from_cfg(cfg)
    oracle = lark_parser(cfg)
    rng = random.Random(hash(name) & 0xFFFF)
    sents = random_sentences(cfg, 40, seed=3, max_depth=6, max_len=60)
    assert sents
    cases = list(sents)
    for s in sents[:30]:
        cases.append(mutate(s, rng))
        cases.append(mutate(mutate(s, rng), rng))
    cases += ["", " ", "a", "ab", "abc", "select", "select x from t", "SELECT * FROM t WHERE a = 1"]
    n_acc = 0
    for s in cases:
        exp = lark_accepts(oracle, s)
        got = g.accepts(s)
        assert got == exp, (name, s, got, exp)
        n_acc += exp
    for s in sents:  # the generator's sentences are in the all-splits language
        assert g.accepts(s), (name, s)
    assert 0 < n_acc < len(cases)


def test_word_chars_acceptance_equals_all_splits_reference():
    """`CFG.word_chars`: the engine equals the exact all-splits reference on random sentences,
    their mutations and hand-picked adjacent words; lark (which cannot express it) accepts more."""
    ref = AllSplitsRecognizer(SQL_WORDS)
    g = Grammar.from_cfg(SQL_WORDS)
    rng = random.Random(5)
    sents = random_sentences(SQL_WORDS, 30, seed=2, max_depth=6, max_len=50)
    cases = sents + [mutate(s, rng) for s in sents for _ in range(3)] + [
        "select x from t", "selectx from t", "select x fromt", "select x from t where a=1",
        "select x from t where a='1'", "select x from twhere a=1", "select 1 from t", "select x as1 from t",
        "select x,y from t", "select x from t where a=b1"]
    n_acc = 0
    for s in cases:
        exp = ref.accepts(s)
        assert g.accepts(s) == exp, s
        n_acc += exp
    assert 0 < n_acc < len(cases)
    assert not g.accepts("selectx from t") and lark_accepts(lark_parser(SQL_WORDS), "selectx from t")


@pytest.mark.parametrize("gname,texts", [
    ("json", ['{"a": [1, 2.5e3, true, null], "b\\n\\u00e9": {"c": "日本"}}', '[]', ' "x" ', '-0.5']),
    ("sql", ["SELECT name, count(*) FROM singer AS s JOIN concert ON s.id = concert.sid "
             "WHERE age > 30 AND name LIKE 'A%' GROUP BY name ORDER BY name DESC LIMIT 3",
             "select a from t where x in (select y from u) union select b from v"]),
])
def test_lark_text_grammars_accept(gname, texts, json_grammar, sql_grammar):
    g = json_grammar if gname == "json" else sql_grammar
    oracle = lark_parser(JSON_LARK if gname == "json" else SQL_LARK)
    rng = random.Random(7)
    for s in texts:
        assert g.accepts(s)
        assert lark_accepts(oracle, s)
        for _ in range(15):
            m = mutate(s, rng)
            assert g.accepts(m) == lark_accepts(oracle, m), m


def test_token_by_token_equals_accepts(smollm2_tokenizer, smollm2_vocab):
    """Feeding real tokens through a matcher accepts exactly what the byte-level recognizer does."""
    tok = smollm2_tokenizer
    for name in ("sql_like", "ambiguous_expr", "nullable"):
        cfg = GRAMMARS[name]
        g = Grammar.from_cfg(cfg)
        c = g.compile(smollm2_vocab)
        oracle = lark_parser(cfg)
        rng = random.Random(1)
        sents = random_sentences(cfg, 15, seed=5, max_depth=6, max_len=50)
        for s in sents + [mutate(s, rng) for s in sents]:
            ids = tok.encode(s, add_special_tokens=False)
            m = c.matcher()
            ok = True
            for t in ids:
                if not m.allows(t):
                    ok = False
                    with pytest.raises(TokenRejected):
                        m.advance(t)
                    break
                m.advance(t)
            ok = ok and m.is_accepting()
            assert ok == lark_accepts(oracle, s), (name, s)
            assert m.allows(tok.eos_token_id) == m.is_accepting()


# ----------------------------------------------------------------------------- masks vs brute force
_REFERENCE_BRUTE_MAX = 4096  # vocabularies up to this size: brute force with the Python recognizer


def _brute(c: CompiledGrammar, m: GrammarMatcher) -> np.ndarray:
    """Per token: whether feeding its bytes keeps ``m``'s chart alive. Small vocabularies feed
    through the Python reference recognizer (`earley.Earley.feed`, independent of the kernels);
    whole real vocabularies through the native feed kernel on a copy of the chart (fed, then
    truncated: ~100x faster). The feed kernel shares only the closure kernel with the mask path
    (trie walks, virtual positions, signatures and their caches are not used), and is checked
    against the Python recognizer in ``tests/test_earley_native.py``."""
    eng = c.engine
    chart = m._chart
    out = np.zeros(c.vocab.size, dtype=bool)
    if c.vocab.size > _REFERENCE_BRUTE_MAX:
        ch = chart.copy()
        n, total = ch.n, ch.total
        for i, b in enumerate(c.vocab.token_bytes):
            if b and i not in c._eos and ch.feed(b):
                out[i] = True
                ch.truncate(n, total)
    else:
        for i, b in enumerate(c.vocab.token_bytes):
            if b and i not in c._eos:
                out[i] = eng.feed(chart, b) is not None
    for e in c._eos:
        out[e] = m.is_accepting()
    return out


def _check_masks(c, ids, steps):
    vocab = c.vocab
    m = c.matcher()
    buf = np.zeros((1, vocab.words), dtype=np.int32)
    for k, t in enumerate(ids + [None]):
        if k in steps:
            m.fill_mask(buf)
            got = bitmask_to_bool(buf, vocab.size)[0]
            exp = _brute(c, m)
            diff = np.flatnonzero(got != exp)
            assert not len(diff), [(int(d), vocab.token_bytes[d], bool(got[d])) for d in diff[:10]]
            # allows agrees with the mask, with and without the cached mask
            f = m.fork()
            for tid in list(np.flatnonzero(exp)[:40]) + list(np.flatnonzero(~exp)[:40]):
                assert f.allows(int(tid)) == bool(exp[tid])
                assert m.allows(int(tid)) == bool(exp[tid])
        if t is not None:
            assert m.allows(t)
            m.advance(t)
    assert m.is_accepting()


def test_masks_brute_force_json(smollm2_tokenizer, smollm2_vocab, json_grammar):
    c = json_grammar.compile(smollm2_vocab)
    text = '{"name": "Zoë", "tags": [1, -2.5e3, true], "x": null}'
    ids = smollm2_tokenizer.encode(text, add_special_tokens=False)
    _check_masks(c, ids, {0, 2, 5, 9, len(ids)})


def test_masks_brute_force_sql(smollm2_tokenizer, smollm2_vocab, sql_grammar):
    c = sql_grammar.compile(smollm2_vocab)
    text = "SELECT T1.name, count(*) FROM singer AS T1 WHERE T1.age > 20 GROUP BY T1.name"
    ids = smollm2_tokenizer.encode(text, add_special_tokens=False)
    _check_masks(c, ids, {1, 12, len(ids)})


def test_masks_brute_force_ambiguous(smollm2_tokenizer, smollm2_vocab):
    c = Grammar.from_cfg(GRAMMARS["ambiguous_expr"]).compile(smollm2_vocab)
    ids = smollm2_tokenizer.encode("(abc + if)x 12", add_special_tokens=False)
    _check_masks(c, ids, {2})


# ----------------------------------------------------------------------------- matcher contract
def test_rollback_fork_eos(smollm2_tokenizer, smollm2_vocab, json_grammar):
    tok = smollm2_tokenizer
    c = json_grammar.compile(smollm2_vocab)
    eos = tok.eos_token_id
    ids = tok.encode('{"a": [1, 2]}', add_special_tokens=False)
    m = c.matcher()
    buf = np.zeros((1, smollm2_vocab.words), dtype=np.int32)
    masks = []
    for t in ids:
        assert not m.allows(eos) and not m.is_accepting()
        m.fill_mask(buf)
        masks.append(buf.copy())
        m.advance(t)
    assert m.is_accepting() and m.allows(eos)
    assert not m.is_terminated()  # trailing whitespace may follow
    f = m.fork()
    f.advance(eos)
    assert f.is_terminated() and f.allows(eos) and not f.allows(ids[0])
    f.fill_mask(buf)
    assert set(np.flatnonzero(bitmask_to_bool(buf, smollm2_vocab.size)[0]).tolist()) == set(smollm2_vocab.eos_ids.tolist())
    with pytest.raises(TokenRejected):
        f.advance(ids[0])
    f.advance(eos)  # only EOS after EOS
    assert m.num_tokens == len(ids) and not m._done
    m.rollback(3)
    assert m.num_tokens == len(ids) - 3
    m.fill_mask(buf)
    assert np.array_equal(buf, masks[len(ids) - 3])
    m.advance_many(ids[-3:])
    assert m.is_accepting()
    f.rollback(2)
    assert f.is_accepting() and not f._done
    with pytest.raises(ValueError):
        m.rollback(len(ids) + 1)
    # a rejected token leaves the state unchanged
    m2 = c.matcher()
    bad = tok.encode("}", add_special_tokens=False)[0]
    with pytest.raises(TokenRejected):
        m2.advance(bad)
    with pytest.raises(TokenRejected):
        m2.advance(eos)
    assert m2.num_tokens == 0
    m2.advance(ids[0])


def test_terminated_and_empty_language_cases(tiny_vocab):
    g = Grammar.from_cfg(_cfg("s", [("s", "A")], [_lit("A", "ab")]))
    c = g.compile(tiny_vocab)
    m = c.matcher()
    assert not m.is_accepting() and m.allows(4) and m.allows(2) and not m.allows(5)
    m.advance(4)  # "ab"
    assert m.is_accepting() and m.is_terminated() and m.allows(1) and not m.allows(2)
    # nullable start: EOS allowed at once
    g2 = Grammar.from_cfg(_cfg("s", [("s", ""), ("s", "s A")], [_lit("A", "a")]))
    m2 = g2.compile(tiny_vocab).matcher()
    assert m2.is_accepting() and m2.allows(1) and m2.allows(2) and not m2.allows(3)
    with pytest.raises(InvalidSyntax):
        Grammar.from_cfg(_cfg("s", [("s", "s A")], [_lit("A", "a")]))  # empty language
    with pytest.raises(InvalidSyntax):
        Grammar.from_cfg(_cfg("s", [("s", "B")], [_lit("A", "a")]))  # undefined symbol


def test_limits():
    long_cfg = GRAMMARS["ambiguous_expr"]
    g = Grammar.from_cfg(long_cfg, limits=GrammarLimits(max_items_per_position=30))
    with pytest.raises(LimitExceeded):
        g.accepts("a b c d e f g h i j k l m n o p")
    with pytest.raises(LimitExceeded):
        Grammar.from_cfg(long_cfg, limits=GrammarLimits(max_dfa_states=3))
    v = cn.Vocabulary.from_bytes([b"a", b" ", b"+", b"(", b")", b"ab", b"a b"], eos_ids=())
    c = Grammar.from_cfg(long_cfg, limits=GrammarLimits(max_items_total=60)).compile(v)
    m = c.matcher()
    with pytest.raises(LimitExceeded):
        for _ in range(200):
            m.advance(6)
    c2 = Grammar.from_cfg(long_cfg, limits=GrammarLimits(mask_time_budget_s=0.0)).compile(v)
    m2 = c2.matcher()
    with pytest.raises(LimitExceeded):  # the time budget fires on every path
        m2.advance(0)
    with pytest.raises(LimitExceeded):
        m2.allows(6)  # crosses a lexeme boundary: fed through the parser
    with pytest.raises(LimitExceeded):
        m2.fill_mask(np.zeros((1, v.words), np.int32))
    with pytest.raises(LimitExceeded):
        Grammar.from_cfg(long_cfg, limits=GrammarLimits(parse_time_budget_s=0.0)).accepts("a b")


# ----------------------------------------------------------------------------- generation
@pytest.mark.slow
def test_generate_json_with_smollm2(smollm2_tokenizer):
    import torch
    from constrain import models

    tok = smollm2_tokenizer
    model = models.load_smollm2_model()
    # bounded, so that greedy decoding finishes within max_new_tokens
    small_json = r"""
start: "{" pair ("," " "? pair)? "}"
pair: KEY ": " value
KEY: /"[a-z]{1,6}"/
value: NUMBER | STRING | "true" | "false"
NUMBER: /-?[0-9]{1,3}/
STRING: /"[A-Za-z]{1,6}"/
"""
    g = Grammar(small_json)
    proc = cn.LogitsProcessor(g, tok)
    msgs = [[{"role": "user", "content": f"Describe {x} as a JSON object."}] for x in ("a cat",)]
    texts = [tok.apply_chat_template(mm, tokenize=False, add_generation_prompt=True) for mm in msgs]
    tok.padding_side = "left"
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    torch.manual_seed(0)
    out = model.generate(**enc, logits_processor=[proc], max_new_tokens=32, do_sample=False,
                         pad_token_id=tok.pad_token_id)
    finished = 0
    for row in out[:, enc["input_ids"].shape[1]:].tolist():
        gen = []
        ended = False
        for t in row:
            if t == tok.eos_token_id:
                ended = True
                break
            gen.append(t)
        raw = b"".join(proc.vocab.token_bytes[t] or b"" for t in gen).decode()
        m = proc.compiled.matcher()
        m.advance_many(gen)  # a valid prefix in any case
        if ended:
            finished += 1
            assert g.accepts(raw) and m.is_accepting(), raw
            json.loads(raw)
    assert finished >= 1


def test_masks_brute_force_shipped_grammars(smollm2_tokenizer, smollm2_vocab):
    """`Grammar.load` of the shipped grammars; one brute-force step each on a real instance."""
    c = Grammar.load("sqlite").compile(smollm2_vocab)
    ids = smollm2_tokenizer.encode("SELECT count(*) FROM singer WHERE age > 20", add_special_tokens=False)
    _check_masks(c, ids, {4})
    c = Grammar.load("json").compile(smollm2_vocab)
    ids = smollm2_tokenizer.encode('[{"a": "\\u00e9x"}, 3]', add_special_tokens=False)
    _check_masks(c, ids, {3})


# ----------------------------------------------------------------------------- mask caches, signatures
def _small_vocab(seed: int, alphabet: str, n: int = 400) -> cn.Vocabulary:
    """A vocabulary of short multi-lexeme tokens (every single byte, plus random strings)."""
    rng = random.Random(seed)
    toks = {c.encode() for c in alphabet}
    for _ in range(20 * n):
        if len(toks) >= n:
            break
        toks.add("".join(rng.choice(alphabet) for _ in range(rng.randint(2, 7))).encode())
    return cn.Vocabulary.from_bytes([None] + sorted(toks), eos_ids=(0,))


@pytest.mark.parametrize("name,alphabet", [
    ("ambiguous_expr", "ab+() if12"), ("nullable", "xyz"), ("overlap", "abcdé"), ("palindrome", "ab"),
    ("sql_like", "selctfromwhe ,*=1'"), ("left_list", "ab,"), ("right_list", "a0;"),
    ("sql_words", "selctfromwhe ,*=1'"),
])
def test_masks_brute_force_small_vocab_all_steps(name, alphabet):
    """Masks (cached or not, lexemes ending at any depth of a token) equal brute force at every
    step of several sentences, on a vocabulary dense in multi-lexeme tokens."""
    cfg = SQL_WORDS if name == "sql_words" else GRAMMARS[name]
    ref = AllSplitsRecognizer(cfg)  # the generator ignores word_chars: keep the sentences
    sents = [s for s in random_sentences(cfg, 6, seed=11, max_depth=5, max_len=30) if ref.accepts(s)]
    assert sents
    v = _small_vocab(len(name), "".join(sorted(set(alphabet + "".join(sents)))))
    c = Grammar.from_cfg(cfg).compile(v)
    ref = Grammar.from_cfg(cfg, limits=GrammarLimits(mask_cache_bytes=0)).compile(v)  # no mask cache
    buf = np.zeros((1, v.words), dtype=np.int32)
    buf2 = buf.copy()
    for _rep in range(2):  # the second pass is served from the caches
        for s in sents:
            m, mr = c.matcher(), ref.matcher()
            data = s.encode()
            i = 0
            while i < len(data):
                m.fill_mask(buf)
                mr.fill_mask(buf2)
                exp = _brute(c, m)
                got = bitmask_to_bool(buf, v.size)[0]
                assert np.array_equal(got, exp), (name, s, i)
                assert np.array_equal(buf, buf2)
                # the longest token that is a prefix of the rest
                t = max((k for k in range(1, v.size) if data[i:].startswith(v.token_bytes[k])),
                        key=lambda k: len(v.token_bytes[k]))
                assert m.allows(t)
                m.advance(t)
                mr.advance(t)
                i += len(v.token_bytes[t])
            assert m.is_accepting()
    assert c._vc.hits > 0 and ref._vc.hits == 0 and ref._vc.mask_bytes == 0


@pytest.mark.parametrize("name,alphabet", [
    ("ambiguous_expr", "ab+() if12"), ("overlap", "abcdé"), ("sql_words", "selctfromwhe ,*=1'"),
])
def test_masks_brute_force_small_vocab_split_walks(monkeypatch, name, alphabet):
    """Every walk with several lexer states taken as the union of single-state walks (forced on a
    small trie; with `warm_single` below every first byte): masks still equal brute force."""
    from constrain.grammar import walks

    monkeypatch.setattr(walks, "_SPLIT_NODES", 1)
    test_masks_brute_force_small_vocab_all_steps(name, alphabet)


def test_signatures_and_transitions(smollm2_tokenizer, smollm2_vocab, json_grammar):
    """Equal signatures for equivalent positions; a signature known for a path is propagated by
    `step` (no re-signing); ``allows`` then answers from the cached mask, equal to brute force."""
    c = json_grammar.compile(smollm2_vocab)
    eng = c.engine
    init = eng.initial()  # the Python reference chart's first set
    # positions after "[1, 2, " and after "[1, 2, 3, " have the same future
    a = eng.feed([init], b"[1, 2, ")
    b = eng.feed([init], b"[1, 2, 3, ")
    assert eng.sig([init] + a) == eng.sig([init] + b)
    assert eng.sig([init] + a) != eng.sig([init] + a[:-2])  # after "[1, 2"
    ids = smollm2_tokenizer.encode('{"k": [1, 2], "v": "x"}', add_special_tokens=False)
    m = c.matcher()
    buf = np.zeros((1, smollm2_vocab.words), dtype=np.int32)
    for t in ids:
        m.fill_mask(buf)
        m.advance(t)
    m.fill_mask(buf)
    m2 = c.matcher()
    for k, t in enumerate(ids):
        m2.advance(t)
        assert m2._chart[-1]._sig is not None  # propagated through the byte transitions
        nxt = ids[k + 1] if k + 1 < len(ids) else smollm2_tokenizer.eos_token_id
        exp = _brute(c, m2)
        f = m2.fork()
        for tid in [nxt] + list(np.flatnonzero(exp)[:10]) + list(np.flatnonzero(~exp)[:10]):
            assert f.allows(int(tid)) == bool(exp[tid])
            if int(tid) not in c._eos:
                assert f._mask is not None  # answered from the cached mask
            f._mask = None


def test_fork_rollback_with_cached_masks(smollm2_tokenizer, smollm2_vocab, sql_grammar):
    c = sql_grammar.compile(smollm2_vocab)
    tok = smollm2_tokenizer
    buf = np.zeros((1, smollm2_vocab.words), dtype=np.int32)
    base = tok.encode("SELECT name FROM", add_special_tokens=False)
    m = c.matcher()
    m.advance_many(base)
    m.fill_mask(buf)
    before = buf.copy()
    f = m.fork()
    f.advance_many(tok.encode(" singer WHERE", add_special_tokens=False))
    m.advance_many(tok.encode(" (SELECT", add_special_tokens=False))
    m.fill_mask(buf)  # diverged forks: each mask is its own
    assert np.array_equal(bitmask_to_bool(buf, smollm2_vocab.size)[0], _brute(c, m))
    ref = Grammar(SQL_LARK, limits=GrammarLimits(mask_cache_bytes=0)).compile(smollm2_vocab).matcher()
    ref.advance_many(base + tok.encode(" singer WHERE", add_special_tokens=False))
    f.fill_mask(buf)
    buf2 = np.zeros_like(buf)
    ref.fill_mask(buf2)
    assert np.array_equal(buf, buf2)
    m.rollback(len(m._hist) - len(base))
    m.fill_mask(buf)
    assert np.array_equal(buf, before)
    f.rollback(2)
    f.fill_mask(buf)
    assert np.array_equal(buf, before)


def test_mask_cache_bounded_and_per_vocabulary(tiny_vocab):
    """A tiny cache budget still gives right masks (evictions); one Grammar compiled for two
    vocabularies keeps separate caches."""
    v = _small_vocab(3, "selctfromwhe ,*=1'abx")
    row_bytes = v.words * 4
    g = Grammar.from_cfg(GRAMMARS["sql_like"], limits=GrammarLimits(mask_cache_bytes=2 * row_bytes))
    c = g.compile(v)
    ct = g.compile(tiny_vocab)
    buf = np.zeros((1, v.words), dtype=np.int32)
    bt = np.zeros((1, tiny_vocab.words), dtype=np.int32)
    for _rep in range(2):
        for text in ("select a", "select a, b from t", "select * from t where x = 1"):
            m = c.matcher()
            for ch in text.encode():
                m.fill_mask(buf)
                assert np.array_equal(bitmask_to_bool(buf, v.size)[0], _brute(c, m))
                assert c._vc.mask_bytes <= 2 * row_bytes
                m.advance(v.token_bytes.index(bytes([ch])))
            mt = ct.matcher()
            mt.fill_mask(bt)
            assert np.array_equal(bitmask_to_bool(bt, tiny_vocab.size)[0], _brute(ct, mt))
    assert c._vc is not ct._vc and c._vc.misses > 2


def test_literal_dfas_equal_regex_dfas():
    """Literal terminals are built from per-character DFAs: the same language as the regex
    engine's DFA of the escaped literal (Unicode case folding included)."""
    from constrain.grammar.engine import _literal_dfa
    from constrain.regex import Regex
    from constrain.regex.automata import RegexLimits

    def same(a, b):
        seen, st = {(0, 0)}, [(0, 0)]
        while st:
            x, y = st.pop()
            if bool(a.accepting[x]) != bool(b.accepting[y]):
                return False
            tx, ty = a.transitions[x], b.transitions[y]
            if not np.array_equal(tx >= 0, ty >= 0):
                return False
            for c in np.flatnonzero(tx >= 0):
                p = (int(tx[c]), int(ty[c]))
                if p not in seen:
                    seen.add(p)
                    st.append(p)
        return True

    rl = RegexLimits()
    for lit, fl in [("select", re.I), ("ks", re.I), ("Straße", re.I), ("(", 0), ("é日", re.I), ("||", 0),
                    ("İi", re.I), ("a.b*", 0)]:
        d = _literal_dfa(lit, fl, rl)
        r = Regex(re.escape(lit), flags=fl).dfa
        assert d is not None and d.n_states == r.n_states and same(d, r), lit
    assert _literal_dfa("x", re.X, rl) is None


@pytest.mark.parametrize("limits", [None, GrammarLimits(max_signatures=3, mask_cache_bytes=256)])
def test_masks_brute_force_deep_token_chains(limits):
    """Tokens made of many lexemes (runs of unary minus, parentheses): subtree contributions
    cached across masks per signature and per template equal brute force, including where a
    lexeme deep in a token pops the parser back into the chart (``1))``: not pure)."""
    cfg = _cfg("e", [("e", "UN e"), ("e", "LP e RP"), ("e", "NUM"), ("e", "e PLUS e")],
               [_lit("UN", "-"), _lit("LP", "("), _lit("RP", ")"), _t("NUM", "[0-9]+"), _lit("PLUS", "+")])
    toks = set()
    for k in range(1, 13):
        toks |= {b"-" * k, b"(" * k, b")" * k, b"-(" * k, b"(-" * k, b"1" + b")" * k, b"-" * k + b"1",
                 b")" * k + b"+", b"+" + b"-" * k}
    toks |= {b"1", b"2", b"3", b"+", b"12", b"-1)", b"1)+-("}
    # lexemes deep in a token closing parentheses opened in the token and before it: what is
    # below a templated position then depends on the chart (cached per template only when not)
    toks |= {b"((1))", b"((1)))", b"((1))))", b"-(1))", b"(-(1)))"}
    v = cn.Vocabulary.from_bytes([None] + sorted(toks), eos_ids=(0,))
    c = Grammar.from_cfg(cfg, limits=limits).compile(v)  # tiny limits: tables cleared all along
    buf = np.zeros((1, v.words), dtype=np.int32)
    for _rep in range(2):
        for text in (b"--(-(1))", b"((--1)+-(2))", b"-(-(-(-(1))))+((3))"):
            m = c.matcher()
            i = 0
            while i < len(text):
                m.fill_mask(buf)
                assert np.array_equal(bitmask_to_bool(buf, v.size)[0], _brute(c, m)), (text, i)
                t = max((k for k in range(1, v.size) if text[i:].startswith(v.token_bytes[k])),
                        key=lambda k: len(v.token_bytes[k]))
                m.advance(t)
                i += len(v.token_bytes[t])
            m.fill_mask(buf)
            assert np.array_equal(bitmask_to_bool(buf, v.size)[0], _brute(c, m))
            assert m.is_accepting()
    # contributions deep in tokens were cached per template (keys (nodes, "t", template id))
    assert limits is not None or any(len(k) == 3 for k in c._vc.contrib)


@pytest.mark.parametrize("name,text", [
    ("json", '{"a": [1, -2.5e3, true], "b": "Zoë"}'),
    ("sqlite", "SELECT name FROM singer WHERE age > 20"),
])
def test_masks_brute_force_every_step_shipped(smollm2_tokenizer, smollm2_vocab, name, text):
    """Every step of a sample sentence, over the whole SmolLM2 vocabulary (issue 3, point 5)."""
    c = Grammar.load(name).compile(smollm2_vocab)
    ids = smollm2_tokenizer.encode(text, add_special_tokens=False)
    _check_masks(c, ids, set(range(len(ids) + 1)))


@pytest.mark.parametrize("n_kw", [20, 70])
@pytest.mark.parametrize("pad", [0, 5000])
def test_masks_brute_force_many_states_accepting_together(pad, n_kw):
    """Completion nodes where several DFA states accept (keywords and an identifier). With 70
    keywords predicted at once the lexer state is past the bit-set fast path of
    `walks._src_codes` (62 states): nodes keep their accepting states as tuples. Masks equal brute
    force on a small trie (one kernel walk) and on one of over 4096 nodes (the union of
    single-state walks)."""
    kws = [f"k{i}" for i in range(n_kw)]
    # ID accepts where the keywords do (two accepting states per completion node), and only it
    # may be followed by "!"
    cfg = _cfg("s", [("s", "kw s"), ("s", "kw"), ("s", "ID BANG")] + [("kw", f"K{i}") for i in range(n_kw)],
               [_lit(f"K{i}", w) for i, w in enumerate(kws)] + [_t("ID", "k[0-9]+"), _lit("BANG", "!")])
    toks = {b"k", b"1", b"2", b"6", b"9", b"k1", b"k12", b"k1k", b"k3k4", b"k69k", b"2k", b"k7k7k",
            b"!", b"k1!", b"k12!", b"2!", b"k3k4!"}
    toks |= {w.encode() for w in kws} | {(a + b).encode() for a in kws[:12] for b in kws[-10:]}
    toks |= {f"z{i:05d}".encode() for i in range(pad)}  # a trie past 4096 nodes
    v = cn.Vocabulary.from_bytes([None] + sorted(toks), eos_ids=(0,))
    c = Grammar.from_cfg(cfg).compile(v)
    assert v.trie.n_nodes >= 4096 or not pad
    ids = [v.token_bytes.index(b) for b in (b"k1", b"k12", b"k3k4", b"k19", b"k1", b"k7k7k", b"2")]
    _check_masks(c, ids, set(range(len(ids) + 1)))
