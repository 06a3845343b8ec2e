"""Triton kernel that applies an int32 token bitmask to CUDA logits in place.

Importing this module needs neither CUDA nor Triton: Triton is imported, and the kernel compiled,
on the first call of :func:`apply_bitmask_inplace`. :func:`available` says whether that can work.

Kernel: a 2-D grid ``(rows, ceil(V / BLOCK))``; each program takes one (logits row, bitmask row)
pair and ``BLOCK`` consecutive columns of it, loads the int32 word of each column
(``col >> 5``, neighbouring lanes hit the same cache line), tests bit ``col & 31`` and stores
``-inf`` where the bit is clear or the column is ``>= limit``. Only disallowed columns are written;
the logits are never read.
"""

# (no `from __future__ import annotations`: Triton reads the constexpr annotation object)

import functools

import numpy as np

__all__ = ["available", "apply_bitmask_inplace"]

BLOCK = 1024

tl = None  # triton.language, bound lazily by _kernel() (the kernel body resolves it as a global)


@functools.lru_cache(maxsize=None)
def available() -> bool:
    """True when Triton imports and a CUDA device is present."""
    try:
        import torch

        if not torch.cuda.is_available():
            return False
        import triton  # noqa: F401
        import triton.language  # noqa: F401
    except Exception:
        return False
    return True


@functools.lru_cache(maxsize=None)
def _kernel():
    global tl
    import triton
    import triton.language as _tl

    tl = _tl

    @triton.jit
    def _apply_bitmask_kernel(
        logits_ptr,
        bitmask_ptr,
        lrows_ptr,
        brows_ptr,
        n_cols,
        limit,
        logits_stride,
        bitmask_stride,
        BLOCK_SIZE: tl.constexpr,
    ):
        pid_row = tl.program_id(0)
        pid_blk = tl.program_id(1)
        lrow = tl.load(lrows_ptr + pid_row).to(tl.int64)
        brow = tl.load(brows_ptr + pid_row).to(tl.int64)
        cols = pid_blk * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
        in_row = cols < n_cols
        in_mask = cols < limit
        words = tl.load(bitmask_ptr + brow * bitmask_stride + (cols >> 5), mask=in_mask, other=0)
        bit = (words >> (cols & 31)) & 1
        disallowed = in_row & ((bit == 0) | (cols >= limit))
        tl.store(logits_ptr + lrow * logits_stride + cols, float("-inf"), mask=disallowed)

    return _apply_bitmask_kernel


def apply_bitmask_inplace(logits, bitmask, lrows, brows, limit: int) -> None:
    """Mask ``logits`` rows ``lrows[k]`` with ``bitmask`` rows ``brows[k]``, in place.

    Parameters
    ----------
    logits : torch.Tensor
        2-D CUDA tensor ``[B, V]`` (any float dtype) with unit column stride.
    bitmask : torch.Tensor
        2-D contiguous ``int32`` tensor ``[R, W]`` on the same device.
    lrows, brows : array_like of int
        Equal-length row ids (numpy arrays, lists or tensors).
    limit : int
        Columns ``>= limit`` are disallowed; the caller guarantees ``limit <= 32 * W``.
    """
    import torch

    dev = logits.device
    lr = torch.as_tensor(np.asarray(lrows, dtype=np.int64) if not isinstance(lrows, torch.Tensor)
                         else lrows, dtype=torch.int64).to(dev, non_blocking=True)
    br = torch.as_tensor(np.asarray(brows, dtype=np.int64) if not isinstance(brows, torch.Tensor)
                         else brows, dtype=torch.int64).to(dev, non_blocking=True)
    n_rows = int(lr.numel())
    n_cols = int(logits.shape[1])
    if n_rows == 0 or n_cols == 0:
        return
    limit = max(0, min(int(limit), n_cols, 32 * int(bitmask.shape[1])))
    kernel = _kernel()
    grid = (n_rows, (n_cols + BLOCK - 1) // BLOCK)
    kernel[grid](
        logits, bitmask, lr, br, n_cols, limit, logits.stride(0), bitmask.stride(0),
        BLOCK_SIZE=BLOCK,
    )
