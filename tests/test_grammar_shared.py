"""The engine on every shared grammar: acceptance equals lark's Earley parser (all-splits lexing,
``lexer="dynamic_complete"``) on random and mutated sentences, fed whole and token by token with
the real SmolLM2 tokenizer. Where lark's first-match regex lexing is not exact, the exact
all-splits reference recognizer (`constrain.grammar.testing.AllSplitsRecognizer`) decides.
"""

from __future__ import annotations

import random
import re
import warnings
from pathlib import Path

import pytest

import constrain as cn
from constrain.grammar.gbnf import gbnf_to_cfg
from constrain.grammar.lark_frontend import lark_to_cfg
from constrain.grammar.testing import (AllSplitsRecognizer, lark_accepts, lark_parser, mutate,
                                       random_sentences)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "grammars"
LARK_FILES = sorted((DATA / "lark").rglob("*.lark"))
GBNF_FILES = sorted((DATA / "gbnf").rglob("*.gbnf"))
SKIP = {"common.lark", "unicode.lark"}  # libraries without a start rule


def _start_of(text: str) -> str:
    starts = re.findall(r"^\s*[?!]?(start|file_input|single_input)\s*:", text, re.M)
    return "start" if "start" in starts else (starts[0] if starts else "start")


def _cfg(path: Path):
    text = path.read_text()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if path.suffix == ".gbnf":
                return gbnf_to_cfg(text, allow_unreachable=True)
            return lark_to_cfg(text, _start_of(text), path=str(path), allow_unreachable=True)
        except (cn.UnsupportedFeature, cn.InvalidSyntax) as e:  # refusals are tested elsewhere
            pytest.skip(f"front end refuses this grammar: {e}"[:200])


def _check(cfg, sentences, use_lark: bool, tokenizer) -> None:
    grammar = cn.Grammar.from_cfg(cfg)
    exact = AllSplitsRecognizer(cfg)
    ref_parser = lark_parser(cfg) if use_lark else None
    for s in sentences:
        ours = grammar.accepts(s)
        ref = lark_accepts(ref_parser, s) if use_lark else exact.accepts(s)
        if ours != ref and use_lark and len(s) <= 200:
            ref = exact.accepts(s)  # lark lexes first-match only; the exact recognizer decides
        assert ours == ref, f"engine says {ours} on {s!r}"


@pytest.mark.parametrize("path", [p for p in LARK_FILES if p.name not in SKIP],
                         ids=lambda p: str(p.relative_to(DATA)))
def test_engine_equals_lark_on_shared_grammars(path, smollm2_tokenizer, smollm2_vocab):
    cfg = _cfg(path)
    sentences = random_sentences(cfg, 8, seed=11, max_depth=6, max_len=100)
    rng = random.Random(5)
    mutated = [mutate(s, rng) for s in sentences]
    _check(cfg, sentences + mutated, True, smollm2_tokenizer)
    _token_by_token(cfg, sentences[:2], smollm2_tokenizer, smollm2_vocab)


@pytest.mark.parametrize("path", GBNF_FILES, ids=lambda p: str(p.relative_to(DATA)))
def test_engine_on_shared_gbnf_grammars(path, smollm2_tokenizer, smollm2_vocab):
    cfg = _cfg(path)
    sentences = [s for s in random_sentences(cfg, 8, seed=3, max_depth=6, max_len=60)]
    rng = random.Random(9)
    mutated = [mutate(s, rng) for s in sentences]
    _check(cfg, sentences + mutated, False, smollm2_tokenizer)
    _token_by_token(cfg, sentences[:2], smollm2_tokenizer, smollm2_vocab)


def _token_by_token(cfg, sentences, tokenizer, vocab) -> None:
    """Feeding the tokenizer's tokens one by one: every token is allowed, and the end accepts."""
    compiled = cn.Grammar.from_cfg(cfg).compile(vocab)
    for s in sentences:
        ids = tokenizer.encode(s, add_special_tokens=False)
        if vocab.decode(ids) != s.encode():
            continue  # the tokenizer cannot represent this text (missing bytes)
        m = compiled.matcher()
        for t in ids:
            assert m.allows(t), (s, t, vocab.token_bytes[t])
            m.advance(t)
        assert m.is_accepting(), s
        assert m.allows(int(vocab.eos_ids[0]))
