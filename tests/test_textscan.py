"""`constrain.textscan`: the free-text patterns equal their definitions (first trigger occurrence
by end position), in Python ``re`` and as byte DFAs of `constrain.Regex` (UTF-8 triggers)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import constrain as cn
from constrain.errors import InvalidSyntax, LimitExceeded
from constrain.textscan import avoid_pattern, until_pattern

TRIGGER_SETS = [["</think>"], ["aab"], ["abab"], ["ab", "b"], ["<a>", "a<", "<b"], ["xyx", "yxy"],
                ["é<", "<é"], ["\n\n", "]"], ["[TOOL_CALLS]"], ["a^-]", "\\"]]


def first_end(s: str, words: list[str]):
    """(end, indices) of the first trigger occurrence by end position; (None, []) if none."""
    for e in range(1, len(s) + 1):
        hit = [i for i, w in enumerate(words) if s[:e].endswith(w)]
        if hit:
            return e, hit
    return None, []


@pytest.mark.parametrize("words", TRIGGER_SETS, ids=lambda w: "|".join(w))
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_patterns_equal_definition(words, data):
    alphabet = sorted(set("".join(words))) + ["z", "\n"]
    s = data.draw(st.text(alphabet=alphabet, max_size=14))
    e, hit = first_end(s, words)
    assert bool(re.fullmatch(avoid_pattern(words), s)) == (e is None)
    for i in range(len(words)):
        assert bool(re.fullmatch(until_pattern(words, i), s)) == (e == len(s) and i in hit)


@pytest.mark.parametrize("words", TRIGGER_SETS[:7], ids=lambda w: "|".join(w))
def test_byte_dfas_equal_definition(words):
    import random

    rng = random.Random(1)
    avoid = cn.Regex(avoid_pattern(words))
    until = [cn.Regex(until_pattern(words, i)) for i in range(len(words))]
    alphabet = sorted(set("".join(words))) + ["z", "日"]
    for _ in range(2000):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        e, hit = first_end(s, words)
        assert avoid.fullmatch(s) == (e is None), s
        for i, u in enumerate(until):
            assert u.fullmatch(s) == (e == len(s) and i in hit), (i, s)


def test_errors():
    with pytest.raises(InvalidSyntax):
        avoid_pattern([])
    with pytest.raises(InvalidSyntax):
        until_pattern(["ab", ""], 0)
    with pytest.raises(InvalidSyntax):  # "b" always ends before "abc" does
        until_pattern(["abc", "b"], 0)
    with pytest.raises(LimitExceeded):
        avoid_pattern(["abcabcabd", "bcabdx"], max_chars=50)
