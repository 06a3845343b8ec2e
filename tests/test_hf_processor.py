"""constrain.hf.LogitsProcessor driven by hand (scripted input_ids/scores) and through HF
``generate`` on a tiny random Llama, with a fake constraint over a tiny vocabulary."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from constrain.errors import TokenRejected
from constrain.hf import LogitsProcessor
import constrain.hf as hf_mod

NEG = float("-inf")

# id: bytes (None = special)
TOKENS = [None, None, b"a", b"b", b"c", b"ab", b"abc", b"1", b"2", b"12", b"x"]
EOS, PAD = 0, 1
A, B, C, AB, ABC, ONE, TWO, ONETWO, X = 2, 3, 4, 5, 6, 7, 8, 9, 10


class FakeTokenizer:
    eos_token_id = EOS
    pad_token_id = PAD


class FakeVocab:
    def __init__(self, tokens, eos_ids, size=None):
        self.token_bytes = list(tokens) + [None] * ((size or len(tokens)) - len(tokens))
        self.size = len(self.token_bytes)
        self.words = (self.size + 31) // 32
        self.eos_ids = np.asarray(eos_ids, dtype=np.int32)


class SetMatcher:
    """Matches exactly one string of a fixed set; EOS allowed exactly when accepting."""

    def __init__(self, compiled, text=b"", history=None):
        self.c = compiled
        self.text = text
        self.history = history if history is not None else []
        self.terminated = False

    def _ok(self, t):
        v = self.c.vocab
        if t < 0 or t >= v.size:
            return False
        if t in self.c.eos:
            return self.is_accepting()
        if self.terminated:
            return False
        b = v.token_bytes[t]
        if not b:
            return False
        new = self.text + b
        return any(s.startswith(new) for s in self.c.strings)

    def allows(self, t):
        return self._ok(int(t))

    def fill_mask(self, bitmask, row=0):
        bitmask[row] = 0
        u = bitmask.view(np.uint32)
        for t in range(self.c.vocab.size):
            if self._ok(t):
                u[row, t >> 5] |= np.uint32(1 << (t & 31))

    def advance(self, t):
        t = int(t)
        if not self._ok(t):
            raise TokenRejected(f"token {t} rejected after {self.text!r}")
        self.c.advances += 1
        self.history.append(self.text)
        if t in self.c.eos:
            self.terminated = True
        else:
            self.text += self.c.vocab.token_bytes[t]

    def rollback(self, n):
        for _ in range(n):
            self.text = self.history.pop()
            self.terminated = False

    def fork(self):
        m = SetMatcher(self.c, self.text, list(self.history))
        m.terminated = self.terminated
        return m

    def is_accepting(self):
        return self.text in self.c.strings

    def is_terminated(self):
        return self.terminated


class Compiled:
    def __init__(self, strings, vocab):
        self.strings = [s.encode() for s in strings]
        self.vocab = vocab
        self.eos = set(int(e) for e in vocab.eos_ids)
        self.advances = 0

    def matcher(self):
        return SetMatcher(self)


class SetConstraint:
    def __init__(self, *strings):
        self.strings = strings
        self.compiled_with = []

    def compile(self, vocab):
        self.compiled_with.append(vocab)
        return Compiled(self.strings, vocab)


def vocab(size=None):
    return FakeVocab(TOKENS, [EOS], size=size)


def allowed(scores_row):
    return set(torch.isfinite(scores_row).nonzero().flatten().tolist())


def brute_allowed(strings, text: bytes, size=len(TOKENS)):
    """Reference: ids allowed after ``text`` for the set constraint."""
    out = set()
    enc = [s.encode() for s in strings]
    for t, b in enumerate(TOKENS[:size]):
        if t == EOS:
            if text in enc:
                out.add(t)
        elif b and any(s.startswith(text + b) for s in enc):
            out.add(t)
    return out


def ids(rows):
    return torch.tensor(rows, dtype=torch.long)


STRINGS = ("abc", "ab", "12")


def test_greedy_single_row_step_by_step():
    proc = LogitsProcessor(SetConstraint(*STRINGS), FakeTokenizer(), vocab=vocab())
    prompt = [5, 9, 3]
    seq = []
    text = b""
    for tok in [A, B, C, EOS]:
        scores = torch.zeros(1, len(TOKENS))
        out = proc(ids([prompt + seq]), scores)
        assert allowed(out[0]) == brute_allowed(STRINGS, text)
        assert tok in allowed(out[0])
        assert torch.equal(scores, torch.zeros(1, len(TOKENS)))  # returns a copy
        seq.append(tok)
        if tok != EOS:
            text += TOKENS[tok]
    # after EOS the row is finished: EOS/pad allowed, nothing raises
    out = proc(ids([prompt + seq]), torch.zeros(1, len(TOKENS)))
    assert allowed(out[0]) == {EOS, PAD}
    out = proc(ids([prompt + seq + [PAD]]), torch.zeros(1, len(TOKENS)))
    assert allowed(out[0]) == {EOS, PAD}
    # without a tokenizer the pad id is unknown: EOS only
    proc = LogitsProcessor(SetConstraint(*STRINGS), vocab=vocab())
    proc(ids([[3]]), torch.zeros(1, 11))
    out = proc(ids([[3, EOS]]), torch.zeros(1, 11))
    assert allowed(out[0]) == {EOS}


def test_beam_reordering_and_sharing():
    c = SetConstraint(*STRINGS)
    proc = LogitsProcessor(c, FakeTokenizer(), vocab=vocab())
    p = [4, 4]
    proc(ids([p, p, p]), torch.zeros(3, 11))
    proc(ids([p + [A], p + [ONE], p + [AB]]), torch.zeros(3, 11))
    # beams reorder: row 0 continues "12"'s beam, row 1 and 2 share prefix "a"
    out = proc(ids([p + [ONE, TWO], p + [A, B], p + [A, B]]), torch.zeros(3, 11))
    assert allowed(out[0]) == brute_allowed(STRINGS, b"12") == {EOS}
    assert allowed(out[1]) == brute_allowed(STRINGS, b"ab") == {EOS, C}
    assert allowed(out[2]) == allowed(out[1])
    assert len(proc._states) == 2  # evicted prefixes of length 1; shared state for "ab"
    # the matcher for "ab" was forked from the one for "a" (not rebuilt from the root)
    before = c_adv = proc.compiled.advances
    out = proc(ids([p + [A, B, C], p + [ONE, TWO, EOS], p + [A, B, EOS]]), torch.zeros(3, 11))
    assert proc.compiled.advances - before == 1  # only "abc" advanced; EOS rows -> finished
    assert allowed(out[0]) == {EOS}
    assert allowed(out[1]) == {EOS, PAD}
    assert allowed(out[2]) == {EOS, PAD}
    del c_adv


def test_left_padded_batch_and_num_return_sequences():
    proc = LogitsProcessor(SetConstraint(*STRINGS), vocab=vocab())
    prompts = [[PAD, PAD, 7, 8], [PAD, 3, 4, 5], [9, 9, 9, 9], [9, 9, 9, 9]]
    proc(ids(prompts), torch.zeros(4, 11))
    out = proc(ids([prompts[0] + [A], prompts[1] + [ONETWO], prompts[2] + [A], prompts[3] + [AB]]),
               torch.randn(4, 11))
    assert allowed(out[0]) == brute_allowed(STRINGS, b"a")
    assert allowed(out[1]) == {EOS}
    assert allowed(out[2]) == brute_allowed(STRINGS, b"a")
    assert allowed(out[3]) == {EOS, C}


def test_scores_wider_than_vocab():
    proc = LogitsProcessor(SetConstraint(*STRINGS), vocab=vocab())
    out = proc(ids([[3]]), torch.zeros(1, 70))
    assert allowed(out[0]) == brute_allowed(STRINGS, b"")
    assert torch.isneginf(out[0, 11:]).all()


def test_vocab_padded_to_scores_width_allows_nothing_past_tokens():
    proc = LogitsProcessor(SetConstraint(*STRINGS), vocab=vocab(size=40))
    out = proc(ids([[3]]), torch.zeros(1, 40))
    assert allowed(out[0]) == brute_allowed(STRINGS, b"")


def test_new_generation_detected_and_reset():
    c = SetConstraint(*STRINGS)
    proc = LogitsProcessor(c, vocab=vocab())
    proc(ids([[3, 3]]), torch.zeros(1, 11))
    proc(ids([[3, 3, A]]), torch.zeros(1, 11))
    # a new, longer prompt (length is not last + 1): reset, the prompt is all prompt
    out = proc(ids([[3, 3, 3, 3, 3, 3]]), torch.zeros(1, 11))
    assert allowed(out[0]) == brute_allowed(STRINGS, b"")
    # a new prompt of exactly last + 1 tokens but a different prompt part: reset too
    out = proc(ids([[4, 4, 4, 4, 4, 4, 4]]), torch.zeros(1, 11))
    assert allowed(out[0]) == brute_allowed(STRINGS, b"")
    out = proc(ids([[4, 4, 4, 4, 4, 4, 4, ONE]]), torch.zeros(1, 11))
    assert allowed(out[0]) == {TWO}
    # the batch size changed: reset
    out = proc(ids([[4] * 9, [5] * 9]), torch.zeros(2, 11))
    assert allowed(out[0]) == allowed(out[1]) == brute_allowed(STRINGS, b"")
    # explicit reset: the same input is then a prompt again
    proc.reset()
    out = proc(ids([[4, 4, ONE]]), torch.zeros(1, 11))
    assert allowed(out[0]) == brute_allowed(STRINGS, b"")
    assert len(c.compiled_with) == 1  # compiled once


def test_never_raises_on_rejected_token_or_empty_mask():
    proc = LogitsProcessor(SetConstraint("ab"), vocab=vocab())
    proc(ids([[3], [3]]), torch.zeros(2, 11))
    # row 0 carries a token the constraint rejects (e.g. a -inf beam): dead -> EOS only
    # (no tokenizer: the vocabulary's EOS ids)
    out = proc(ids([[3, X], [3, A]]), torch.zeros(2, 11))
    assert allowed(out[0]) == {EOS}
    assert allowed(out[1]) == {B, }
    out = proc(ids([[3, X, ONE], [3, A, B]]), torch.zeros(2, 11))
    assert allowed(out[0]) == {EOS}
    assert allowed(out[1]) == {EOS}


class NothingMatcher(SetMatcher):
    def fill_mask(self, bitmask, row=0):
        bitmask[row] = 0


class NothingCompiled(Compiled):
    def matcher(self):
        return NothingMatcher(self)


def test_finished_rows_use_tokenizer_eos_and_pad():
    class Tok:
        eos_token_id = 2  # HF's EOS differs from the vocabulary's (0); pad unknown
        pad_token_id = None

    proc = LogitsProcessor(SetConstraint(*STRINGS), Tok(), vocab=vocab())
    proc(ids([[3], [3]]), torch.zeros(2, 11))
    out = proc(ids([[3, EOS], [3, X]]), torch.zeros(2, 11))
    assert allowed(out[0]) == {2} and allowed(out[1]) == {2}


def test_matcher_allowing_nothing_gets_eos():
    comp = NothingCompiled(["ab"], vocab())
    proc = LogitsProcessor(comp, vocab=comp.vocab)  # an already compiled constraint
    with pytest.warns(RuntimeWarning, match="DeadEnd"):  # the failed row is reported once
        out = proc(ids([[3]]), torch.zeros(1, 11))
    assert allowed(out[0]) == {EOS}


def test_fill_mask_exception_does_not_escape():
    class Boom(SetMatcher):
        def fill_mask(self, bitmask, row=0):
            raise RuntimeError("boom")

    class BoomCompiled(Compiled):
        def matcher(self):
            return Boom(self)

    comp = BoomCompiled(["ab"], vocab())
    proc = LogitsProcessor(comp, vocab=comp.vocab)
    with pytest.warns(RuntimeWarning, match="failed.*boom"):
        out = proc(ids([[3]]), torch.zeros(1, 11))
    assert allowed(out[0]) == {EOS}


def test_rows_not_extending_a_known_prefix_are_rebuilt_from_root():
    proc = LogitsProcessor(SetConstraint(*STRINGS), vocab=vocab())
    proc(ids([[3]]), torch.zeros(1, 11))
    proc(ids([[3, A]]), torch.zeros(1, 11))
    # HF never does this, but a row whose parent prefix is unknown is walked from the root
    out = proc(ids([[3, ONE, TWO]]), torch.zeros(1, 11))
    assert allowed(out[0]) == {EOS}


def test_vocabulary_built_lazily_from_tokenizer_and_cached(monkeypatch):
    from constrain import vocab as vocab_mod

    calls = []

    def fake_from_hf(tokenizer, size=None, eos_ids=None):
        calls.append(size)
        return FakeVocab(TOKENS, [EOS], size=size)

    monkeypatch.setattr(vocab_mod.Vocabulary, "from_hf", staticmethod(fake_from_hf))
    vocab_mod.clear_vocabulary_cache()
    tok = FakeTokenizer()
    c = SetConstraint(*STRINGS)
    p1 = LogitsProcessor(c, tok)
    assert calls == []  # lazy
    out = p1(ids([[3]]), torch.zeros(1, 16))
    assert calls == [16] and c.compiled_with[0].size == 16
    assert allowed(out[0]) == brute_allowed(STRINGS, b"")
    p2 = LogitsProcessor(SetConstraint("ab"), tok)
    p2(ids([[3]]), torch.zeros(1, 16))
    assert calls == [16]  # cached per (tokenizer, size)
    p3 = LogitsProcessor(SetConstraint("ab"), tok, vocab_size=20)
    p3(ids([[3]]), torch.zeros(1, 16))
    assert calls == [16, 20]
    p4 = LogitsProcessor(SetConstraint("ab"), FakeTokenizer())
    p4(ids([[3]]), torch.zeros(1, 16))
    assert calls == [16, 20, 16]  # another tokenizer object


def test_constructor_errors():
    with pytest.raises(ValueError):
        LogitsProcessor(SetConstraint("a"))
    with pytest.raises(TypeError):
        LogitsProcessor(object(), FakeTokenizer())


# ---------------------------------------------------------------------------------------------
# Through transformers' generate, with a tiny random Llama over the 11-token vocabulary.


@pytest.fixture(scope="module")
def tiny_model():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=11, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
                      eos_token_id=EOS, pad_token_id=PAD, bos_token_id=3)
    model = LlamaForCausalLM(cfg)
    model.eval()
    return model


def _check_outputs(out, prompt_len, strings):
    enc = [s.encode() for s in strings]
    for row in out.tolist():
        gen = row[prompt_len:]
        text = b""
        ended = False
        for t in gen:
            if ended:
                assert t == PAD
                continue
            if t == EOS:
                ended = True
                assert text in enc, (gen, text)
                continue
            text += TOKENS[t]
            assert any(s.startswith(text) for s in enc), (gen, text)


GEN_STRINGS = ("abc", "ab", "12", "cab", "a1b2")


@pytest.mark.parametrize("mode", ["greedy", "sample", "beams", "num_return", "left_pad"])
def test_generate_modes(tiny_model, mode):
    proc = LogitsProcessor(SetConstraint(*GEN_STRINGS), vocab=vocab())
    kw = dict(max_new_tokens=8, pad_token_id=PAD, eos_token_id=EOS, logits_processor=[proc])
    input_ids = ids([[3, 4, 5]])
    attn = torch.ones_like(input_ids)
    if mode == "greedy":
        kw.update(do_sample=False)
    elif mode == "sample":
        torch.manual_seed(1)
        kw.update(do_sample=True, temperature=2.0)
    elif mode == "beams":
        kw.update(do_sample=False, num_beams=3, num_return_sequences=3)
    elif mode == "num_return":
        torch.manual_seed(2)
        kw.update(do_sample=True, num_return_sequences=3, temperature=3.0)
    elif mode == "left_pad":
        input_ids = ids([[PAD, PAD, 3], [PAD, 4, 5], [6, 7, 8]])
        attn = (input_ids != PAD).long()
        kw.update(do_sample=False)
    with torch.no_grad():
        out = tiny_model.generate(input_ids=input_ids, attention_mask=attn, **kw)
    _check_outputs(out, input_ids.shape[1], GEN_STRINGS)
    # the processor is reusable across generate calls
    torch.manual_seed(3)
    with torch.no_grad():
        out2 = tiny_model.generate(input_ids=input_ids, attention_mask=attn, **kw)
    _check_outputs(out2, input_ids.shape[1], GEN_STRINGS)
