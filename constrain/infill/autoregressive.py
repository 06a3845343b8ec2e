"""Multi-region infilling with an autoregressive model: holes filled left to right, every
proposed token checked for completability of the whole template.

For each hole the model continues the text so far (an optional ``prompt`` first). Candidate tokens
are tried in the model's order (argmax, or Gumbel-perturbed with ``temperature``); a token is
accepted when ``filled + region + token + Hole + later pieces...`` is still completable. EOS (or
the end of the token budget) closes the region when ``filled + region + later pieces...`` is
completable with the region closed. When no candidate fits within ``max_candidates`` or a region
cannot be closed, the rest is completed by `example_completion` (``fallback``), so the result is
always a sentence of the constraint.
"""

from __future__ import annotations

import math
import re
import time
import warnings
from dataclasses import dataclass, field

from ..errors import LimitExceeded
from .checker import example_completion, infill_grammar
from ..vocab import logits_width
from .diffusion import as_vocabulary
from .partial import END, Hole, Partial

__all__ = ["infill", "InfillResult", "HOLE_MARKER"]

HOLE_MARKER = "<|hole|>"


@dataclass
class InfillResult:
    """``data``: the completed output (bytes); ``fillings``: bytes chosen per hole;
    ``fallback``: completed by `example_completion` from hole ``fallback_hole`` on;
    ``rejections``: refused proposals; ``checks_seconds``; ``seconds``."""

    data: bytes
    fillings: list[bytes] = field(default_factory=list)
    fallback: bool = False
    fallback_hole: int | None = None
    rejections: int = 0
    check_seconds: float = 0.0
    seconds: float = 0.0

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


def _template(t) -> Partial:
    if isinstance(t, Partial):
        return t
    if isinstance(t, str):
        parts = t.split(HOLE_MARKER)
        elems: list = []
        for i, p in enumerate(parts):
            if i:
                elems.append(Hole())
            elems.append(p)
        elems.append(END)
        return Partial(elems)
    return Partial(t)


def infill(model, tokenizer, template, constraint, *, prompt: str | None = None,
           max_new_tokens: int = 32, temperature: float = 0.0, max_candidates: int = 64,
           seed: int | None = None, limits=None) -> InfillResult:
    """Fill the holes of ``template`` left to right with a causal LM under ``constraint``.

    Parameters
    ----------
    model
        A HF causal LM (``model(input_ids, past_key_values=..., use_cache=True)``).
    tokenizer
        Its tokenizer (the `Vocabulary` comes from `constrain.vocab.vocabulary_for`, sized by the
        model's logits width).
    template
        A `Partial`, its element list, or a str with ``<|hole|>`` markers (ends the output).
    constraint
        A `Grammar`, `Regex`, compiled form or CFG.
    max_new_tokens : int
        Token budget per hole.
    temperature : float
        0 for greedy; otherwise candidates are ordered by Gumbel-perturbed logits.
    """
    import torch

    t_start = time.perf_counter()
    tmpl = _template(template)
    ig = infill_grammar(constraint)
    vocab = as_vocabulary(tokenizer, logits_width(model, tokenizer))
    tb = vocab.token_bytes
    eos = set(int(e) for e in vocab.eos_ids)
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    elems = list(tmpl.elements)
    tail_end = [END] if tmpl.closed else []
    check_s = 0.0
    rejections = 0

    def ok(el) -> bool:
        nonlocal check_s
        try:
            r = ig.check(Partial(el), limits)
        except LimitExceeded:
            return False
        check_s += r.seconds
        return r.ok

    def enc(text: bytes) -> list[int]:
        s = text.decode("utf-8", errors="replace")
        try:
            return list(tokenizer.encode(s, add_special_tokens=False))
        except TypeError:
            return list(tokenizer.encode(s))

    filled = b""
    fillings: list[bytes] = []
    ctx: list[int] = enc(prompt.encode()) if prompt else []
    past = None
    fed = 0  # tokens of ctx already in the KV cache
    fallback_hole = None
    if not ok(elems + tail_end):
        return InfillResult(b"", [], True, 0, 0, check_s, time.perf_counter() - t_start)
    hole_no = 0
    with torch.no_grad():
        for idx, e in enumerate(elems):
            if isinstance(e, bytes):
                filled += e
                ctx += enc(e)
                continue
            rest = elems[idx + 1:] + tail_end
            region = b""
            closed = False
            for _ in range(max_new_tokens + 1):
                if not ctx:  # nothing to condition on yet: start from BOS (or EOS)
                    bos = getattr(tokenizer, "bos_token_id", None)
                    ctx.append(int(bos if bos is not None else min(eos)))
                inp = torch.tensor([ctx[fed:]], dtype=torch.long)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", FutureWarning)
                    out = model(inp, past_key_values=past, use_cache=True)
                past = out.past_key_values
                fed = len(ctx)
                logits = out.logits[0, -1].to(torch.float64)
                if temperature > 0:
                    u = torch.rand(logits.shape, dtype=torch.float64, generator=gen).clamp_(1e-20, 1.0)
                    logits = logits / temperature - torch.log(-torch.log(u))
                order = torch.argsort(logits, descending=True)[:max_candidates].tolist()
                budget_left = _ > max_new_tokens - 1
                chosen = None
                for t in order:
                    if t in eos or budget_left:
                        if len(region) >= e.min_bytes and ok([filled + region] + rest):
                            chosen = "close"
                            break
                        if budget_left:
                            break
                        rejections += 1
                        continue
                    b = tb[t] if t < len(tb) else None
                    if not b:
                        continue
                    mx = None if e.max_bytes is None else e.max_bytes - len(region) - len(b)
                    if mx is not None and mx < 0:
                        rejections += 1
                        continue
                    nh = Hole(max_bytes=mx, min_bytes=max(0, e.min_bytes - len(region) - len(b)))
                    if ok([filled + region + b, nh] + rest):
                        chosen = t
                        break
                    rejections += 1
                if chosen == "close":
                    closed = True
                    break
                if chosen is None:
                    break
                region += tb[chosen]
                ctx.append(chosen)
            if not closed:
                fallback_hole = hole_no
                mx = None if e.max_bytes is None else e.max_bytes - len(region)
                nh = Hole(max_bytes=mx, min_bytes=max(0, e.min_bytes - len(region)))
                data = example_completion(ig, [filled + region, nh] + rest)
                if data is None:  # cannot happen: [filled + region, hole] + rest was checked
                    raise RuntimeError("infill: lost completability")
                return InfillResult(data, fillings + [region], True, fallback_hole, rejections, check_s,
                                    time.perf_counter() - t_start)
            fillings.append(region)
            filled += region
            hole_no += 1
    return InfillResult(filled, fillings, False, None, rejections, check_s, time.perf_counter() - t_start)
