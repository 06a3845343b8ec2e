"""The diffusion decoding loop: every constrained output parses (random and briefly trained models)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from constrain import Grammar  # noqa: E402
from constrain.grammar.testing import random_sentences  # noqa: E402
from constrain.infill import CharTokenizer, diffusion_generate  # noqa: E402
from tiny_diffusion import TinyDiffusionLM, train_tiny_diffusion  # noqa: E402

TOKENS = list('{}[],:" 0123456789-.abcxyz') + ["true", "null", '": ', "é".encode()[:1], "é".encode()[1:], '"a"']


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    g = Grammar.load("json")
    tok = CharTokenizer(TOKENS)
    return g, tok


def test_random_model_outputs_always_parse(setup):
    g, tok = setup
    model = TinyDiffusionLM(len(tok), d_model=32, n_layers=1, max_len=64)
    for seed in range(12):
        r = diffusion_generate(model, tok, None, g, gen_length=24, steps=12, block_length=8 if seed % 2 else None,
                               temperature=1.0, seed=seed, remasking="entropy" if seed % 3 == 0 else "confidence")
        assert g.accepts(r.data), (seed, r.data, r.fallback)


def test_trained_model(setup):
    g, tok = setup
    small = Grammar(r'''
start: value
value: "[" (value ("," value)*)? "]" | NUMBER | "true" | "null" | STRING
NUMBER: /-?[0-9]+/
STRING: /"[abc]*"/
''')
    sents = [s for s in random_sentences(small.cfg, 400, seed=1, max_depth=5) if len(s) <= 30]
    seqs = [tok.encode(s) for s in sents]
    model = TinyDiffusionLM(len(tok), d_model=48, n_layers=2, max_len=32)
    losses = train_tiny_diffusion(model, seqs, length=32, eos_id=tok.eos_token_id, steps=400, batch_size=32,
                                  time_budget_s=8.0)
    assert losses[-1] < losses[0]
    n_valid_unconstrained = 0
    for seed in range(10):
        r = diffusion_generate(model, tok, None, small, gen_length=32, steps=16, temperature=0.5, seed=seed)
        assert small.accepts(r.data), (seed, r.data)
        u = diffusion_generate(model, tok, None, None, gen_length=32, steps=16, temperature=0.5, seed=seed)
        n_valid_unconstrained += small.accepts(u.data)
    # the constrained loop is what makes 100%; the unconstrained rate is just recorded
    print("unconstrained valid:", n_valid_unconstrained, "/ 10")


def test_prompt_and_fallback(setup):
    g, tok = setup
    model = TinyDiffusionLM(len(tok), d_model=32, n_layers=1, max_len=64)
    r = diffusion_generate(model, tok, '{"a": ', g, gen_length=16, steps=4, temperature=1.0, seed=3,
                           max_rejections=0)
    assert g.accepts(r.data)
    r = diffusion_generate(model, tok, [2, 3], g, gen_length=8, steps=8, seed=1)
    assert g.accepts(r.data)
