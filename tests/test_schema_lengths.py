"""``pattern``/``format`` together with ``minLength``/``maxLength``: the exact product of the
pattern's DFA with a length counter (`constrain.schema.lengths`), checked against ``re.search``
plus ``len`` (and ``jsonschema``) over every short string of a small alphabet, by hypothesis, and
by mask-guided walks over the SmolLM2 vocabulary."""

from __future__ import annotations

import itertools
import json
import random
import re

import pytest

from constrain.errors import ConstraintError
from constrain.schema import JsonSchema

jsonschema = pytest.importorskip("jsonschema")

# patterns whose length varies in several places (the product is needed) or that are unanchored
PATTERNS = ["^([ab]+):([ab.]+):([ab]+)?:([ab]+)$", "[ab]+", "^(a|bb)+$", "a.*b", "^(?:\\S+\\s+){0,2}\\S+$",
            "^[ab]+(-[ab]+)*$", "b", "^(\\d+\\.\\d+.*)$", "^$|^a+b*$", "\"|\\\\"]
def _ecma(pat: str):
    """The pattern with ECMA-262's ``$`` (end of input; Python's ``$`` also matches before a final
    newline, which the compiler never produces: an under-approximation)."""
    return re.compile(pat.replace("$", r"\Z"))


ALPHABET = ["a", "b", ":", ".", "-", " ", "1", '"', "\\", "\n", "é"]


def _strings(max_len: int):
    for n in range(max_len + 1):
        for t in itertools.product(ALPHABET, repeat=n):
            yield "".join(t)


@pytest.mark.parametrize("pat", PATTERNS)
@pytest.mark.parametrize("mn,mx", [(0, 2), (1, 3), (3, 4), (2, 2)])
def test_pattern_with_lengths_exhaustive(pat, mn, mx):
    schema = {"type": "string", "pattern": pat, "minLength": mn, "maxLength": mx}
    rx = _ecma(pat)
    try:
        js = JsonSchema(schema)
    except ConstraintError as e:  # unsatisfiable: then no short string may match either
        assert "unsatisfiable" in str(e)
        assert not any(rx.search(s) and mn <= len(s) <= mx for s in _strings(mx)), schema
        return
    accepted = 0
    for s in _strings(min(mx + 1, 4)):
        want = bool(rx.search(s)) and mn <= len(s) <= mx
        text = json.dumps(s, ensure_ascii=False)
        got = js.accepts(text)
        assert got == want, (schema, text)
        accepted += got
    # escapes: the \\u00XX spellings of control characters are accepted too
    if mn <= 1 <= mx and rx.search("\n"):
        assert js.accepts('"\\u000a"') and js.accepts('"\\u000A"')


@pytest.mark.parametrize("schema,good,bad", [
    ({"type": "string", "format": "email", "maxLength": 12}, ["a@b.co", "ab.c@x.org"], ["abcdefgh@x.org", "a@"]),
    ({"type": "string", "format": "email", "maxLength": 1024}, ["first.last@example.com", "a" * 64 + "@x.org"],
     ["a" * 65 + "@x.org", "a@b@c"]),
    ({"type": "string", "format": "uri", "maxLength": 16}, ["http://a.b/c"], ["http://abc.de/fghij"]),
    ({"type": "string", "pattern": "[0-9a-fA-F]+", "minLength": 12, "maxLength": 12},
     ["0123456789ab", "zzzzzzzzzzz0"], ["0123456789a", "zzzzzzzzzzzz"]),
])
def test_formats_and_unanchored_patterns(schema, good, bad):
    js = JsonSchema(schema)
    val = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    for s in good:
        assert val.is_valid(s) and js.accepts(json.dumps(s)), s
    for s in bad:
        assert not js.accepts(json.dumps(s)), s


def test_large_product_is_refused_with_keyword():
    schema = {"type": "string", "pattern": "^(?:\\S+\\s+){0,40}\\S+$", "maxLength": 3000}
    with pytest.raises(ConstraintError) as e:
        JsonSchema(schema)
    assert e.value.keyword == "maxLength"


def test_hypothesis_against_re():
    hyp = pytest.importorskip("hypothesis")
    st = hyp.strategies

    @hyp.settings(max_examples=150, deadline=None, derandomize=True)
    @hyp.given(st.sampled_from(PATTERNS), st.integers(0, 6), st.integers(0, 6),
               st.text(alphabet="ab:.-1 \"\\\né", max_size=8))
    def check(pat, mn, extra, s):
        schema = {"type": "string", "pattern": pat, "minLength": mn, "maxLength": mn + extra}
        try:
            js = JsonSchema(schema)
        except ConstraintError as e:  # an unsatisfiable schema is the only refusal expected
            assert "unsatisfiable" in str(e)
            return
        want = bool(_ecma(pat).search(s)) and mn <= len(s) <= mn + extra
        assert js.accepts(json.dumps(s, ensure_ascii=False)) == want

    check()


@pytest.mark.parametrize("schema", [
    {"type": "object", "properties": {"curie": {"type": "string", "maxLength": 20,
                                                "pattern": "^([a-z0-9-]+):([a-z0-9\\.-]+):([a-z0-9-]+)?:([a-z0-9-]+)$"},
                                      "mail": {"type": "string", "format": "email", "maxLength": 25}},
     "required": ["curie", "mail"], "additionalProperties": False},
    {"type": "array", "items": {"type": "string", "pattern": "^(\\d+\\.\\d+\\.\\d+.*)$", "maxLength": 12}, "minItems": 1},
])
def test_walks_validate(schema, smollm2_vocab):
    from tests.test_schema_soundness import _walk

    js = JsonSchema(schema)
    compiled = js.compile(smollm2_vocab)
    val = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    rng = random.Random(7)
    done = 0
    for _ in range(6):
        text = _walk(compiled.matcher(), smollm2_vocab, rng, max_tokens=120)
        if text is None:
            continue
        value = json.loads(text.decode("utf-8"))
        assert val.is_valid(value), text
        done += 1
    assert done >= 2


@pytest.mark.parametrize("keys", [[], ["a"], ["ab", "a", "b"], ["é", "éa", "日本", "a😀"], ["x" * 30, "y"]])
@pytest.mark.parametrize("colon", ["", ":", "(?:[ ]?):(?:[ ]?)"])
def test_not_keys_dfa_equals_its_regex(keys, colon):
    """The trie-built DFA of additional keys (`keydfa`) has exactly the language of the regex it
    replaces (`jsontext._not_keys_pattern`), over random JSON-text byte strings."""
    from constrain.regex.api import regex_dfa
    from constrain.schema.jsontext import _not_keys_pattern
    from constrain.schema.keydfa import not_keys_dfa

    pattern = _not_keys_pattern(keys) + colon
    direct = not_keys_dfa(keys, regex_dfa(colon) if colon else None)
    reference = regex_dfa(pattern)
    rng = random.Random(len(keys) * 7 + len(colon))
    pieces = ['"', "a", "b", "x", "y", "é", "日", "本", "😀", "\\n", "\\u001F", "\\u00e9", "\\\\", '\\"', "\\/",
              ":", " ", "\x01", "\ud800"[:0]] + [k for k in keys]
    for _ in range(3000):
        body = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 4)))
        for text in (f'"{body}"' + rng.choice(["", ":", " :", ": "]), body):
            data = text.encode("utf-8")
            assert direct.fullmatch(data) == reference.fullmatch(data), (keys, colon, text)
            assert direct.fullmatch(data) == bool(re.fullmatch(pattern, text)), (keys, colon, text)
    for data in (b'"\xed\xa0\x80"', b'"\xc0\xaf"', b'"\xf4\x90\x80\x80"', b'"\xe0\x80\x80"'):  # invalid UTF-8
        assert not direct.fullmatch(data + colon.encode()[:1])


@pytest.mark.parametrize("mn,mx", [(0, None), (0, 0), (0, 3), (2, 5), (3, None), (1, 1)])
@pytest.mark.parametrize("colon", ["", ":"])
def test_unit_string_dfa_equals_its_regex(mn, mx, colon):
    """Plain strings with length bounds: the layered DFA (`keydfa.unit_string_dfa`) has exactly
    the language of ``'"' + _UNIT{mn,mx} + '"'``."""
    from constrain.regex.api import regex_dfa
    from constrain.schema.jsontext import _UNIT
    from constrain.schema.keydfa import unit_string_dfa

    pattern = f'"{_UNIT}{{{mn},{"" if mx is None else mx}}}"' + colon
    direct = unit_string_dfa(mn, mx, regex_dfa(colon) if colon else None)
    reference = regex_dfa(pattern)
    rng = random.Random(mn * 31 + (mx or 99) + len(colon))
    pieces = ["a", "é", "日", "😀", "\\n", "\\/", "\\u001F", "\\uD7FF", "\\ud800", "\\uDC00", "\\uE000", "\\u12",
              '\\"', "\\\\", "\\x", '"', ":", "\x01"]
    for _ in range(3000):
        body = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 6)))
        for text in (f'"{body}"' + rng.choice(["", ":"]), body):
            data = text.encode("utf-8")
            assert direct.fullmatch(data) == reference.fullmatch(data), (mn, mx, colon, text)
