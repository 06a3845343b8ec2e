"""Multi-region infilling with SmolLM2: the output parses every time."""

from __future__ import annotations

import pytest

from constrain import Grammar, Regex
from constrain.infill import END, Hole, Partial, infill


@pytest.fixture(scope="module")
def smol():
    from constrain import models

    return models.load_smollm2_model(), models.load_smollm2_tokenizer()


def test_infill_json_template(smol):
    model, tok = smol
    g = Grammar.load("json")
    templates = [
        '{"name": "<|hole|>", "age": <|hole|>}',
        '[<|hole|>, "b<|hole|>]',
        Partial(['{"city": ', Hole(max_bytes=12), ', "zip": ', Hole(), "}", END]),
        Partial(["[tr", Hole(), END]),
    ]
    for i, t in enumerate(templates):
        r = infill(model, tok, t, g, prompt="A JSON record:\n", max_new_tokens=8, temperature=0.7 * (i % 2), seed=i)
        assert g.accepts(r.data), (t, r.data, r.fallback)


def test_infill_regex(smol):
    model, tok = smol
    r = Regex(r"[0-9]{3}-[0-9]{4}")
    out = infill(model, tok, Partial(["55", Hole(), "-12", Hole(), END]), r, max_new_tokens=6)
    assert r.fullmatch(out.data)
