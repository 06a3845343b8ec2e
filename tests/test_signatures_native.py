"""Chart signatures from the numba kernel (`signatures.NativeTable`) name futures exactly.

A position's future is its content with every origin replaced by the signature there (its own
position by -1): scan items, waiting items, predicted nonterminals, accept. Over charts of
shipped and hand-written grammars (prefixes of valid texts and mutations, fed token by token as
a matcher does), two positions get the same native id exactly when those contents are equal
(computed here in Python from the chart arrays); with a tiny table that is cleared over and over,
equal ids still mean equal contents (ids are never reused). Byte transitions recorded while
signing are true: following them gives the id the kernel gives.
"""

from __future__ import annotations

import random

import pytest

from constrain.grammar.api import Grammar, GrammarLimits
from constrain.grammar.chart import Chart
from constrain.grammar.testing import mutate, random_sentences

from test_earley_native import CFGS


def _grammars(limits=None):
    out = [("json", Grammar.load("json", limits=limits)), ("sqlite", Grammar.load("sqlite", limits=limits))]
    for name in ("ambiguous", "expr", "nullable", "sql_words"):
        out.append((name, Grammar.from_cfg(CFGS[name], limits=limits)))
    return out


_SQL = ["SELECT name, count(*) FROM singer AS T1 JOIN concert AS T2 ON T1.id = T2.sid "
        "WHERE T2.year > 2014 GROUP BY name ORDER BY count(*) DESC LIMIT 3",
        "select avg(age) , min(age) from singer where country = 'France'",
        "SELECT DISTINCT T1.name FROM a AS T1 WHERE T1.x IN (SELECT y FROM b) AND NOT z"]


def _texts(g: Grammar, rng: random.Random, n: int = 12, extra: tuple = ()) -> list[bytes]:
    out = []
    for s in list(extra) + random_sentences(g.cfg, n, seed=rng.randrange(1 << 30), max_len=80):
        out.append(s.encode())
        out.append(mutate(s, rng).encode())
    return out


def _content(chart: Chart, p: int) -> tuple:
    """Position ``p``'s future as Python sets, origins mapped to the signatures there."""
    scan, wt, N, accept, _ = chart.raw_at(p)

    def m(o):
        if o == p:
            return -1
        s = chart.sig_at(o)
        assert s is not None, f"origin {o} of position {p} is not signed"
        return s

    return (frozenset((g, m(o)) for g, o in scan),
            frozenset((dr, m(o)) for dr, o in wt) if wt else frozenset(),
            frozenset(N) if N else frozenset(), bool(accept))


def _fed_charts(g: Grammar, texts: list[bytes], rng: random.Random):
    """Charts fed in random chunks (what matchers do), signed at the end of every chunk."""
    eng = g.engine
    for data in texts:
        chart = Chart.initial(eng)
        eng.sig(chart)
        k = 0
        while k < len(data):
            step = rng.randint(1, 4)
            if not chart.feed(data[k:k + step]):
                break
            k += step
            eng.sig(chart)
        yield chart


@pytest.mark.parametrize("name", ["json", "sqlite", "ambiguous", "expr", "nullable", "sql_words"])
def test_equal_ids_iff_equal_futures(name):
    rng = random.Random(7)
    g = dict(_grammars())[name]
    by_id: dict = {}
    by_content: dict = {}
    n = 0
    for chart in _fed_charts(g, _texts(g, rng, extra=_SQL if name == "sqlite" else ()), rng):
        for p in range(chart.n):
            s = g.engine.sig(chart, p)  # signs the positions between chunk ends too
            c = _content(chart, p)
            assert by_id.setdefault(s, c) == c, f"id {s} names two futures ({name}, position {p})"
            assert by_content.setdefault(c, s) == s, f"one future has ids {by_content[c]} and {s}"
            n += 1
    assert n > 100 and len(by_id) > 10  # the charts were not trivial


def test_tiny_table_never_merges_futures():
    rng = random.Random(3)
    lim = GrammarLimits(max_signatures=8)
    for name, g in _grammars(lim)[:3]:
        by_id: dict = {}
        ids = []
        for chart in _fed_charts(g, _texts(g, rng, 6), rng):
            for p in range(chart.n):
                s = g.engine.sig(chart, p)
                ids.append(s)
                c = _content(chart, p)
                assert by_id.setdefault(s, c) == c, f"id {s} names two futures ({name})"
        nt = g.engine.signer.native
        assert int(nt.meta[1]) <= 8  # entries held (M_N): the table was cleared, not grown
        assert max(ids) > 8 * 3  # and ids went on past several clears


def test_byte_transitions_are_true():
    rng = random.Random(11)
    g = Grammar.load("json")
    eng = g.engine
    texts = _texts(g, rng, 8)
    for chart in _fed_charts(g, texts, rng):
        for p in range(chart.n):
            eng.sig(chart, p)
    tr = eng._sig_trans
    assert tr, "signing recorded no byte transition"
    checked = 0
    for chart in _fed_charts(g, texts, rng):  # same texts again, other chunks: ids already made
        for p in range(1, chart.n):
            q, b = chart.sig_at(p - 1), int(chart.pos[p, 5])
            s = tr.get((q << 8) | b) if q is not None else None
            if s is not None:
                assert s == eng.sig(chart, p)
                checked += 1
    assert checked > 50


@pytest.mark.parametrize("name", ["json", "sqlite", "ambiguous", "expr"])
def test_feed_kernel_signs_known_paths_truly(name):
    """The feed kernel signs a position after a signed one from the byte transitions: on texts
    fed a second time, those ids equal the ids of the same chart signed from scratch."""
    from constrain.native.earley_kernels import C_SIG

    rng = random.Random(5)
    g = dict(_grammars())[name]
    eng = g.engine
    texts = _texts(g, rng, 8 if name == "sqlite" else 30, extra=_SQL if name == "sqlite" else ())
    for _ in _fed_charts(g, texts, rng):
        pass
    by_kernel = 0
    for data in texts:
        chart = Chart.initial(eng)
        eng.sig(chart)
        if not chart.feed(data):  # one call: no signing between its bytes
            continue
        kernel = chart.pos[:chart.n, C_SIG].copy()
        assert (kernel >= 0).all(), f"a position on a signed path is unsigned: {data!r}"
        fresh = chart.copy()
        fresh.pos[1:fresh.n, C_SIG] = -1
        for p in range(1, chart.n):
            assert eng.sig(fresh, p) == kernel[p], f"position {p} of {data!r}"
            by_kernel += 1
    assert by_kernel > 100
