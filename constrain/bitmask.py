"""Token bitmasks: allocation, conversion and application to logits.

Layout (the same as xgrammar / llguidance): a mask for ``rows`` sequences over a vocabulary of
``V`` ids is an ``int32`` array of shape ``[rows, words]`` with ``words = ceil(V / 32)``. Token
``t`` is allowed in row ``r`` iff ``(mask[r, t >> 5] >> (t & 31)) & 1``; bit 31 is the sign bit of
the ``int32`` word. Padding bits (ids ``>= V`` in the last word) carry no meaning and are ignored
by every function here, which always treats ids ``>= V`` as disallowed.

Functions
---------
allocate_bitmask
    A ``torch.int32`` tensor filled with ``-1`` (everything allowed).
apply_mask
    In place: set the logits of disallowed ids to ``-inf``. CPU (numba kernel for float32/float64,
    vectorised torch/numpy otherwise), CUDA (Triton kernel, torch fallback), numpy arrays.
bitmask_to_bool, bool_to_bitmask
    Conversions to and from ``bool`` arrays (numpy, vectorised).
"""

from __future__ import annotations

import functools
import sys
from typing import Sequence

import numpy as np

__all__ = ["allocate_bitmask", "apply_mask", "bitmask_to_bool", "bool_to_bitmask", "bitmask_words"]

_LITTLE = sys.byteorder == "little"


class RowIndexError(IndexError, ValueError):
    """A row index outside the logits or the bitmask (an ``IndexError`` and a ``ValueError``)."""


def _count(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return int(value)


def bitmask_words(vocab_size: int) -> int:
    """Number of int32 words per bitmask row for ``vocab_size`` ids: ``ceil(vocab_size / 32)``."""
    return (_count(vocab_size, "vocab_size") + 31) // 32


def allocate_bitmask(rows: int, vocab_size: int):
    """Allocate a bitmask with every id allowed.

    Parameters
    ----------
    rows : int
        Number of rows (sequences).
    vocab_size : int
        Number of token ids the mask covers (the logits width or the vocabulary size).

    Returns
    -------
    torch.Tensor
        ``int32`` tensor of shape ``[rows, ceil(vocab_size / 32)]`` on the CPU, filled with ``-1``
        (all bits set: everything allowed, including the padding bits of the last word, which are
        ignored anyway). ``bitmask.numpy()`` shares its memory, so matchers can fill it through
        numpy without a copy. Cost: one allocation of ``4 * rows * words`` bytes.
    """
    import torch

    return torch.full((_count(rows, "rows"), bitmask_words(vocab_size)), -1, dtype=torch.int32)


# ----------------------------------------------------------------------------------------------
# numpy conversions


def _as_int32_words(bitmask) -> np.ndarray:
    """The bitmask as a numpy int32 array (a view where possible). Accepts torch tensors
    (moved to CPU), and numpy int32/uint32 arrays."""
    if not isinstance(bitmask, np.ndarray):
        try:
            import torch
        except ImportError:  # pragma: no cover
            torch = None
        if torch is not None and isinstance(bitmask, torch.Tensor):
            if bitmask.dtype != torch.int32:
                raise TypeError(f"bitmask must have dtype int32, got {bitmask.dtype}")
            bitmask = bitmask.detach().cpu().numpy()
        else:
            bitmask = np.asarray(bitmask)
    if bitmask.dtype == np.uint32:
        bitmask = bitmask.view(np.int32)
    if bitmask.dtype != np.int32:
        raise TypeError(f"bitmask must have dtype int32, got {bitmask.dtype}")
    return bitmask


def bitmask_to_bool(bitmask, vocab_size: int) -> np.ndarray:
    """Unpack a bitmask into a ``bool`` array.

    Parameters
    ----------
    bitmask : numpy.ndarray or torch.Tensor
        ``int32`` (or numpy ``uint32``) of shape ``[words]`` or ``[rows, words]``. A CUDA tensor is
        copied to the host.
    vocab_size : int
        Width of the result. Ids ``>= 32 * words`` come out ``False``; padding bits past
        ``vocab_size`` are dropped.

    Returns
    -------
    numpy.ndarray
        ``bool`` array of shape ``[vocab_size]`` or ``[rows, vocab_size]``: ``True`` = allowed.
        Cost: one ``np.unpackbits`` over ``4 * words`` bytes per row (vectorised, ~1 ns/id).
    """
    bm = _as_int32_words(bitmask)
    if bm.ndim not in (1, 2):
        raise ValueError(f"bitmask must be 1-D or 2-D, got shape {bm.shape}")
    vocab_size = int(vocab_size)
    squeeze = bm.ndim == 1
    bm2 = np.ascontiguousarray(bm.reshape(1, -1) if squeeze else bm)
    if not _LITTLE:  # pragma: no cover - big-endian hosts
        bm2 = bm2.astype("<i4")
    bits = np.unpackbits(bm2.view(np.uint8), axis=-1, bitorder="little").view(np.bool_)
    width = bits.shape[-1]
    if vocab_size <= width:
        out = np.ascontiguousarray(bits[:, :vocab_size])
    else:
        out = np.zeros((bits.shape[0], vocab_size), dtype=np.bool_)
        out[:, :width] = bits
    return out[0] if squeeze else out


def bool_to_bitmask(bool_mask) -> np.ndarray:
    """Pack a ``bool`` array (``True`` = allowed) into the int32 bitmask layout.

    Parameters
    ----------
    bool_mask : array_like of bool
        Shape ``[V]`` or ``[rows, V]`` (numpy or a CPU torch tensor).

    Returns
    -------
    numpy.ndarray
        ``int32`` array of shape ``[ceil(V / 32)]`` or ``[rows, ceil(V / 32)]``; padding bits of the
        last word are 0. Bit 31 maps onto the sign bit (id ``32k + 31`` allowed makes word ``k``
        negative). Cost: one ``np.packbits`` (vectorised).
    """
    if not isinstance(bool_mask, np.ndarray):
        if hasattr(bool_mask, "detach"):
            bool_mask = bool_mask.detach().cpu().numpy()
        bool_mask = np.asarray(bool_mask)
    b = bool_mask.astype(np.bool_, copy=False)
    if b.ndim not in (1, 2):
        raise ValueError(f"bool_mask must be 1-D or 2-D, got shape {b.shape}")
    squeeze = b.ndim == 1
    b2 = b.reshape(1, -1) if squeeze else b
    rows, v = b2.shape
    words = bitmask_words(v)
    if v != 32 * words:
        padded = np.zeros((rows, 32 * words), dtype=np.bool_)
        padded[:, :v] = b2
        b2 = padded
    packed = np.packbits(b2, axis=-1, bitorder="little")  # uint8 [rows, 4 * words]
    out = np.ascontiguousarray(packed).view("<i4").astype(np.int32, copy=False)
    out = np.ascontiguousarray(out).reshape(rows, words)
    return out[0] if squeeze else out


# ----------------------------------------------------------------------------------------------
# apply_mask


@functools.lru_cache(maxsize=None)
def _numba_kernel():
    """The CPU kernel (compiled on first use, cached on disk); ``None`` if numba is unusable."""
    try:
        import numba  # noqa: F401
    except Exception:  # pragma: no cover - numba is a hard dependency, but stay usable without
        return None

    from constrain.native.mask_kernels import mask_rows

    return mask_rows


# -inf bit patterns of the 16-bit float formats, as int16 (the kernel writes them through an int16 view)
_NINF_BITS16 = {"float16": np.int16(-1024), "bfloat16": np.int16(-128)}  # 0xFC00, 0xFF80


def _numba_usable() -> bool:
    return _numba_kernel() is not None


def _normalize_rows(n_logit_rows: int, n_mask_rows: int, indices) -> tuple[np.ndarray, np.ndarray]:
    """(logit row ids, bitmask row ids) as int64 numpy arrays, per the ``indices`` rules."""
    if indices is None:
        if n_mask_rows == n_logit_rows:
            r = np.arange(n_logit_rows, dtype=np.int64)
            return r, r
        if n_mask_rows == 1:
            return np.arange(n_logit_rows, dtype=np.int64), np.zeros(n_logit_rows, dtype=np.int64)
        raise ValueError(
            f"bitmask has {n_mask_rows} rows but logits have {n_logit_rows}; pass `indices` "
            "or a bitmask with one row per logits row")
    if hasattr(indices, "detach"):
        idx = indices.detach().cpu().numpy()
    else:
        idx = np.asarray(indices)
    idx = idx.astype(np.int64, copy=False).reshape(-1)
    if idx.size and (idx.min() < 0 or idx.max() >= n_logit_rows):
        raise RowIndexError(f"indices out of range for {n_logit_rows} logits rows: {idx.tolist()[:8]}")
    if n_mask_rows == n_logit_rows:  # xgrammar semantics: bitmask rows follow logits rows
        return idx, idx
    if n_mask_rows == idx.size:  # compact bitmask: row i applies to logits row indices[i]
        return idx, np.arange(idx.size, dtype=np.int64)
    raise ValueError(
        f"bitmask has {n_mask_rows} rows; with {idx.size} indices it must have either one row per "
        f"logits row ({n_logit_rows}) or one row per index ({idx.size})")


def _limit(v: int, words: int, vocab_size) -> int:
    lim = min(v, 32 * words)
    if vocab_size is not None:
        if vocab_size < 0:
            raise ValueError(f"vocab_size must be >= 0, got {vocab_size}")
        lim = min(lim, int(vocab_size))
    return lim


def _apply_numpy(logits: np.ndarray, bm: np.ndarray, lrows, brows, limit: int, use_numba=True):
    """logits: 2-D numpy view (writes go to the caller's memory); bm: 2-D int32 numpy."""
    kernel = _numba_kernel() if use_numba else None
    if kernel is not None and logits.shape[1] > 0:
        if logits.dtype in (np.float32, np.float64):
            kernel(logits, np.ascontiguousarray(bm), lrows, brows, limit, logits.dtype.type(-np.inf))
            return
        if logits.dtype == np.float16:
            kernel(logits.view(np.int16), np.ascontiguousarray(bm), lrows, brows, limit,
                   _NINF_BITS16["float16"])
            return
    v = logits.shape[1]
    allowed = bitmask_to_bool(bm[brows], limit)  # [k, limit]
    identity = lrows.size == logits.shape[0] and np.array_equal(lrows, np.arange(logits.shape[0]))
    if identity:
        np.copyto(logits[:, :limit], -np.inf, where=~allowed)
        logits[:, limit:v] = -np.inf
    else:
        for k, r in enumerate(lrows.tolist()):
            np.copyto(logits[r, :limit], -np.inf, where=~allowed[k])
            logits[r, limit:v] = -np.inf


def _apply_torch(logits, bm, lrows: np.ndarray, brows: np.ndarray, limit: int) -> None:
    """Vectorised torch path, any device. logits: 2-D tensor (a view of the caller's); bm: 2-D
    int32 tensor on logits.device."""
    import torch

    n = logits.shape[0]
    v = logits.shape[1]
    dev = logits.device
    identity = lrows.size == n and np.array_equal(lrows, np.arange(n))
    b_identity = brows.size == bm.shape[0] and np.array_equal(brows, np.arange(bm.shape[0]))
    if not b_identity:
        bm = bm.index_select(0, torch.from_numpy(brows).to(dev))
    words_needed = (limit + 31) // 32
    bm = bm[:, :words_needed]
    if dev.type == "cpu":
        allowed = torch.from_numpy(bitmask_to_bool(bm, limit))
    else:
        shifts = torch.arange(32, dtype=torch.int32, device=dev)
        allowed = ((bm.unsqueeze(-1) >> shifts) & 1).reshape(bm.shape[0], -1)[:, :limit].bool()
    neg = float("-inf")
    if identity:
        logits[:, :limit].masked_fill_(~allowed, neg)
        if limit < v:
            logits[:, limit:].fill_(neg)
    else:
        idx = torch.from_numpy(lrows).to(dev)
        sub = logits.index_select(0, idx)
        sub[:, :limit].masked_fill_(~allowed, neg)
        if limit < v:
            sub[:, limit:].fill_(neg)
        logits.index_copy_(0, idx, sub)


def apply_mask(logits, bitmask, *, indices=None, vocab_size: int | None = None) -> None:
    """Set the logits of disallowed token ids to ``-inf``, in place.

    Parameters
    ----------
    logits : torch.Tensor or numpy.ndarray
        Shape ``[B, V]`` or ``[V]``, any floating dtype, any device (numpy: host). Modified in
        place; nothing is returned.
    bitmask : torch.Tensor or numpy.ndarray
        ``int32`` (numpy ``uint32`` accepted) of shape ``[R, W]`` or ``[W]``. If it is not on
        ``logits.device`` it is copied there (a host-to-device copy per call for CUDA logits; keep
        it on the device, or pinned, when that matters).
    indices : sequence of int, numpy array or tensor, optional
        Which logits rows to mask; the others are left untouched. Following xgrammar's
        ``apply_token_bitmask_inplace``, when the bitmask has one row per logits row (``R == B``)
        row ``indices[i]`` of the bitmask is applied to row ``indices[i]`` of the logits.
        Otherwise, when ``R == len(indices)``, the bitmask is compact: its row ``i`` applies to
        logits row ``indices[i]``. Without ``indices``, ``R`` must equal ``B`` (or be 1, which
        broadcasts to every row).
    vocab_size : int, optional
        Number of real token ids. Ids ``>= vocab_size`` are disallowed.

    Notes
    -----
    Column ``t`` of a masked row is set to ``-inf`` unless ``t < min(V, 32 * W, vocab_size)`` and
    its bit is set. In particular logits wider than the bitmask (``V > 32 * W``, e.g. a model's
    padded embedding) get their extra columns disallowed; this differs from xgrammar, which leaves
    them untouched. A bitmask wider than the logits is fine (extra words ignored).

    Paths and cost:

    * CPU, float32/float64/float16/bfloat16 (torch or numpy): a numba kernel (compiled on first use and cached on
      disk) that skips all-allowed words, blanks all-disallowed words and does a branch-free
      select elsewhere; one pass over the masked rows, no temporaries.
      About 15 us for one 49k row and 70 us for one 262k row on one core.
      16-bit floats are written through an int16 view (the -inf bit pattern).
    * CPU, other cases (tensors requiring grad, numba unavailable): ``np.unpackbits`` to a bool
      mask + ``masked_fill_``.
    * CUDA: a Triton kernel (``constrain.native.triton_mask``) when Triton is importable, one
      program per (row, block of 1024 columns), asynchronous, no host sync (``indices`` given as a
      list or CPU array are copied to the device). Otherwise a torch fallback (shift-and-mask
      unpack, one ``[B, 32 * W]`` temporary).
    """
    if isinstance(logits, np.ndarray):
        return _apply_mask_numpy(logits, bitmask, indices=indices, vocab_size=vocab_size)

    import torch

    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"logits must be a torch.Tensor or numpy.ndarray, got {type(logits).__name__}")
    if not logits.is_floating_point():
        raise TypeError(f"logits must be floating point, got {logits.dtype}")
    if logits.ndim not in (1, 2):
        raise ValueError(f"logits must be 1-D or 2-D, got shape {tuple(logits.shape)}")
    lg = logits.unsqueeze(0) if logits.ndim == 1 else logits

    if isinstance(bitmask, np.ndarray):
        bm_t = torch.from_numpy(_as_int32_words(bitmask))
    elif isinstance(bitmask, torch.Tensor):
        if bitmask.dtype != torch.int32:
            raise TypeError(f"bitmask must have dtype int32, got {bitmask.dtype}")
        bm_t = bitmask
    else:
        bm_t = torch.from_numpy(_as_int32_words(bitmask))
    if bm_t.ndim not in (1, 2):
        raise ValueError(f"bitmask must be 1-D or 2-D, got shape {tuple(bm_t.shape)}")
    bm_t = bm_t.unsqueeze(0) if bm_t.ndim == 1 else bm_t

    n, v = lg.shape
    lrows, brows = _normalize_rows(n, bm_t.shape[0], indices)
    if lrows.size == 0 or v == 0:
        return
    limit = _limit(v, bm_t.shape[1], vocab_size)

    if lg.device.type == "cpu":
        numba_dtypes = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
        bm_np = _as_int32_words(bm_t)
        if _numba_usable() and not lg.requires_grad and lg.dtype in numba_dtypes:
            if lg.dtype == torch.bfloat16:
                _numba_kernel()(lg.view(torch.int16).numpy(), np.ascontiguousarray(bm_np),
                                lrows, brows, limit, _NINF_BITS16["bfloat16"])
            else:  # float16 goes through numpy's float16 -> int16 view
                _apply_numpy(lg.numpy(), bm_np, lrows, brows, limit)
        else:
            _apply_torch(lg, torch.from_numpy(np.ascontiguousarray(bm_np)), lrows, brows, limit)
        return

    if bm_t.device != lg.device:
        bm_t = bm_t.to(lg.device, non_blocking=True)
    if lg.is_cuda and lg.stride(-1) == 1 and not lg.requires_grad:
        from constrain.native import triton_mask

        if triton_mask.available():
            triton_mask.apply_bitmask_inplace(lg, bm_t.contiguous(), lrows, brows, limit)
            return
    _apply_torch(lg, bm_t, lrows, brows, limit)


def _apply_mask_numpy(logits: np.ndarray, bitmask, *, indices=None, vocab_size=None) -> None:
    if not np.issubdtype(logits.dtype, np.floating):
        raise TypeError(f"logits must be floating point, got {logits.dtype}")
    if logits.ndim not in (1, 2):
        raise ValueError(f"logits must be 1-D or 2-D, got shape {logits.shape}")
    if not logits.flags.writeable:
        raise ValueError("logits array is read-only")
    lg = logits.reshape(1, -1) if logits.ndim == 1 else logits  # a view for 1-D input
    if logits.ndim == 1 and not np.shares_memory(lg, logits):  # pragma: no cover
        raise ValueError("1-D logits must be viewable as [1, V]")
    bm = _as_int32_words(bitmask)
    if bm.ndim not in (1, 2):
        raise ValueError(f"bitmask must be 1-D or 2-D, got shape {bm.shape}")
    bm = bm.reshape(1, -1) if bm.ndim == 1 else bm
    n, v = lg.shape
    lrows, brows = _normalize_rows(n, bm.shape[0], indices)
    if lrows.size == 0 or v == 0:
        return
    _apply_numpy(lg, bm, lrows, brows, _limit(v, bm.shape[1], vocab_size))
