"""Stress tests of the grammar engine's growth: item counts and memory, never time.

Runs of an ignored or repeated terminal must cost O(1) Earley items per byte; every limit must
fire with `LimitExceeded` on every path (``accepts``, ``advance``, ``allows``, ``fill_mask``);
literal and regex parsing are linear; the prediction closures of a long rule chain are not
materialised quadratically.
"""

from __future__ import annotations

import random
import re
import tracemalloc

import numpy as np
import pytest

from constrain.errors import LimitExceeded
from constrain.grammar.api import Grammar, GrammarLimits
from constrain.grammar.ir import CFG, Rule, Terminal
from constrain.grammar.testing import AllSplitsRecognizer


def _chart_items(g: Grammar, text: str):
    """(total items, max items in one set, accept) of the chart after ``text``."""
    e = g.engine
    chart = [e.initial()]
    out = e.feed(chart, text.encode())
    assert out is not None
    chart += out
    return sum(s.n_items for s in chart), max(s.n_items for s in chart), chart[-1].accept


def test_json_whitespace_run_is_linear_and_small():
    g = Grammar.load("json")
    small = _chart_items(g, "{" + " " * 1000 + "}")
    big = _chart_items(g, "{" + " " * 10_000 + "}")
    assert small[2] and big[2]
    assert big[1] == small[1]  # the largest set does not grow with the run
    assert big[0] <= 10 * small[0] + 100  # total items linear in the run
    n = 100_000
    tracemalloc.start()
    try:
        assert g.accepts("{" + " " * n + "}")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100 << 20, f"{peak >> 20} MB for a {n}-space run"


def test_sqlite_whitespace_run_is_linear():
    g = Grammar.load("sqlite")
    small = _chart_items(g, "SELECT" + " " * 1000)
    big = _chart_items(g, "SELECT" + " " * 10_000)
    assert big[1] == small[1]
    assert big[0] <= 10 * small[0] + 1000
    assert g.accepts("SELECT" + " " * 10_000 + "1")


def test_repeated_terminal_run_is_one_lexeme():
    cfg = CFG("start", (Rule("start", ("A", "sp", "B")), Rule("sp", ("sp", "S")), Rule("sp", ("S",))),
              {"A": Terminal("A", "a"), "B": Terminal("B", "b"), "S": Terminal("S", " +")})
    g = Grammar.from_cfg(cfg)
    assert "sp" in g.engine.nf.collapsed
    small = _chart_items(g, "a" + " " * 500 + "b")
    big = _chart_items(g, "a" + " " * 5000 + "b")
    assert small[2] and big[2] and big[1] == small[1]


def test_collapse_requires_closure():
    # "ab" repeated: (ab)(ab) is in T+ but T = /ab/ is not closed under concatenation
    cfg = CFG("start", (Rule("start", ("r",)), Rule("r", ("r", "T")), Rule("r", ("T",))),
              {"T": Terminal("T", "ab")})
    g = Grammar.from_cfg(cfg)
    assert not g.engine.nf.collapsed
    assert g.accepts("abab") and not g.accepts("aba")


_IGNORE_GRAMMARS = [
    # ignore star over two terminals, one of them a comment; a repeated / +/ that interacts
    CFG("start", (Rule("start", ("x",)), Rule("x", ("x", "P")), Rule("x", ("P",)),
                  Rule("start", ("start", "C", "x"))),
        {"P": Terminal("P", "a+"), "C": Terminal("C", ","), "WS": Terminal("WS", " +"),
         "CM": Terminal("CM", "#[a ]*;")}, ignore=("WS", "CM")),
    # an ignored terminal starting with a word byte: the rules fallback (no star)
    CFG("start", (Rule("start", ("K", "K")),),
        {"K": Terminal("K", "k"), "WS": Terminal("WS", "w+")}, ignore=("WS",), word_chars="[a-z]"),
    # a repeated terminal that is closed under concatenation, with an ignore between
    CFG("start", (Rule("start", ("r",)), Rule("r", ("r", "D")), Rule("r", ("D",))),
        {"D": Terminal("D", "[0-9 ]+"), "WS": Terminal("WS", " ")}, ignore=("WS",)),
]


@pytest.mark.parametrize("k", range(len(_IGNORE_GRAMMARS)))
def test_normal_form_language_equals_all_splits(k):
    cfg = _IGNORE_GRAMMARS[k]
    g = Grammar.from_cfg(cfg)
    ref = AllSplitsRecognizer(cfg)
    rng = random.Random(k)
    alphabet = "a, #;kw09 "
    texts = {""} | {"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 7))) for _ in range(1500)}
    for t in sorted(texts):
        assert g.accepts(t) == ref.accepts(t), (k, t)


def test_ignore_star_is_used_for_json():
    g = Grammar.load("json")
    assert g.engine.nf.ignore_terminal >= 0


_AMBIG = 'start: e\ne: e e e | e e | "a" |\n'


def test_ambiguous_grammar_items_bounded_and_limit_fires():
    g = Grammar(_AMBIG)
    counts = [_chart_items(g, "a" * n)[1] for n in (20, 40, 80)]
    # one set holds O(rules × position) items: linear in the position, not more
    assert counts[2] <= 2 * counts[1] + 8 and counts[1] <= 2 * counts[0] + 8
    lim = GrammarLimits(max_items_total=20_000)
    g2 = Grammar(_AMBIG, limits=lim)
    with pytest.raises(LimitExceeded) as ei:
        g2.accepts("a" * 2000)
    assert ei.value.limit == "max_items_total"


def test_limits_fire_on_advance_allows_and_fill_mask(tiny_vocab_ambig):
    vocab = tiny_vocab_ambig
    g = Grammar(_AMBIG, limits=GrammarLimits(max_items_total=3_000))
    c = g.compile(vocab)
    a = vocab.token_bytes.index(b"a")
    m = c.matcher()
    with pytest.raises(LimitExceeded):
        for _ in range(10_000):
            m.advance(a)
    g3 = Grammar(_AMBIG, limits=GrammarLimits(max_items_per_position=500))
    m3 = g3.compile(vocab).matcher()
    bm = np.zeros((1, vocab.words), dtype=np.int32)
    with pytest.raises(LimitExceeded):
        for _ in range(10_000):
            m3.fill_mask(bm)
            m3.allows(a)
            m3.advance(a)


@pytest.fixture
def tiny_vocab_ambig():
    from constrain.vocab import Vocabulary

    return Vocabulary([b"a", b"aa", b"b", b"<eos>"], eos_ids=[3])


def test_long_rule_chain_memory():
    n = 5000
    text = "\n".join([f"r{i}: r{i + 1}" for i in range(n)] + [f'r{n}: "a"', "start: r0"])
    tracemalloc.start()
    try:
        g = Grammar(text)
        assert g.accepts("a") and not g.accepts("aa")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert g.engine.clo is None  # closures followed at run time, not materialised (n² entries)
    assert peak < 200 << 20, f"{peak >> 20} MB"


def test_long_literal_is_linear():
    lit = "".join(random.Random(1).choice("abcdefgh{}:, ") for _ in range(5000))
    g = Grammar(f'start: "{lit}"')
    assert g.engine.n_dfa_states == len(lit) + 1
    assert g.accepts(lit) and not g.accepts(lit[:-1])


def test_regex_parse_is_linear_and_timed():
    from constrain.regex.parser import Concat, parse
    from constrain.regex import Regex, RegexLimits

    tree = parse("a" * 200_000)  # a quadratic conversion would not finish
    assert isinstance(tree, Concat) and len(tree.parts) == 200_000
    with pytest.raises(LimitExceeded):
        Regex("b" * 300_000, limits=RegexLimits(max_seconds=1e-4))
    assert re.fullmatch("a" * 10, "a" * 10)
