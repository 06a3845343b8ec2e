"""Grammar-constrained decoding for masked-diffusion language models (LLaDA / Dream style).

Model protocol (`MaskedDiffusionModel`): ``model(input_ids)`` with a ``LongTensor [B, L]`` that
holds mask tokens returns logits ``[B, L, V]`` (a tensor, or an object with ``.logits``), and the
mask id is ``model.mask_token_id`` (or ``tokenizer.mask_token_id``, or the ``mask_id`` argument).
Any bidirectional model that denoises masked positions plugs in.

Loop (`diffusion_generate`): the canvas is the prompt followed by ``gen_length`` masks, decoded in
semi-autoregressive blocks of ``block_length``; each block gets ``steps / blocks`` steps and each
step unmasks an even share of the block's masks. A step makes one forward pass, then commits its
tokens one at a time in order of confidence (softmax probability of the proposed token, or
negative entropy with ``remasking="entropy"``): the proposal is checked with
`InfillChecker.allows`; a refused (position, token) gets logit −∞ and the position proposes again
(the next proposal may be at another position). An accepted EOS ends the output (later positions
become EOS). After ``max_rejections`` refusals, or when a position has no token left, the output
is completed by `InfillChecker.example_completion` (the "completion" fallback), so a constrained
run always returns a sentence of the grammar.

`CharTokenizer` is a small reference tokenizer; the tests' `TinyDiffusionLM`
(tests/tiny_diffusion.py) is a model trained on grammar sentences in seconds on a CPU.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from ..errors import LimitExceeded
from ..vocab import Vocabulary, logits_width, vocabulary_for
from .checker import InfillChecker

__all__ = ["MaskedDiffusionModel", "diffusion_generate", "DiffusionResult", "CharTokenizer",
           "as_vocabulary"]


@runtime_checkable
class MaskedDiffusionModel(Protocol):
    """``model(input_ids [B, L]) -> logits [B, L, V]`` (or an object with ``.logits``)."""

    def __call__(self, input_ids): ...


@dataclass
class DiffusionResult:
    """``data``: the output bytes (up to the first EOS); ``text``: decoded (errors replaced);
    ``ids``: the generated canvas (prompt excluded; EOS after the end); ``fallback``: the output
    was completed by `example_completion`; ``rejections``: refused proposals; ``forward_passes``;
    ``check_seconds``: time in completability checks; ``seconds``: total; ``limit_errors``: checks
    that hit a limit (counted as refusals)."""

    data: bytes
    ids: list[int]
    fallback: bool = False
    rejections: int = 0
    forward_passes: int = 0
    check_seconds: float = 0.0
    seconds: float = 0.0
    limit_errors: int = 0
    stats: dict = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


class CharTokenizer:
    """A tiny tokenizer: id 0 = mask, 1 = EOS, then the given tokens (str or bytes); ``encode``
    is greedy longest match over bytes (every byte of the text must be covered)."""

    mask_token_id = 0
    eos_token_id = 1

    def __init__(self, tokens: Sequence[str | bytes]):
        toks = [t.encode() if isinstance(t, str) else bytes(t) for t in tokens]
        self.tokens: list[bytes | None] = [None, b""] + list(dict.fromkeys(toks))
        self._index = {t: i for i, t in enumerate(self.tokens) if t}
        self._maxlen = max(len(t) for t in self.tokens if t)
        self.vocabulary = Vocabulary.from_bytes(self.tokens, eos_ids=[1])

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, text: str | bytes) -> list[int]:
        data = text.encode() if isinstance(text, str) else bytes(text)
        out, i = [], 0
        while i < len(data):
            for k in range(min(self._maxlen, len(data) - i), 0, -1):
                t = self._index.get(data[i:i + k])
                if t is not None:
                    out.append(t)
                    i += k
                    break
            else:
                raise ValueError(f"byte {data[i:i + 1]!r} at {i} has no token")
        return out

    def decode(self, ids) -> str:
        return self.vocabulary.decode([int(i) for i in ids]).decode("utf-8", errors="replace")


def as_vocabulary(tokenizer, size: int | None = None) -> Vocabulary:
    """The `Vocabulary` of ``tokenizer`` (itself, its ``.vocabulary``, or a HF tokenizer's) for
    logits ``size`` wide: `constrain.vocab.vocabulary_for`, the library's one cached constructor."""
    return vocabulary_for(tokenizer, size)


def _encode(tokenizer, prompt) -> list[int]:
    if prompt is None:
        return []
    if isinstance(prompt, (list, tuple)):
        return [int(i) for i in prompt]
    try:
        return list(tokenizer.encode(prompt, add_special_tokens=False))
    except TypeError:
        return list(tokenizer.encode(prompt))


def _logits(model, x):
    out = model(x)
    return getattr(out, "logits", out)


def diffusion_generate(model, tokenizer, prompt, constraint=None, *, gen_length: int = 64,
                       steps: int = 16, block_length: int | None = None, temperature: float = 0.0,
                       remasking: str = "confidence", mask_id: int | None = None,
                       max_rejections: int = 100, seed: int | None = None,
                       max_hole_states: int = 32, limits=None) -> DiffusionResult:
    """Generate ``gen_length`` positions after ``prompt`` with a masked-diffusion model, every
    committed token checked for completability under ``constraint`` (None: unconstrained).

    Parameters
    ----------
    model : MaskedDiffusionModel
    tokenizer
        A HF tokenizer, a `CharTokenizer`, or anything with a ``.vocabulary`` (`Vocabulary`) and
        ``encode``; EOS ids come from the vocabulary.
    prompt : str | list[int] | None
    constraint
        A `Grammar`, `Regex`, compiled form, CFG, or None.
    gen_length, steps, block_length
        Canvas length, total denoising steps, semi-autoregressive block size (default: one
        block). ``gen_length`` must be a multiple of ``block_length`` and ``steps`` of the number
        of blocks.
    temperature : float
        Gumbel noise on the logits (float64), 0 for argmax.
    remasking : "confidence" | "entropy"
        Order of commits within a step (LLaDA's low-confidence remasking, Dream's entropy).
    max_rejections : int
        Refusals before falling back to `example_completion`.

    Returns
    -------
    DiffusionResult
    """
    import torch

    t_start = time.perf_counter()
    vocab = as_vocabulary(tokenizer, logits_width(model, tokenizer))
    if mask_id is None:
        mask_id = getattr(model, "mask_token_id", None)
        if mask_id is None:
            mask_id = getattr(tokenizer, "mask_token_id", None)
        if mask_id is None:
            raise ValueError("no mask token id: pass mask_id=, or set model.mask_token_id")
    eos_ids = [int(e) for e in vocab.eos_ids]
    if not eos_ids:
        raise ValueError("the vocabulary has no EOS token")
    eos = eos_ids[0]
    eos_set = set(eos_ids)
    block_length = block_length or gen_length
    if gen_length % block_length:
        raise ValueError("gen_length must be a multiple of block_length")
    n_blocks = gen_length // block_length
    if steps % n_blocks:
        raise ValueError("steps must be a multiple of the number of blocks")
    spb = steps // n_blocks
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    prompt_ids = _encode(tokenizer, prompt)
    P = len(prompt_ids)
    x = torch.tensor(prompt_ids + [mask_id] * gen_length, dtype=torch.long)
    checker = (InfillChecker(constraint, vocab, gen_length, max_hole_states=max_hole_states, limits=limits)
               if constraint is not None else None)
    # tokens that can never be proposed: the mask and tokens without bytes (other than EOS)
    V = None
    banned = None
    rejections = 0
    forwards = 0
    limit_errors = 0
    fallback = False
    end = gen_length  # first EOS (relative)
    committed = np.zeros(gen_length, dtype=bool)
    model_was_training = bool(getattr(model, "training", False))
    if model_was_training:
        model.eval()
    try:
        with torch.no_grad():
            for b in range(n_blocks):
                lo, hi = b * block_length, (b + 1) * block_length
                if lo >= end:
                    break
                n_mask = int((~committed[lo:hi]).sum())
                base, rem = divmod(n_mask, spb)
                schedule = [base + (1 if s < rem else 0) for s in range(spb)]
                for s in range(spb):
                    k = schedule[s]
                    if k == 0:
                        continue
                    cand = [i for i in range(lo, min(hi, end)) if not committed[i]]
                    if not cand:
                        break
                    logits = _logits(model, x[None])[0, P:].to(torch.float64)
                    forwards += 1
                    if V is None:
                        V = logits.shape[-1]
                        banned = torch.zeros(V, dtype=torch.bool)
                        banned[mask_id] = True
                        for t in range(min(V, vocab.size)):
                            if t not in eos_set and not vocab.token_bytes[t]:
                                banned[t] = True
                        if V > vocab.size:
                            banned[vocab.size:] = True
                    logits[:, banned] = -math.inf
                    probs = torch.softmax(logits, dim=-1)
                    if temperature > 0:
                        u = torch.rand(logits.shape, dtype=torch.float64, generator=gen).clamp_(1e-20, 1.0)
                        noisy = logits / temperature - torch.log(-torch.log(u))
                    else:
                        noisy = logits.clone()
                    x0 = noisy.argmax(-1)
                    if remasking == "entropy":
                        lp = torch.log(probs.clamp_min(1e-30))
                        score_all = (probs * lp).sum(-1)  # negative entropy
                    else:
                        score_all = None
                    conf = {}
                    for i in cand:
                        t = int(x0[i])
                        conf[i] = float(score_all[i]) if score_all is not None else float(probs[i, t])
                    done = 0
                    while done < k and conf:
                        i = max(conf, key=conf.get)
                        t = int(x0[i])
                        ok = True
                        if checker is not None:
                            try:
                                ok = checker.allows(i, t)
                            except LimitExceeded:
                                ok = False
                                limit_errors += 1
                        if ok:
                            if checker is not None:
                                checker.commit(i, t, check=False)
                            if t in eos_set:
                                x[P + i:] = eos
                                end = i
                                committed[i:] = True
                                conf = {j: c for j, c in conf.items() if j < i}
                            else:
                                x[P + i] = t
                                committed[i] = True
                                del conf[i]
                            done += 1
                            continue
                        rejections += 1
                        noisy[i, t] = -math.inf
                        nt = int(noisy[i].argmax())
                        if rejections > max_rejections or noisy[i, nt] == -math.inf:
                            fallback = True
                            raise _Stop
                        x0[i] = nt
                        if score_all is None:
                            conf[i] = float(probs[i, nt])
                if lo < end and not committed[lo:min(hi, end)].all():
                    # the schedule left masks (should not happen): treat as a stop
                    fallback = True
                    raise _Stop
    except _Stop:
        pass
    finally:
        if model_was_training:
            model.train()
    ids = x[P:].tolist()
    if checker is not None and (fallback or not checker.is_complete()):
        fallback = True
        try:
            data = checker.example_completion()
        except LimitExceeded:
            data = None
            limit_errors += 1
        if data is None:  # cannot happen when every commit was checked
            data = checker.text()
    else:
        data = vocab.decode([t for t in ids[:end]])
    st = checker.stats if checker is not None else {}
    return DiffusionResult(data=data, ids=ids, fallback=fallback, rejections=rejections,
                           forward_passes=forwards, check_seconds=st.get("seconds", 0.0),
                           seconds=time.perf_counter() - t_start,
                           limit_errors=limit_errors + st.get("limit_errors", 0), stats=dict(st))


class _Stop(Exception):
    pass


# -- a tiny reference model ----------------------------------------------------------------------
