"""Regex → byte DFA: the language is exactly ``re.fullmatch``'s; errors are typed and located."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import constrain as cn
from constrain.regex.automata import RegexLimits

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
BENCH_FILE = SHARED / "outlines-core-bench" / "benchmark_inputs.json"
# outlines-core's benchmark regexes join our patterns when the shared data lies beside the checkout
BENCH_REGEXES = json.loads(BENCH_FILE.read_text())["regexes"] if BENCH_FILE.exists() else {}

OUR_PATTERNS = [
    r"\d{3}-\d{4}",
    r"(yes|no|maybe)",
    r"[A-Z][a-z]{2,8}( [A-Z][a-z]{2,8})?",
    r"-?\d+(\.\d+)?([eE][+-]?\d+)?",
    r"\w+@\w+\.(com|org)",
    r"(?i)hello|straße",
    r"(?i:ab)c[^x-z]*",
    r"(café|naïve|日本|😀+)",
    r"[^\n]{0,5}x",
    r"a{2,}b{,3}c{2}",
    r"\s*\S+\s*",
    r"(?s).{1,3}",
    r"[\u00e0-\u00ff\u4e00-\u4e0f]+",
    r"^abc$",
    r"(a|b)*abb",
    r"\W\D",
    r"(?a)\w+\d",
    r"[\w.-]+",
    r"x*?y+?z??",
    r"(?x) a b  # comment\n c",
    r"[]a]|[^]b]",
    r"\x41\u00e9\U0001F600\N{BULLET}",
]
PATTERNS = OUR_PATTERNS + list(BENCH_REGEXES.values())

TEXT = st.text(alphabet=st.one_of(
    st.sampled_from("abcxyzABC019-_.@ \n\t/:()|'\",+eE"),
    st.characters(codec="utf-8"),
), max_size=24)


def _ours(pattern: str, flags: int = 0) -> cn.Regex:
    """Our regex; its ``flags`` are the effective ``re`` flags (``re.ASCII`` added by default)."""
    return _cache.setdefault((pattern, flags), cn.Regex(pattern, flags=flags))


_cache: dict[tuple[str, int], cn.Regex] = {}


@pytest.mark.parametrize("pattern", PATTERNS)
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_language_equals_re_fullmatch(pattern, data):
    ours = _ours(pattern)
    rx = re.compile(pattern, ours.flags)
    # positives from hypothesis' own regex generator, and arbitrary text (mostly negatives)
    # (drawn under re's Unicode semantics: hypothesis' generator trips on some re.ASCII classes)
    s = data.draw(st.one_of(st.from_regex(re.compile(pattern), fullmatch=True), TEXT))
    try:
        s.encode()
    except UnicodeEncodeError:  # lone surrogates: no UTF-8 form, a model can never emit them
        return
    assert ours.fullmatch(s) == bool(rx.fullmatch(s)), (pattern, s)


@pytest.mark.parametrize("pattern", [r"\d", r"\w", r"\s", r"\D", r"\W", r"\S", r".", r"(?s).",
                                     r"(?i)k", r"(?i)[a-z]", r"(?i)ß", r"(?i)[^a-zα]", r"(?i)\w",
                                     r"(?a)\w", r"(?ai)[k-s]", r"(?i)[\u0130-\u0131]"])
@pytest.mark.parametrize("flags", [0, re.UNICODE], ids=["default-ascii", "unicode"])
def test_single_characters_over_unicode(pattern, flags):
    """Every 3rd code point, every cased one nearby and the first 4096 code points, under the
    default (ASCII classes) and under ``re.UNICODE`` (Python's own semantics)."""
    if flags and "(?a" in pattern:
        pytest.skip("re refuses ASCII and UNICODE together")
    ours = _ours(pattern, flags)
    rx = re.compile(pattern, ours.flags)
    cps = list(range(0, 4096)) + list(range(4096, 0x110000, 3))
    for cp in cps:
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        assert ours.fullmatch(ch) == bool(rx.fullmatch(ch)), (pattern, hex(cp))


@pytest.mark.parametrize("pattern,feature", [
    (r"a(?=b)", "lookahead"),
    (r"a(?!b)c", "lookahead"),
    (r"(?<=a)b", "lookbehind"),
    (r"(?<!a)b", "lookbehind"),
    (r"(a)\1", "backreference"),
    (r"(?P<x>a)(?P=x)", "backreference"),
    (r"\bword\b", "word boundary (\\b, \\B)"),
    (r"a\Bb", "word boundary (\\b, \\B)"),
    (r"(a)?(?(1)b|c)", "conditional group"),
    (r"(?>ab|a)c", "atomic group"),
    (r"a*+a", "possessive quantifier"),
    (r"a^b", "anchor"),
    (r"a$b", "anchor"),
])
def test_unsupported_features_are_named_and_located(pattern, feature):
    with pytest.raises(cn.UnsupportedFeature) as e:
        cn.Regex(pattern)
    assert e.value.feature == feature
    assert e.value.position is not None
    assert isinstance(e.value, cn.ConstraintError)
    assert feature.split()[0] in str(e.value)


@pytest.mark.parametrize("pattern,pos", [("a(b", 1), ("[a-", 0), ("a{2,1}", 2), ("*a", 0),
                                         ("a)", 1), (r"\p{L}", 0), ("(?Px)", 1)])
def test_malformed_patterns(pattern, pos):
    with pytest.raises(cn.InvalidSyntax) as e:
        cn.Regex(pattern)
    assert e.value.position == pos
    assert isinstance(e.value, cn.ConstraintError)


def test_empty_language_is_an_error():
    with pytest.raises(cn.InvalidSyntax):
        cn.Regex(r"[^\s\S]")


def test_state_limit():
    with pytest.raises(cn.LimitExceeded) as e:
        cn.Regex(r"[ab]*a[ab]{14}", limits=RegexLimits(max_dfa_states=1000))
    assert e.value.limit == "max_dfa_states"
    with pytest.raises(cn.LimitExceeded) as e:
        cn.Regex(r"(abc){5000}", limits=RegexLimits(max_nfa_states=10_000))
    assert e.value.limit == "max_nfa_states"


def test_time_limit():
    with pytest.raises(cn.LimitExceeded) as e:
        cn.Regex(r"\w{1,400}", flags=re.UNICODE, limits=RegexLimits(max_seconds=0.01))
    assert e.value.limit == "max_seconds"


def test_dfa_is_minimal_on_known_cases():
    assert _ours(r"(a|b)*abb").dfa.n_states == 4
    assert _ours(r"(yes|no|maybe)").dfa.n_states == 9
    assert _ours(r"[0-9]{3}").dfa.n_states == 4


@example(s="\x00")
@settings(max_examples=200, deadline=None)
@given(s=st.text(max_size=8))
def test_dot_star_accepts_everything_without_newline(s):
    assert _ours(r".*").fullmatch(s) == ("\n" not in s)


def test_same_language():
    from constrain.regex.api import regex_dfa
    from constrain.regex.automata import same_language
    assert same_language(regex_dfa(r"(a|b)*"), regex_dfa(r"(a*b*)*"))
    assert same_language(regex_dfa(r"[\s\S]*"), regex_dfa(r"(?s:.)*|x"))
    assert not same_language(regex_dfa(r"a*"), regex_dfa(r"a+"))
    assert not same_language(regex_dfa(r"日本"), regex_dfa(r"日本|日"))


def test_default_classes_are_ascii_and_unicode_is_a_flag_away():
    """``\\d`` gives ASCII dates by default; ``re.UNICODE`` or ``(?u)`` restores ``re``'s default."""
    segmented = "\U0001FBF2\U0001FBF0\U0001FBF2\U0001FBF4"
    assert cn.Regex(r"\d{4}").flags & re.ASCII
    assert cn.Regex(r"\d{4}").fullmatch("2024") and not cn.Regex(r"\d{4}").fullmatch(segmented)
    assert cn.Regex(r"\d{4}", flags=re.UNICODE).fullmatch(segmented)
    assert cn.Regex(r"(?u)\d{4}").fullmatch(segmented)
    assert not cn.Regex(r"\w").fullmatch("é") and cn.Regex(r"\w", flags=re.UNICODE).fullmatch("é")
    assert not cn.Regex(r"\s").fullmatch("\u00a0")
    # grammar terminals keep re's semantics (Lark's): Regex.cached passes flags as given
    assert cn.Regex.cached(r"\d").fullmatch("\u0663")
