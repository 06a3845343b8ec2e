"""One vocabulary policy: every entry point gets its vocabulary from `vocabulary_for`, sized by the
logits width, with the one EOS rule (`default_eos_ids`); the cache never keeps a tokenizer alive."""

from __future__ import annotations

import gc

import numpy as np
import pytest
import torch

import constrain as cn
from constrain import vocab as vocab_mod
from constrain.infill.diffusion import as_vocabulary
from constrain.sampling import HFModel
from constrain.vocab import default_eos_ids, logits_width, vocabulary_for


def test_one_cached_vocabulary_per_tokenizer_and_width(smollm2_tokenizer):
    tok = smollm2_tokenizer
    v = vocabulary_for(tok, 49216)
    assert vocabulary_for(tok, 49216) is v and v.size == 49216
    assert tuple(v.eos_ids.tolist()) == default_eos_ids(tok)
    assert set(default_eos_ids(tok)) >= {tok.eos_token_id}
    assert vocabulary_for(tok, 49216, eos_ids=[2]) is not v
    assert v.fingerprint == cn.Vocabulary.from_hf(tok, size=49216).fingerprint


def test_processor_sampler_and_infilling_share_it(smollm2_tokenizer, smollm2_model):
    tok, model = smollm2_tokenizer, smollm2_model
    width = logits_width(model, tok)
    assert width == model.get_output_embeddings().weight.shape[0]
    proc = cn.LogitsProcessor(cn.Regex(r"(yes|no)"), tok)
    proc(torch.tensor([[1, 2]]), torch.zeros(1, width))
    lm = HFModel(model, tok, "hi")
    assert proc.vocab is lm.vocab is vocabulary_for(tok, width)
    assert as_vocabulary(tok, width) is lm.vocab


def test_vocabularies_resize_and_pass_through(tiny_vocab):
    assert vocabulary_for(tiny_vocab) is tiny_vocab
    wider = vocabulary_for(tiny_vocab, 40)
    assert wider.size == 40 and wider.token_bytes[:16] == tiny_vocab.token_bytes
    assert np.array_equal(wider.eos_ids, tiny_vocab.eos_ids)
    with pytest.raises(ValueError):
        vocabulary_for(tiny_vocab, 0)
    with pytest.raises(TypeError):
        vocabulary_for(tiny_vocab, 12.0)
    with pytest.raises(TypeError):
        vocabulary_for("gpt2")


class _Tok:
    eos_token_id = 1


def test_cache_does_not_keep_tokenizers_alive(monkeypatch, tiny_vocab):
    monkeypatch.setattr(vocab_mod.Vocabulary, "from_hf",
                        staticmethod(lambda tok, size=None, eos_ids=None: tiny_vocab))
    vocab_mod.clear_vocabulary_cache()
    toks = [_Tok() for _ in range(50)]
    for t in toks:
        assert vocabulary_for(t) is tiny_vocab
    assert len(vocab_mod._WEAK_CACHE) == 50
    del toks, t
    gc.collect()
    assert len(vocab_mod._WEAK_CACHE) == 0
