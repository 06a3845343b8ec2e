"""Literal patterns (`constrain.regex.literal`): recognised exactly when they spell one string,
and their chain DFA is array-for-array the regex pipeline's DFA."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from constrain.regex import parser as rxp
from constrain.regex.api import regex_dfa
from constrain.regex.automata import RegexLimits, build_dfa
from constrain.regex.literal import alternatives_dfa, chain_dfa, literal_language, literal_text
from constrain.schema.jsontext import _tree_json

# letters, digits, punctuation, regex metacharacters, 2-, 3- and 4-byte UTF-8, combining marks
_CHARS = st.sampled_from(list("aZ0 \":,-_~&#.*+?{}[]()|^$\\\t\n") + ["é", "ß", "中", "😀", "\u0301", "\x00", "\x7f"])
_TEXT = st.lists(_CHARS, min_size=1, max_size=12).map("".join)
_FLAGS = st.sampled_from([0, re.ASCII, re.UNICODE, re.DOTALL | re.UNICODE, re.MULTILINE])


def _pipeline(pattern: str, flags: int):
    return build_dfa(rxp.parse(pattern, flags))


def _json_string_pattern(text: str) -> str:
    """How the schema compiler writes a JSON string constant (``"`` + per-character regex + ``"``)."""
    tree = rxp.Concat(tuple(rxp.Chars(((ord(c), ord(c)),)) for c in text))
    return '"' + _tree_json(tree) + '"'


@settings(max_examples=300, deadline=None)
@given(_TEXT, _FLAGS)
def test_escaped_literal_is_recognised_and_equal(text, flags):
    pattern = re.escape(text)
    assert literal_text(pattern, flags) == text
    ref = _pipeline(pattern, flags)
    got = chain_dfa(text)
    assert np.array_equal(ref.transitions, got.transitions)
    assert np.array_equal(ref.accepting, got.accepting)


@settings(max_examples=300, deadline=None)
@given(_TEXT)
def test_json_string_constant_pattern(text):
    pattern = _json_string_pattern(text)
    lit = literal_text(pattern)
    if lit is None:  # a character with two JSON spellings (controls): an alternation
        assert "|" in pattern
        return
    assert re.fullmatch(pattern, lit) and lit.startswith('"') and lit.endswith('"')
    ref = _pipeline(pattern, 0)
    got = regex_dfa(pattern)
    assert np.array_equal(ref.transitions, got.transitions)
    assert np.array_equal(ref.accepting, got.accepting)


@pytest.mark.parametrize("pattern,flags", [
    ("a*", 0), ("(?i:a)", 0), ("(?i)a", 0), ("a", re.IGNORECASE), ("a", re.VERBOSE), ("[a]", 0),
    ("a|b", 0), ("(a)", 0), ("\\d", 0), ("\\b", 0), ("a{2}", 0), ("(?:a)?", 0), ("(?:a){2}", 0),
    ("", 0), ("\\ud800", 0), ("(?:a", 0), ("a)", 0), ("\\x41", 0), ("\\101", 0), ("a", re.ASCII | re.UNICODE),
    ("^a", 0), ("a$", 0), (".", 0), ("\\U00110000", 0), ("a}", 0),
])
def test_non_literals_are_refused(pattern, flags):
    assert literal_text(pattern, flags) is None


def test_limits_still_apply_to_long_literals():
    """A literal longer than the DFA state bound takes the general path and its error."""
    from constrain.errors import LimitExceeded

    with pytest.raises(LimitExceeded):
        regex_dfa("x" * 40, 0, RegexLimits(max_dfa_states=20))


_ASCII_WORD = st.lists(st.sampled_from(list("abcxyz0 \":,-.*()|{}\\")), min_size=1, max_size=7).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(_ASCII_WORD, min_size=2, max_size=8), st.booleans())
def test_ascii_alternation_is_the_pipelines_dfa(words, grouped):
    """Enum-like alternations (``(?:"a")|(?:"b")``, ``true|false``): the minimal trie DFA has
    the pipeline's arrays exactly (same minimisation, same breadth-first numbering)."""
    pattern = "|".join(("(?:" + re.escape(w) + ")") if grouped else re.escape(w) for w in words)
    assert literal_language(pattern) == words
    ref = _pipeline(pattern, 0)
    got = regex_dfa(pattern)
    assert np.array_equal(ref.transitions, got.transitions)
    assert np.array_equal(ref.accepting, got.accepting)
    assert np.array_equal(alternatives_dfa(words).transitions, ref.transitions)


@pytest.mark.parametrize("pattern", ["a|(?:b|c)", "a||b", "|a", "a|", "(?:a)|b*", "a|[bc]", "(?:)|a"])
def test_non_literal_alternations_are_refused(pattern):
    assert literal_language(pattern) is None


def test_non_ascii_alternation_takes_the_pipeline():
    """Multi-byte alternatives are left to the pipeline (its numbering puts mid-character states
    last); the language is the same either way."""
    pattern = "é|ab"
    assert literal_language(pattern) == ["é", "ab"]
    d = regex_dfa(pattern)
    ref = _pipeline(pattern, 0)
    assert np.array_equal(ref.transitions, d.transitions)
