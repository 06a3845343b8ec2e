"""Composed grammars (Sequence, OneOf, Choice, Tagged, Reasoning) against references written
independently: Python regexes with lookaheads (``regex`` partial matching for prefixes) give
the brute-force mask over a tiny vocabulary at every step of random walks."""

from __future__ import annotations

import random

import numpy as np
import pytest
import regex

import constrain as cn
from constrain.bitmask import bitmask_to_bool
from constrain.compose import Literal, OneOf, Sequence, to_cfg
from constrain.errors import InvalidSyntax, UnsupportedFeature
from constrain.tagged import Tag, TagMatch, Tagged

PIECES = ["a", "b", "c", "d", "x", "y", "<", "/", "t", ">", " ", "\n", "</", "t>", "</t>", "t>a",
          ">ab", "x<", "ab", "</t>b", "<t", "<t>", "yes", "no", "ye", "s<", "<c>", "<c", "c>",
          "</c>", "</c", "<d>", "d>x", "xy", "ba", ">\n", "  ", "e", "s", "n", "o", "z"]


def tiny_vocab() -> cn.Vocabulary:
    return cn.Vocabulary.from_bytes([None] + [p.encode() for p in PIECES], eos_ids=[0])


def ref_mask(ref: str, prefix: str, vocab) -> np.ndarray:
    exp = np.zeros(vocab.size, dtype=bool)
    for i, tb in enumerate(vocab.token_bytes):
        if tb:
            exp[i] = regex.fullmatch(ref, prefix + tb.decode(), partial=True) is not None
    exp[0] = regex.fullmatch(ref, prefix) is not None
    return exp


def walk_against_reference(constraint, ref: str, *, seeds=range(8), steps=30):
    vocab = tiny_vocab()
    comp = constraint.compile(vocab)
    buf = np.zeros((1, vocab.words), dtype=np.int32)
    for seed in seeds:
        rng = random.Random(seed)
        m = comp.matcher()
        prefix = ""
        for _ in range(steps):
            m.fill_mask(buf, 0)
            got = bitmask_to_bool(buf, vocab.size)[0]
            exp = ref_mask(ref, prefix, vocab)
            bad = np.flatnonzero(got != exp)
            assert not bad.size, (prefix, [(vocab.token_bytes[i], got[i]) for i in bad[:5]])
            assert [m.allows(i) for i in range(vocab.size)] == got.tolist()
            assert m.is_accepting() == bool(exp[0])
            choices = [i for i in np.flatnonzero(got) if i != 0]
            if not choices:
                break
            marked = [i for i in choices if set(vocab.token_bytes[i].decode()) & set("<>/")]
            t = rng.choice(marked if marked and rng.random() < 0.5 else choices)  # reach the tags
            m.advance(int(t))
            prefix += vocab.token_bytes[t].decode()
        assert constraint.accepts(prefix) == (regex.fullmatch(ref, prefix) is not None)


FREE_CD = r"(?:(?!<c>|<d>)[\s\S])*"
TAG_CD = r"(?:<c>[ab]{1,3}</c>|<d>(?:xy|x))"
SEP = r"[ \t\r\n]{0,8}"

CASES = {
    "reasoning": (lambda: cn.Reasoning(cn.Regex("[ab]+"), end="</t>"),
                  r"(?:(?!</t>)[\s\S])*</t>[ab]+"),
    "reasoning_start_choice": (lambda: cn.Reasoning(cn.Choice(["yes", "no"]), end="</t>", start="<t>"),
                               r"<t>(?:(?!</t>)[\s\S])*</t>(?:yes|no)"),
    "tagged_free": (lambda: Tagged([Tag("<c>", cn.Regex("[ab]{1,3}"), "</c>"),
                                    Tag("<d>", cn.Choice(["x", "xy"]))]),
                    rf"{FREE_CD}(?:{TAG_CD}{FREE_CD})*"),
    "tagged_at_most_one": (lambda: Tagged([Tag("<c>", cn.Regex("[ab]{1,3}"), "</c>"),
                                           Tag("<d>", cn.Choice(["x", "xy"]))], max_tags=1),
                           rf"{FREE_CD}(?:{TAG_CD}{FREE_CD})?"),
    "tagged_required_no_text": (lambda: Tagged([Tag("<c>", cn.Regex("[ab]{1,3}"), "</c>")],
                                               text=False, min_tags=1, max_tags=2),
                                rf"(?:{SEP}<c>[ab]{{1,3}}</c>){{1,2}}{SEP}"),
    "tagged_shared_trigger": (lambda: Tagged([Tag("<c>a", cn.Regex("b+"), "</c>"),
                                              Tag("<c>b", cn.Regex("a"), "/")], triggers=["<c>"],
                                             min_tags=1),
                              r"(?:(?!<c>)[\s\S])*(?:(?:<c>ab+</c>|<c>ba/)(?:(?!<c>)[\s\S])*)+"),
    "sequence": (lambda: Sequence("ab", OneOf(cn.Regex("c+"), Literal("d")), cn.Choice(["x", "yz"])),
                 r"ab(?:c+|d)(?:x|yz)"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_masks_equal_brute_force(name):
    make, ref = CASES[name]
    walk_against_reference(make(), ref)


def test_reasoning_budget_forces_marker():
    vocab = tiny_vocab()
    r = cn.Reasoning(cn.Regex("[ab]+"), end="</t>", max_thinking_tokens=3)
    m = r.compile(vocab).matcher()
    buf = np.zeros((1, vocab.words), dtype=np.int32)
    tid = {p: i + 1 for i, p in enumerate(PIECES)}
    for p in ["x", "<"]:
        m.advance(tid[p])
    m.fill_mask(buf, 0)
    assert bitmask_to_bool(buf, vocab.size)[0].sum() > 20  # budget not spent: free text
    m.advance(tid["z"])  # three tokens: from now on only the marker (from scratch: "z" broke "<")
    m.fill_mask(buf, 0)
    forced = bitmask_to_bool(buf, vocab.size)[0]
    allowed = {vocab.token_bytes[i].decode() for i in np.flatnonzero(forced)}
    assert allowed == {"<", "</", "</t>", "</t>b"}
    m.advance(tid["</"])
    m.fill_mask(buf, 0)
    allowed = {vocab.token_bytes[i].decode() for i in np.flatnonzero(bitmask_to_bool(buf, vocab.size)[0])}
    assert allowed == {"t", "t>", "t>a"}
    m.advance(tid["t>a"])
    assert m.is_accepting() and m.thinking_done
    fork = m.fork()
    m.rollback(2)
    assert not m.thinking_done and fork.thinking_done
    with pytest.raises(cn.TokenRejected):
        m.advance(tid["x"])


def test_choice():
    c = cn.Choice(["yes", "no", "yes", "n/a"])
    assert c.strings == ("yes", "no", "n/a")
    assert c.fullmatch("n/a") and not c.fullmatch("ye") and c.parse("no") == "no"
    with pytest.raises(InvalidSyntax):
        cn.Choice([])
    with pytest.raises(InvalidSyntax):
        cn.Choice(["a", 1])


def test_grammar_ignore_stays_local():
    g = cn.Grammar('start: "(" start ")" | "x"\n%ignore " "')
    o = Sequence(OneOf(g, Literal("none")), "!")
    assert o.accepts("( (x) ) !") and o.accepts("none!")
    assert not o.accepts(" none!") and not o.accepts("none !")


def test_schema_in_sequence():
    js = cn.JsonSchema({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]})
    s = Sequence("Result: ", js, cn.Regex(r"\n?"))
    assert s.accepts('Result: {"n":3}\n') and not s.accepts('Result: {"n":"3"}')


def test_token_level_constraints_refused():
    with pytest.raises(UnsupportedFeature):
        to_cfg(cn.Items([[1, 2]]))
    with pytest.raises(TypeError):
        to_cfg(3)


def test_tagged_parse_and_errors():
    t = Tagged([Tag("<c>", cn.Regex("[ab]{1,3}"), "</c>"), Tag("<d>", cn.Choice(["x", "xy"]))])
    segs = t.parse("hi <c>ab</c> and <d>xy!")
    assert segs[0] == "hi " and isinstance(segs[1], TagMatch) and segs[1].body == "ab"
    assert segs[2] == " and " and segs[3].index == 1 and segs[3].body == "x" and segs[4] == "y!"
    with pytest.raises(ValueError):
        t.parse("hi <c>ab")  # cut short
    with pytest.raises(InvalidSyntax):
        Tagged([Tag("<c>", "x")], triggers=["<d>"])
    with pytest.raises(InvalidSyntax):
        Tagged([Tag("<c>", "x")], min_tags=2, max_tags=1)


class _UniformLM:
    def __init__(self, vocab):
        self.vocab = vocab

    def logprobs(self, contexts):
        return np.full((len(contexts), self.vocab.size), -np.log(self.vocab.size), dtype=np.float32)


@pytest.mark.parametrize("method", ["lcd", "awrs", "smc"])
def test_samplers_take_reasoning_and_tagged_unchanged(method):
    vocab = tiny_vocab()
    r = cn.Reasoning(cn.Regex("[ab]{1,4}"), end="</t>", max_thinking_tokens=4)
    res = cn.sample(_UniformLM(vocab), r, method=method, n_particles=4, max_tokens=20, seed=1)
    done = [(seq, text) for seq, text, o in zip(res.sequences, res.texts, res.outcomes)
            if o.status == "complete"]
    assert done
    for seq, text in done:
        thinking, answer = r.split(text)
        assert r.accepts(text) and regex.fullmatch("[ab]{1,4}", answer)
        # at most the budget of free tokens, then the marker's pieces (at most 4 bytes)
        assert len(seq) <= 4 + 4 + len(answer) + 1
    t = Tagged([Tag("<c>", cn.Regex("[ab]{1,3}"), "</c>")], text=False, min_tags=1)
    res = cn.sample(_UniformLM(vocab), t, method=method, n_particles=4, max_tokens=24, seed=2)
    for text, o in zip(res.texts, res.outcomes):
        if o.status == "complete":
            assert t.accepts(text)


def test_disk_cache_round_trip(tmp_path):
    from constrain.cache import DiskCache

    vocab = tiny_vocab()
    d = DiskCache(tmp_path)
    for c in (cn.Reasoning(cn.Regex("[ab]+"), end="</t>", max_thinking_tokens=2),
              Tagged([Tag("<c>", cn.Regex("[ab]{1,3}"), "</c>")]), cn.Choice(["a", "ab"])):
        fresh = c.compile(vocab, cache=False).matcher()
        d.compile(c, vocab)
        loaded = d.compile(c, vocab).matcher()  # from disk
        for tok in (vocab.token_bytes.index(b"x"), vocab.token_bytes.index(b"a")):
            assert np.array_equal(fresh.allowed_tokens(), loaded.allowed_tokens())
            if not fresh.allows(tok):
                break
            fresh.advance(tok)
            loaded.advance(tok)
