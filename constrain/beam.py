"""Constrained beam search over an item set (generative retrieval), batch x beams.

:func:`beam_search` is the dedicated fast path: per step one call of the model's log-prob
function and, on the CPU (``backend="numba"``), one fused numba call
(``items_kernels.beam_step``) that walks every live beam's children in the CSR trie, keeps the
top-M per batch element in a heap and writes the new beams (states, scores, token histories) into
a double-buffered beam table: no ``[B*M, K+1]`` candidate arrays, no per-step numpy bookkeeping.
The fixed-shape K-candidate step (``CompiledItems.step``) plus :func:`beam_topk` gives the same
result and is what ``backend="torch"`` does with device tensors (the Triton step on CUDA, torch
ops elsewhere, ``torch.topk``).

For ``model.generate(num_beams=...)`` use ``constrain.LogitsProcessor(Items(...), tokenizer)``
instead: it masks every beam through the matcher contract.

Scoring: an item's score is the sum of its tokens' log-probs, plus the end-of-sequence log-prob
when ``eos_id`` is given. A finished item keeps its score (its only candidate is itself, with
log-prob 0) and competes with the live beams until the end, so with ``num_beams`` at least the
number of items the result is exactly the top items (the tests check this by enumeration).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .items import CompiledItems
from .matcher import check_token_id
from .native import items_kernels as _ik

__all__ = ["BeamResult", "beam_search", "beam_topk"]


@dataclass
class BeamResult:
    """Finished items per batch element, best first.

    Attributes
    ----------
    items : list of list of tuple of int
        ``items[b]``: the valid items (token-id tuples, no EOS), best first; fewer than
        ``num_beams`` when fewer items could be reached (no garbage beams).
    scores : float64[B, M]
        Scores, ``-inf`` for missing beams.
    tokens : int32[B, M, L]
        Token ids padded with ``-1`` (missing beams are all ``-1``).
    lengths : int32[B, M]
        Item lengths (0 for missing beams).
    valid : bool[B, M]
        Beam ``m`` of batch element ``b`` holds a complete item.
    steps : int
        Decode steps run (model calls may be fewer: steps where every live beam can only end
        are done without the model when ``eos_id`` is None).
    """

    items: list
    scores: np.ndarray
    tokens: np.ndarray
    lengths: np.ndarray
    valid: np.ndarray
    steps: int

    @property
    def missing(self) -> np.ndarray:
        """Number of missing (invalid) beams per batch element."""
        return (~self.valid).sum(axis=1)


def beam_topk(beam_scores: np.ndarray, cand_logp: np.ndarray, batch_size: int, num_beams: int):
    """Top-M of ``beam_scores[b*M+i] + cand_logp[b*M+i, j]`` over ``(i, j)`` per batch element.

    Returns ``(parent int64[B, M], col int64[B, M], score float64[B, M])``, best first; slots
    without a finite candidate get ``-1, -1, -inf``. Ties go to the lower ``(i, j)``.
    Cost: O(B M W) plus O(M) per accepted candidate (numba)."""
    B, M = int(batch_size), int(num_beams)
    parent = np.empty((B, M), np.int64)
    col = np.empty((B, M), np.int64)
    score = np.empty((B, M), np.float64)
    _ik.beam_topk(np.ascontiguousarray(beam_scores, dtype=np.float64), cand_logp, B, M,
                  parent, col, score)
    return parent, col, score


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def _check_logp_width(lp: np.ndarray, vocab_size: int, eos_id: int) -> None:
    """The fused step reads ``lp[r, token]`` for every child token and ``lp[r, eos_id]``."""
    if lp.shape[1] < vocab_size or eos_id >= lp.shape[1]:
        raise ValueError(f"logprobs_fn returned {lp.shape[1]} columns; need the vocabulary's "
                         f"{vocab_size} ids" + (f" and eos_id {eos_id}" if eos_id >= 0 else ""))


def _to_numpy_logp(lp, rows: int) -> np.ndarray:
    if hasattr(lp, "detach"):  # torch
        import torch

        lp = lp.detach()
        if lp.dtype not in (torch.float32, torch.float64):
            lp = lp.float()
        lp = lp.cpu().numpy()
    lp = np.asarray(lp)
    if lp.dtype not in (np.float32, np.float64):
        lp = lp.astype(np.float32)
    if lp.ndim < 1 or lp.size % rows or lp.size == 0:
        raise ValueError(f"logprobs_fn must return [B, M, V'] or [B*M, V'] log-probs for "
                         f"B*M = {rows} beams, got shape {lp.shape}")
    return np.ascontiguousarray(lp.reshape(rows, -1))


def beam_search(compiled: CompiledItems, logprobs_fn: Callable, *, batch_size: int = 1,
                num_beams: int = 4, eos_id: int | None = None, max_steps: int | None = None,
                backend: str = "numba", device=None) -> BeamResult:
    """Constrained beam search: the ``num_beams`` best items per batch element.

    Parameters
    ----------
    compiled : CompiledItems
        ``Items(...).compile(vocab)``.
    logprobs_fn : callable
        ``logprobs_fn(tokens) -> [B, M, V'] or [B*M, V']`` next-token log-probs (numpy or torch),
        where ``tokens`` is ``int64[B, M, t]`` (the beams' tokens so far, ``-1`` for beams that
        are missing or past their item's end). Called once per step, at most ``max_len + 1`` times.
    batch_size, num_beams : int
        ``B`` and ``M``. Beam search starts from one beam per batch element.
    eos_id : int, optional
        Column of the log-probs that scores an item's end; None (STATIC's setting) scores ends 0.
    max_steps : int, optional
        Decode steps (default: longest item + 1). Beams unfinished after them are dropped.
    backend : {"numba", "torch"}
        ``"torch"`` keeps states and scores as tensors on ``device`` (the log-probs' device by
        default) and uses the Triton step on CUDA (``native.triton_items``), torch ops otherwise.

    Returns
    -------
    BeamResult
        Only complete items; missing beams have score ``-inf`` and ``valid = False``.

    Cost per step: the model call, a copy of the ``[B, M, t]`` tokens handed to it, and
    O(D_t + B M (log M + t)) for the fused step, where ``D_t`` is the number of children of the
    live beams (``backend="torch"``: O(B M (K_t + 1)), ``K_t`` the widest fan-out among them);
    independent of the number of items.
    """
    if backend not in ("numba", "torch"):
        raise ValueError(f"backend must be 'numba' or 'torch', got {backend!r}")
    if not isinstance(compiled, CompiledItems):
        raise TypeError(f"compiled must be Items(...).compile(vocab), not {type(compiled).__name__}")
    if not callable(logprobs_fn):
        raise TypeError(f"logprobs_fn must be callable, not {type(logprobs_fn).__name__}")
    B, M = _positive_int(batch_size, "batch_size"), _positive_int(num_beams, "num_beams")
    c = compiled
    T = c.max_len + 1 if max_steps is None else _positive_int(max_steps, "max_steps")
    e_id = -1 if eos_id is None else check_token_id(eos_id, 2**31 - 1)
    R = B * M
    # beam table (see items_kernels.beam_step): row r = (state, length, tokens...), two halves
    beams = np.full((2, R, 2 + max(T, 1)), -1, np.int64)
    beams[:, :, 1] = 0
    beams[0, ::M, 0] = 0
    scores = np.full((2, R), -np.inf)
    scores[0, ::M] = 0.0
    cur, steps = 0, 0
    live, opened = B, B  # the root has children (items are not empty)
    for t in range(T):
        if not live:
            break
        steps += 1
        if opened or eos_id is not None:
            lp = logprobs_fn(beams[cur, :, 2:2 + t].reshape(B, M, t).copy())
        else:
            lp = np.zeros((R, 1), np.float32)  # every live beam can only end: no model call
        if backend == "torch":
            if opened or eos_id is not None:
                n = int(lp.numel()) if hasattr(lp, "numel") else int(np.asarray(lp).size)
                if n == 0 or n % R:
                    raise ValueError(f"logprobs_fn returned {n} values for B*M = {R} beams")
                _check_logp_width(np.empty((0, n // R)), c.vocab.size, e_id)
            live, opened = _torch_step(c, beams, scores, cur, lp, e_id, B, M, t, device)
        else:
            lp = _to_numpy_logp(lp, R)
            if opened or eos_id is not None:
                _check_logp_width(lp, c.vocab.size, e_id)
            live, opened = _ik.beam_step(c.indptr, c.tokens, c.end_bits, c.done, lp, e_id, M, t,
                                         beams, scores, cur)
        cur ^= 1
    return _result(c, beams[cur], scores[cur], B, M, steps)


def _result(c: CompiledItems, beams: np.ndarray, scores: np.ndarray, B: int, M: int,
            steps: int) -> BeamResult:
    """The finished beams of a beam table half, best first per batch element."""
    scores = np.where(beams[:, 0] == c.done, scores, -np.inf)
    sc = scores.reshape(B, M)
    order = np.argsort(-sc, axis=1, kind="stable")
    sc = np.take_along_axis(sc, order, 1)
    valid = np.isfinite(sc)
    idx = ((np.arange(B) * M)[:, None] + order).reshape(-1)
    toks = beams[idx, 2:].reshape(B, M, -1)[:, :, : c.max_len].astype(np.int32)
    lens = np.where(valid, beams[idx, 1].reshape(B, M), 0).astype(np.int32)
    toks = np.where(valid[:, :, None], toks, -1)
    items = [[tuple(int(x) for x in toks[b, m, : lens[b, m]]) for m in range(M) if valid[b, m]]
             for b in range(B)]
    return BeamResult(items=items, scores=sc, tokens=toks, lengths=lens, valid=valid, steps=steps)


def _torch_step(c: CompiledItems, beams, scores, cur, lp, eos_id, B, M, t, device):
    """One step with device tensors: the Triton step on CUDA (torch ops elsewhere) + torch.topk;
    the beam table is then updated on the host (``items_kernels.reorder_beams``, O(B M t))."""
    import torch

    from .native import triton_items as ti

    if not isinstance(lp, torch.Tensor):
        lp = torch.as_tensor(np.asarray(lp))
    dev = torch.device(device) if device is not None else lp.device
    R = B * M
    states = np.ascontiguousarray(beams[cur, :, 0])
    lp = lp.to(dev).reshape(R, -1)
    if lp.dtype not in (torch.float32, torch.float64):
        lp = lp.float()
    idx = c.to_device(dev)
    K = int(c.degree(states).max())
    st = torch.as_tensor(states, device=dev)
    if dev.type == "cuda" and ti.available():
        tok, clp, nxt = ti.step(idx, st, lp.contiguous(), K, eos_id)
    else:
        tok, clp, nxt = ti.step_torch(idx, st, lp, K, eos_id)
    W = K + 1
    tot = torch.as_tensor(scores[cur], device=dev, dtype=torch.float64)[:, None] + clp.double()
    top, arg = torch.topk(tot.reshape(B, M * W), M, dim=1)  # sorted, best first
    ok = torch.isfinite(top).cpu().numpy().reshape(-1)
    arg = arg.cpu().numpy().reshape(-1)
    src = np.where(ok, (np.arange(R) // M) * M + arg // W, -1)
    col = arg % W
    s0 = np.maximum(src, 0)
    nxt = nxt.cpu().numpy()[s0, col].astype(np.int64)
    tok = np.where(col < K, tok.cpu().numpy()[s0, col], -1).astype(np.int64)
    return _ik.reorder_beams(c.indptr, c.done, t, src, nxt, tok, top.cpu().numpy().reshape(-1),
                             beams, scores, cur)
