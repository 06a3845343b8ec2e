"""The numba Earley core (`constrain.grammar.chart.Chart`) equals the Python core (`Earley`).

At every byte position of prefixes of valid texts and of random mutations, the native chart holds
the same scan items, waiting items, predicted nonterminals, accept flag and item count as the
Python reference (`Earley.initial` / `Earley.step`), and dies at the same byte; over shipped,
hand-written (ambiguous, nullable-heavy, left/right-recursive, ``%ignore``, word boundaries, a
rule chain too long for precomputed closures) and schema-compiled grammars. Feeding in chunks,
rollback (truncation) and fork (copy) give the same sets; limits raise `LimitExceeded`.
"""

from __future__ import annotations

import dataclasses
import json
import random
import re

import pytest
from hypothesis import given, settings, strategies as st

from constrain.errors import LimitExceeded
from constrain.grammar.api import Grammar, GrammarLimits
from constrain.grammar.chart import Chart
from constrain.grammar.ir import CFG, Rule, Terminal
from constrain.grammar.testing import mutate, random_sentences


def _lit(name, s, flags=0):
    return Terminal(name, re.escape(s), flags, literal=s)


def _cfg(start, rules, terms, ignore=(), word_chars=None):
    cfg = CFG(start, tuple(Rule(a, tuple(b.split()) if b else ()) for a, b in rules),
              {t.name: t for t in terms}, tuple(ignore))
    return dataclasses.replace(cfg, word_chars=word_chars) if word_chars else cfg


WS = Terminal("WS", r"[ \t\n]+")
_SQL_TERMS = [_lit("SELECT", "select", re.I), _lit("FROM", "from", re.I), _lit("AS", "as", re.I),
              Terminal("ID", r"[A-Za-z_][A-Za-z0-9_]*"), _lit("COMMA", ","), _lit("STAR", "*"), WS]
_SQL_RULES = [("q", "SELECT cols FROM ID"), ("cols", "col"), ("cols", "cols COMMA col"),
              ("col", "ID"), ("col", "ID AS ID"), ("col", "STAR")]

CFGS = {
    "ambiguous": _cfg("e", [("e", "e e e"), ("e", "e e"), ("e", "A"), ("e", "")], [_lit("A", "a")]),
    "expr": _cfg("e", [("e", "e PLUS e"), ("e", "e e"), ("e", "ID"), ("e", "LP e RP")],
                 [_lit("PLUS", "+"), Terminal("ID", r"[a-z]+"), _lit("LP", "("), _lit("RP", ")"), WS],
                 ["WS"]),
    "nullable": _cfg("s", [("s", "a b c"), ("a", ""), ("a", "a X"), ("b", ""), ("b", "s Y"),
                           ("c", "a"), ("c", "Z c")], [_lit("X", "x"), _lit("Y", "y"), _lit("Z", "z")]),
    "right_list": _cfg("s", [("s", "x SEMI s"), ("s", "x"), ("x", "A")],
                       [_lit("SEMI", ";"), Terminal("A", "[0-9a]+")]),
    "sql_like": _cfg("q", _SQL_RULES, _SQL_TERMS, ["WS"]),
    "sql_words": _cfg("q", _SQL_RULES, _SQL_TERMS, ["WS"], word_chars="[A-Za-z0-9_]"),
    "ignore_rules": _cfg("start", [("start", "K K")], [Terminal("K", "k"), Terminal("WS", "w+")],
                         ["WS"], word_chars="[a-z]"),
}


def _chain_text(n: int = 700) -> str:  # closures of quadratic size: followed lazily
    return "\n".join([f"r{i}: r{i + 1} | \"b\" r{i + 1}" for i in range(n)]
                     + [f'r{n}: "a"', "start: r0 r0"])


def _grammars() -> dict:
    from constrain.schema.compiler import compile_schema

    out = {k: Grammar.from_cfg(v) for k, v in CFGS.items()}
    out["json"] = Grammar.load("json")
    out["sqlite"] = Grammar.load("sqlite")
    out["chain"] = Grammar(_chain_text(), limits=GrammarLimits())
    schema = {"type": "object", "properties": {"a": {"type": "integer"},
                                               "b": {"type": "array", "items": {"type": "string"}}},
              "required": ["a"]}
    out["schema"] = Grammar.from_cfg(compile_schema(schema, whitespace="[ ]?"))
    return out


G = _grammars()
TEXTS = {
    "json": [json.dumps({"a": [1, -2.5e3, "x\\u00e9", None, True], "b": {"c": {}}}, indent=1),
             '[1, 2, {"k": "v"}]', "  {  }  "],
    "sqlite": ["SELECT a, b AS c FROM t WHERE x >= 1 AND y LIKE 'a%' ORDER BY a DESC LIMIT 3;",
               "select count(*) from t join u on t.id = u.id group by a having sum(b) > 2"],
    "chain": ["aa", "bab", "bbbbaba"],
    "schema": ['{"a": 1, "b": ["x", "y"]}', '{"b":[],"a":-0}'],
}


def _norm(E) -> tuple:
    w = sorted((s, dr, o) for s, lst in (E.waiting or {}).items() for dr, o in lst)
    return sorted(E.scan), w, sorted(E.N or ()), bool(E.accept), E.n_items


def _python_chart(e, data: bytes) -> tuple[list, int]:
    """The reference sets along ``data`` and how many bytes were read before the parse died."""
    chart = [e.initial()]
    for b in data:
        E = e.step(chart[-1], b, chart.__getitem__)
        if not E.scan and not E.accept:
            break
        chart.append(E)
    return chart, len(chart) - 1


def _check(g: Grammar, data: bytes, chunks: int = 1, seed: int = 0) -> None:
    e = g.engine
    ref, alive = _python_chart(e, data)
    c = Chart.initial(e)
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, alive), min(chunks - 1, max(alive - 1, 0)))) if alive > 1 else []
    prev = 0
    for cut in cuts + [alive]:
        assert c.feed(data[prev:cut]), (data, cut)
        prev = cut
    assert len(c) == len(ref)
    for p in range(len(ref)):
        assert _norm(c[p]) == _norm(ref[p]), (data, p)
        assert c.accept_at(p) == bool(ref[p].accept)
        assert c.lex_at(p) == ref[p].lex()[0]
    assert c.total == sum(E.n_items for E in ref)
    if alive < len(data):
        n = len(c)
        assert not c.feed(data[alive:alive + 1]) and len(c) == n  # dead byte: chart unchanged
        assert not c.feed(data[alive:]) and len(c) == n


def _texts(name: str, g: Grammar) -> list[str]:
    if name in TEXTS:
        return TEXTS[name]
    return random_sentences(g.cfg, 12, seed=1, max_len=40)


@pytest.mark.parametrize("name", sorted(G))
def test_native_chart_equals_python_on_sentences_and_mutations(name):
    g = G[name]
    rng = random.Random(name)
    texts = _texts(name, g)
    assert texts
    for t in texts:
        _check(g, t.encode(), chunks=3, seed=len(t))
        for _ in range(6):
            _check(g, mutate(t, rng).encode("utf-8", "surrogatepass"), chunks=2, seed=len(t))


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(G)), st.data())
def test_native_chart_equals_python_hypothesis(name, data):
    g = G[name]
    texts = _texts(name, g)
    t = data.draw(st.sampled_from(texts)).encode()
    cut = data.draw(st.integers(0, len(t)))
    tail = data.draw(st.binary(max_size=6))
    _check(g, t[:cut] + tail, chunks=data.draw(st.integers(1, 4)), seed=cut)


def test_rollback_and_fork_give_the_same_sets():
    g = G["json"]
    doc = TEXTS["json"][0].encode()
    c = Chart.initial(g.engine)
    assert c.feed(doc[:20])
    f = c.copy()
    assert c.feed(doc[20:])
    n_full = len(c)
    c.truncate(21)
    assert len(c) == 21 and c.total == f.total
    assert c.feed(doc[20:]) and len(c) == n_full
    assert f.feed(doc[20:])
    for p in range(n_full):
        assert _norm(c[p]) == _norm(f[p])


def test_long_whitespace_run_is_fast_and_linear():
    g = G["json"]
    c = Chart.initial(g.engine)
    assert c.feed(b"{" + b" " * 20000 + b"}")
    assert c.accept_at(len(c) - 1) and c.total < 10 * 20000


def test_limits_raise_and_leave_the_chart_unchanged():
    amb = CFGS["ambiguous"]
    g = Grammar.from_cfg(amb, limits=GrammarLimits(max_items_per_position=300))
    c = Chart.initial(g.engine)
    with pytest.raises(LimitExceeded) as ei:
        c.feed(b"a" * 500)
    assert ei.value.limit == "max_items_per_position" and len(c) == 1
    g = Grammar.from_cfg(amb, limits=GrammarLimits(max_items_total=5000))
    c = Chart.initial(g.engine)
    with pytest.raises(LimitExceeded) as ei:
        c.feed(b"a" * 500)
    assert ei.value.limit == "max_items_total" and len(c) == 1
    with pytest.raises(LimitExceeded) as ei:
        Chart.initial(G["json"].engine).feed(b"[" + b"1," * 50000 + b"1]", deadline=0.0,
                                             budget=("parse_time_budget_s", 1.0))
    assert ei.value.limit == "parse_time_budget_s"
