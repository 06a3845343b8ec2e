"""Item-trie kernels on CUDA: the K-candidate step and bitmasks (Triton), plus a torch fallback.

Importing this module needs neither CUDA nor Triton; Triton is imported and the kernels compiled
on first use. :func:`available` says whether the Triton path can run (a CUDA device + Triton).

Index layout: the level-ordered CSR of ``constrain.items`` (``indptr``, ``tokens`` where edge
``e`` leads to state ``e + 1``, ``end_bits``, dense bitmask rows for the first states). Kernels:

* ``_step_kernel``: one program per row; loads ``indptr[s]``, ``indptr[s+1]``, then ``K`` tokens
  in blocks (masked loads, so no padding is needed), gathers ``logp[r, token]`` and writes
  ``(token, logp, next = edge + 1)``; column ``K`` is the end-of-sequence candidate. No host
  synchronisation, no allocation when ``out`` is given, so a serving loop can capture it in a
  CUDA graph (one graph per level width ``K``).
* ``_mask_kernel``: one program per row; dense states copy their precomputed row; others write
  the EOS words (or zeros), then, after a block barrier, ``atomic_or`` one bit per child.

:func:`step_torch` is the same step written as plain torch ops (any device; the CPU-testable
reference of the device path, and the fallback without Triton).
"""

# (no `from __future__ import annotations`: Triton reads the constexpr annotation object)

import functools
from dataclasses import dataclass

import numpy as np

__all__ = ["available", "DeviceIndex", "step", "step_torch", "fill_masks", "fill_masks_torch"]

BLOCK_K = 128
BLOCK_W = 256

tl = None  # triton.language, bound lazily by _kernels()


from .triton_mask import available  # noqa: E402  (one definition of "Triton and CUDA present")


@dataclass(eq=False)
class DeviceIndex:
    """The item index as torch tensors on one device (int32 CSR, uint8 end bits, int32 rows).

    ``level_width`` (numpy) stays on the host: it gives each level's K without a device sync."""

    indptr: object
    tokens: object
    end_bits: object
    dense_rows: object
    eos_row: object
    done: int
    words: int
    vocab_size: int
    level_width: np.ndarray
    device: object
    n_dense: int

    @classmethod
    def from_compiled(cls, c, device) -> "DeviceIndex":
        import torch

        dev = torch.device(device)
        t = lambda a: torch.from_numpy(np.array(a, copy=True)).to(dev)  # noqa: E731
        dense = c.dense_rows if c.dense_rows.shape[0] else np.zeros((1, c.vocab.words), np.int32)
        return cls(t(c.indptr), t(c.tokens), t(c.end_bits), t(dense), t(c.eos_row), int(c.done),
                   int(c.vocab.words), int(c.vocab.size), c.level_width.copy(), dev,
                   int(c.dense_rows.shape[0]))


@functools.lru_cache(maxsize=None)
def _kernels():
    global tl
    import triton
    import triton.language as _tl

    tl = _tl

    @triton.jit
    def _step_kernel(indptr_ptr, tokens_ptr, end_ptr, states_ptr, logp_ptr, logp_stride,
                     out_tok_ptr, out_lp_ptr, out_next_ptr, out_stride, K, eos_id, done,
                     BLOCK: tl.constexpr):
        r = tl.program_id(0)
        s = tl.load(states_ptr + r).to(tl.int32)
        live = (s >= 0) & (s < done)
        ss = tl.where(live, s, 0)
        start = tl.load(indptr_ptr + ss)
        n = tl.where(live, tl.load(indptr_ptr + ss + 1) - start, 0)
        n = tl.minimum(n, K)
        lrow = logp_ptr + r.to(tl.int64) * logp_stride
        orow = r.to(tl.int64) * out_stride
        for j0 in range(0, K, BLOCK):
            j = j0 + tl.arange(0, BLOCK)
            in_k = j < K
            valid = j < n
            tok = tl.load(tokens_ptr + start + j, mask=valid, other=-1)
            lp = tl.load(lrow + tl.where(valid, tok, 0), mask=valid, other=float("-inf"))
            nxt = tl.where(valid, start + j + 1, -1)
            tl.store(out_tok_ptr + orow + j, tok, mask=in_k)
            tl.store(out_lp_ptr + orow + j, lp.to(out_lp_ptr.dtype.element_ty), mask=in_k)
            tl.store(out_next_ptr + orow + j, nxt, mask=in_k)
        byte = tl.load(end_ptr + (ss >> 3)).to(tl.int32)
        is_end = live & (((byte >> (ss & 7)) & 1) == 1)
        is_done = s == done
        eos_lp = tl.load(lrow + tl.maximum(eos_id, 0)).to(tl.float32)
        eos_lp = tl.where((eos_id >= 0) & ~is_done, eos_lp, 0.0)
        ok = is_end | is_done
        tl.store(out_tok_ptr + orow + K, tl.where(ok, eos_id, -1))
        tl.store(out_lp_ptr + orow + K,
                 tl.where(ok, eos_lp, float("-inf")).to(out_lp_ptr.dtype.element_ty))
        tl.store(out_next_ptr + orow + K, tl.where(ok, done, -1))

    @triton.jit
    def _mask_kernel(indptr_ptr, tokens_ptr, end_ptr, dense_ptr, n_dense, eos_row_ptr, states_ptr,
                     rows_ptr, out_ptr, out_stride, words, done,
                     BLOCK_W: tl.constexpr, BLOCK: tl.constexpr):
        i = tl.program_id(0)
        s = tl.load(states_ptr + i).to(tl.int32)
        row = tl.load(rows_ptr + i).to(tl.int64)
        base = out_ptr + row * out_stride
        live = (s >= 0) & (s < done)
        ss = tl.where(live, s, 0)
        is_dense = live & (s < n_dense)
        byte = tl.load(end_ptr + (ss >> 3)).to(tl.int32)
        with_eos = (live & (((byte >> (ss & 7)) & 1) == 1)) | (s == done)
        drow = dense_ptr + tl.where(is_dense, ss, 0).to(tl.int64) * words
        dense_i = tl.where(is_dense, 1, 0)
        eos_i = tl.where(with_eos & ~is_dense, 1, 0)
        for w0 in range(0, words, BLOCK_W):
            w = w0 + tl.arange(0, BLOCK_W)
            m = w < words
            dv = tl.load(drow + w, mask=m & ((w * 0 + dense_i) != 0), other=0)
            ev = tl.load(eos_row_ptr + w, mask=m & ((w * 0 + eos_i) != 0), other=0)
            tl.store(base + w, dv | ev, mask=m)
        tl.debug_barrier()
        start = tl.load(indptr_ptr + ss)
        n = tl.where(live & ~is_dense, tl.load(indptr_ptr + ss + 1) - start, 0)
        for j0 in range(0, n, BLOCK):
            j = j0 + tl.arange(0, BLOCK)
            valid = j < n
            tok = tl.load(tokens_ptr + start + j, mask=valid, other=0)
            bit = tl.full((BLOCK,), 1, tl.int32) << (tok & 31)
            tl.atomic_or(base + (tok >> 5), bit, mask=valid)

    return _step_kernel, _mask_kernel


def _as_dev(x, dev, dtype):
    import torch

    if isinstance(x, torch.Tensor):
        return x.to(dev, dtype=dtype, non_blocking=True)
    return torch.as_tensor(np.asarray(x), dtype=dtype).to(dev, non_blocking=True)


def step(index: DeviceIndex, states, logp, K: int, eos_id: int = -1, out=None):
    """Triton K-candidate step: same contract as ``CompiledItems.step`` (``items_kernels.step``).

    ``states`` int tensor ``[R]`` and ``logp`` float tensor ``[R, V']`` (unit column stride) on the
    index's device; ``out`` optional preallocated ``(tok int32, logp, next int32)`` ``[R, K+1]``.
    Rows with more than ``K`` children are truncated (no device sync to check it): pass
    ``index.level_width[level]`` or its maximum. Asynchronous; returns ``out``."""
    import torch

    st = _as_dev(states, index.device, torch.int64)
    if logp.stride(-1) != 1:
        logp = logp.contiguous()
    R = int(st.shape[0])
    if out is None:
        out = (torch.empty((R, K + 1), dtype=torch.int32, device=index.device),
               torch.empty((R, K + 1), dtype=logp.dtype, device=index.device),
               torch.empty((R, K + 1), dtype=torch.int32, device=index.device))
    if R == 0:
        return out
    k_step, _ = _kernels()
    k_step[(R,)](index.indptr, index.tokens, index.end_bits, st, logp, logp.stride(0),
                 out[0], out[1], out[2], out[0].stride(0), int(K), int(eos_id), index.done,
                 BLOCK=BLOCK_K)
    return out


def fill_masks(index: DeviceIndex, states, bitmask, rows=None) -> None:
    """Triton bitmask rows: ``bitmask[rows[i]]`` = allowed tokens of ``states[i]`` (int32 words,
    contiguous ``[*, words]`` tensor on the device). Same contract as ``CompiledItems.fill_masks``."""
    import torch

    st = _as_dev(states, index.device, torch.int64)
    R = int(st.shape[0])
    if R == 0:
        return
    rr = torch.arange(R, device=index.device) if rows is None else _as_dev(rows, index.device, torch.int64)
    _, k_mask = _kernels()
    k_mask[(R,)](index.indptr, index.tokens, index.end_bits, index.dense_rows, index.n_dense,
                 index.eos_row, st, rr, bitmask, bitmask.stride(0), index.words, index.done,
                 BLOCK_W=BLOCK_W, BLOCK=BLOCK_K)


# ---------------------------------------------------------------------------------------------
# torch reference / fallback (any device)


def step_torch(index: DeviceIndex, states, logp, K: int, eos_id: int = -1):
    """The K-candidate step as plain torch ops (about ten kernel launches on CUDA)."""
    import torch

    dev = index.device
    s = _as_dev(states, dev, torch.int64)
    live = (s >= 0) & (s < index.done)
    ss = torch.where(live, s, torch.zeros_like(s))
    start = index.indptr[ss].long()
    n = torch.where(live, index.indptr[ss + 1].long() - start, torch.zeros_like(start)).clamp(max=K)
    j = torch.arange(K, device=dev)
    valid = j[None, :] < n[:, None]
    E = max(int(index.tokens.shape[0]), 1)
    idx = (start[:, None] + j[None, :]).clamp(max=E - 1)
    tok = torch.where(valid, index.tokens[idx].long(), torch.full_like(idx, -1))
    lp = logp.gather(1, tok.clamp(min=0))
    ninf = torch.tensor(float("-inf"), dtype=logp.dtype, device=dev)
    lp = torch.where(valid, lp, ninf)
    nxt = torch.where(valid, start[:, None] + j[None, :] + 1, torch.full_like(idx, -1))
    byte = index.end_bits[ss >> 3].long()
    is_end = live & (((byte >> (ss & 7)) & 1) == 1)
    is_done = s == index.done
    ok = is_end | is_done
    if eos_id >= 0:
        e_lp = torch.where(is_done, torch.zeros_like(logp[:, 0]), logp[:, eos_id])
    else:
        e_lp = torch.zeros_like(logp[:, 0])
    e_lp = torch.where(ok, e_lp, ninf)
    e_tok = torch.where(ok, torch.full_like(s, eos_id), torch.full_like(s, -1))
    e_nxt = torch.where(ok, torch.full_like(s, index.done), torch.full_like(s, -1))
    return (torch.cat([tok, e_tok[:, None]], 1).int(), torch.cat([lp, e_lp[:, None]], 1),
            torch.cat([nxt, e_nxt[:, None]], 1).int())


def fill_masks_torch(index: DeviceIndex, states, K: int):
    """Bitmask rows ``int32[R, words]`` as torch ops (reference for :func:`fill_masks`).
    ``K`` must be at least the largest degree among ``states``."""
    import torch

    dev = index.device
    s = _as_dev(states, dev, torch.int64)
    R = int(s.shape[0])
    W = index.words
    tok, _, nxt = step_torch(index, s, torch.zeros((R, index.vocab_size), device=dev), K, eos_id=-1)
    bits = torch.zeros((R, 32 * W), dtype=torch.bool, device=dev)
    valid = nxt[:, :K] >= 0
    r_idx = torch.arange(R, device=dev)[:, None].expand(R, K)
    bits[r_idx[valid], tok[:, :K][valid].long()] = True
    words = bits.view(R, W, 32).long()
    shifts = torch.arange(32, device=dev)
    packed = (words << shifts).sum(-1)
    packed = torch.where(packed >= 2**31, packed - 2**32, packed).int()
    with_eos = nxt[:, K] >= 0
    packed = torch.where(with_eos[:, None], packed | index.eos_row[None, :], packed)
    return packed
