"""apply_mask / allocate_bitmask / bool<->bitmask against brute-force references."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from constrain import bitmask as bmod
from constrain.bitmask import allocate_bitmask, apply_mask, bitmask_to_bool, bool_to_bitmask

NEG = float("-inf")


def _rand_bitmask(rng, rows, words, density=0.5):
    """Random int32 words, mixing all-allowed, all-disallowed and random words."""
    bits = rng.random((rows, words * 32)) < density
    bm = bool_to_bitmask(bits)
    kinds = rng.integers(0, 4, size=(rows, words))
    bm[kinds == 0] = -1
    bm[kinds == 1] = 0
    return bm


def _reference(logits: np.ndarray, bitmask: np.ndarray, lrows, brows, vocab_size=None):
    """Loop over every id: the definition of the layout."""
    out = logits.copy()
    v = out.shape[1]
    words = bitmask.shape[1]
    for lr, br in zip(lrows, brows):
        for t in range(v):
            ok = t < 32 * words and (vocab_size is None or t < vocab_size)
            if ok:
                ok = bool((int(bitmask[br, t >> 5]) >> (t & 31)) & 1)
            if not ok:
                out[lr, t] = NEG
    return out


@pytest.mark.parametrize("v", [1, 31, 32, 33, 64, 100, 1000, 1057])
@pytest.mark.parametrize("rows", [1, 3])
def test_apply_mask_matches_reference(v, rows):
    rng = np.random.default_rng(v * 10 + rows)
    words = (v + 31) // 32
    bm = _rand_bitmask(rng, rows, words)
    logits = rng.standard_normal((rows, v)).astype(np.float32)
    ref = _reference(logits, bm, range(rows), range(rows))
    t = torch.from_numpy(logits.copy())
    apply_mask(t, torch.from_numpy(bm))
    np.testing.assert_array_equal(t.numpy(), ref)
    # numpy bitmask
    t2 = torch.from_numpy(logits.copy())
    apply_mask(t2, bm)
    np.testing.assert_array_equal(t2.numpy(), ref)
    # the torch fallback path agrees
    t3 = torch.from_numpy(logits.copy())
    lr, br = bmod._normalize_rows(rows, rows, None)
    bmod._apply_torch(t3, torch.from_numpy(bm), lr, br, bmod._limit(v, words, None))
    np.testing.assert_array_equal(t3.numpy(), ref)


@pytest.mark.parametrize("extra", [1, 31, 32, 95])
def test_logits_wider_than_bitmask(extra):
    rng = np.random.default_rng(extra)
    v_mask = 70
    words = (v_mask + 31) // 32  # 3 words = 96 bits
    bm = _rand_bitmask(rng, 2, words, density=0.9)
    v = 32 * words + extra
    logits = rng.standard_normal((2, v)).astype(np.float32)
    ref = _reference(logits, bm, range(2), range(2))
    assert np.all(ref[:, 32 * words:] == NEG)
    t = torch.from_numpy(logits.copy())
    apply_mask(t, torch.from_numpy(bm))
    np.testing.assert_array_equal(t.numpy(), ref)
    # vocab_size disallows ids past it even when their bits are set
    ref2 = _reference(logits, bm, range(2), range(2), vocab_size=v_mask)
    t = torch.from_numpy(logits.copy())
    apply_mask(t, bm, vocab_size=v_mask)
    np.testing.assert_array_equal(t.numpy(), ref2)
    assert np.all(t.numpy()[:, v_mask:] == NEG)


def test_bitmask_wider_than_logits():
    rng = np.random.default_rng(5)
    bm = _rand_bitmask(rng, 2, 10)
    logits = rng.standard_normal((2, 100)).astype(np.float32)
    ref = _reference(logits, bm, range(2), range(2))
    t = torch.from_numpy(logits.copy())
    apply_mask(t, bm)
    np.testing.assert_array_equal(t.numpy(), ref)


def test_indices_xgrammar_semantics_and_compact():
    rng = np.random.default_rng(7)
    v, rows = 200, 5
    words = (v + 31) // 32
    logits = rng.standard_normal((rows, v)).astype(np.float32)
    # full bitmask: rows follow logits rows; untouched rows stay as they were
    bm = _rand_bitmask(rng, rows, words)
    idx = [3, 0]
    ref = _reference(logits, bm, idx, idx)
    for ind in (idx, np.array(idx), torch.tensor(idx)):
        t = torch.from_numpy(logits.copy())
        apply_mask(t, bm, indices=ind)
        np.testing.assert_array_equal(t.numpy(), ref)
    np.testing.assert_array_equal(ref[[1, 2, 4]], logits[[1, 2, 4]])
    # compact bitmask: row i applies to logits row indices[i]
    cbm = _rand_bitmask(rng, 2, words)
    ref = _reference(logits, cbm, idx, [0, 1])
    t = torch.from_numpy(logits.copy())
    apply_mask(t, cbm, indices=idx)
    np.testing.assert_array_equal(t.numpy(), ref)
    # torch path with indices
    t = torch.from_numpy(logits.copy())
    bmod._apply_torch(t, torch.from_numpy(cbm), np.array(idx), np.array([0, 1]), v)
    np.testing.assert_array_equal(t.numpy(), ref)
    # numpy logits with indices
    a = logits.copy()
    apply_mask(a, cbm, indices=idx)
    np.testing.assert_array_equal(a, ref)
    with pytest.raises(IndexError):
        apply_mask(torch.zeros(2, v), bm[:2], indices=[2])
    with pytest.raises(ValueError):
        apply_mask(torch.zeros(4, v), bm[:3], indices=[0, 1])
    with pytest.raises(ValueError):
        apply_mask(torch.zeros(4, v), bm[:3])


def test_one_row_bitmask_broadcasts():
    rng = np.random.default_rng(8)
    bm = _rand_bitmask(rng, 1, 4)
    logits = rng.standard_normal((3, 100)).astype(np.float32)
    ref = _reference(logits, bm, range(3), [0, 0, 0])
    t = torch.from_numpy(logits.copy())
    apply_mask(t, bm)
    np.testing.assert_array_equal(t.numpy(), ref)


def test_1d_logits_and_bitmask():
    rng = np.random.default_rng(9)
    v = 77
    bm = _rand_bitmask(rng, 1, 3)
    logits = rng.standard_normal(v).astype(np.float32)
    ref = _reference(logits[None], bm, [0], [0])[0]
    t = torch.from_numpy(logits.copy())
    apply_mask(t, torch.from_numpy(bm[0]))
    np.testing.assert_array_equal(t.numpy(), ref)
    a = logits.copy()
    apply_mask(a, bm[0])
    np.testing.assert_array_equal(a, ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_numpy_logits_in_place(dtype):
    rng = np.random.default_rng(10)
    v = 300
    bm = _rand_bitmask(rng, 2, 10)
    logits = rng.standard_normal((2, v)).astype(dtype)
    ref = _reference(logits, bm, range(2), range(2))
    a = logits.copy()
    assert apply_mask(a, bm) is None
    np.testing.assert_array_equal(a, ref)
    # a non-contiguous view is written through
    big = np.zeros((2, 2 * v), dtype=dtype)
    view = big[:, ::2]
    view[:] = logits
    apply_mask(view, bm)
    np.testing.assert_array_equal(big[:, ::2], ref)
    assert not np.any(np.isinf(big[:, 1::2]))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float64])
def test_torch_dtypes(dtype):
    rng = np.random.default_rng(11)
    v = 130
    bm = _rand_bitmask(rng, 2, 5)
    logits = torch.randn(2, v, dtype=dtype)
    allowed = bitmask_to_bool(bm, v)
    apply_mask(logits, bm)
    assert torch.equal(torch.isneginf(logits), torch.from_numpy(~allowed))
    assert logits.dtype == dtype


def test_non_contiguous_torch_logits():
    rng = np.random.default_rng(12)
    v = 100
    bm = _rand_bitmask(rng, 3, 4)
    base = torch.randn(v, 3)
    logits = base.t()  # [3, v], column stride 3
    expect = _reference(logits.numpy().copy(), bm, range(3), range(3))
    apply_mask(logits, bm)
    np.testing.assert_array_equal(base.t().numpy(), expect)


def test_allocate_bitmask():
    bm = allocate_bitmask(4, 100)
    assert bm.dtype == torch.int32 and tuple(bm.shape) == (4, 4)
    assert bool((bm == -1).all())
    logits = torch.randn(4, 100)
    before = logits.clone()
    apply_mask(logits, bm)
    assert torch.equal(logits, before)
    assert tuple(allocate_bitmask(1, 32).shape) == (1, 1)
    assert tuple(allocate_bitmask(1, 33).shape) == (1, 2)


@pytest.mark.parametrize("v", [1, 31, 32, 33, 63, 64, 65, 1000])
def test_bool_bitmask_round_trip(v):
    rng = np.random.default_rng(v)
    b = rng.random((3, v)) < 0.5
    bm = bool_to_bitmask(b)
    assert bm.dtype == np.int32 and bm.shape == (3, (v + 31) // 32)
    np.testing.assert_array_equal(bitmask_to_bool(bm, v), b)
    np.testing.assert_array_equal(bitmask_to_bool(torch.from_numpy(bm), v), b)
    np.testing.assert_array_equal(bool_to_bitmask(b[0]), bm[0])
    np.testing.assert_array_equal(bitmask_to_bool(bm[0], v), b[0])
    # bit by bit against the layout definition
    for r in range(3):
        for t in range(v):
            assert bool((int(bm[r, t >> 5]) >> (t & 31)) & 1) == b[r, t]


def test_bit_31_and_sign():
    b = np.zeros(64, dtype=bool)
    b[31] = True
    bm = bool_to_bitmask(b)
    assert bm[0] == np.int32(-(2**31)) and bm[1] == 0
    b[:] = True
    assert list(bool_to_bitmask(b)) == [-1, -1]
    assert bitmask_to_bool(np.array([-1], dtype=np.int32), 32).all()
    assert bitmask_to_bool(np.array([0xFFFFFFFF], dtype=np.uint32), 32).all()
    only31 = bitmask_to_bool(np.array([-(2**31)], dtype=np.int32), 32)
    assert only31[31] and only31.sum() == 1
    # past the mask: False
    wide = bitmask_to_bool(np.array([-1], dtype=np.int32), 40)
    assert wide[:32].all() and not wide[32:].any()
    # apply_mask honours bit 31
    logits = torch.zeros(1, 33)
    apply_mask(logits, np.array([[-(2**31), 1]], dtype=np.int32))
    allowed = torch.isfinite(logits[0]).nonzero().flatten().tolist()
    assert allowed == [31, 32]


def test_errors():
    with pytest.raises(TypeError):
        apply_mask(torch.zeros(1, 32), torch.zeros(1, 1, dtype=torch.int64))
    with pytest.raises(TypeError):
        apply_mask(torch.zeros(1, 32, dtype=torch.int32), np.zeros((1, 1), np.int32))
    with pytest.raises(TypeError):
        bitmask_to_bool(np.zeros(3, np.int64), 3)


def test_triton_kernel_in_interpreter_mode():
    """The Triton kernel, run by Triton's CPU interpreter, equals the CPU path."""
    pytest.importorskip("triton")
    code = textwrap.dedent(
        """
        import numpy as np, torch
        from constrain import bitmask as B
        from constrain.native import triton_mask
        rng = np.random.default_rng(0)
        for v, words, rows, idx in [(100, 4, 3, None), (3000, 80, 2, None), (5000, 100, 3, [2, 0]),
                                    (70, 2, 2, None), (1025, 40, 1, None)]:
            bits = rng.random((rows, 32 * words)) < 0.5
            bm = torch.from_numpy(B.bool_to_bitmask(bits))
            bm[:, ::3] = 0
            lg = torch.randn(rows, v)
            ref = lg.clone()
            B.apply_mask(ref, bm, indices=idx)
            out = lg.clone()
            lr, br = B._normalize_rows(rows, rows, idx)
            triton_mask.apply_bitmask_inplace(out, bm, lr, br, B._limit(v, words, None))
            assert torch.equal(out, ref), (v, words)
        print("OK")
        """
    )
    env = dict(os.environ, TRITON_INTERPRET="1")
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0 and "OK" in res.stdout, res.stderr[-3000:]


def test_triton_module_imports_without_cuda():
    from constrain.native import triton_mask

    assert isinstance(triton_mask.available(), bool)
    if not torch.cuda.is_available():
        assert triton_mask.available() is False


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("v", [100, 49152, 151936, 262144])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_cuda_matches_cpu(v, dtype):
    rng = np.random.default_rng(v)
    rows = 4
    words = (v + 31) // 32 - (1 if v > 1000 else 0)  # logits wider than the mask too
    bm = _rand_bitmask(rng, rows, words)
    logits = torch.randn(rows, v, dtype=dtype)
    cpu = logits.clone()
    apply_mask(cpu, bm)
    for idx in (None, [3, 1]):
        cpu = logits.clone()
        apply_mask(cpu, bm, indices=idx)
        gpu = logits.cuda()
        apply_mask(gpu, torch.from_numpy(bm).cuda(), indices=idx)  # Triton path when available
        assert torch.equal(gpu.cpu(), cpu)
        gpu2 = logits.cuda()
        lr, br = bmod._normalize_rows(rows, rows, idx)
        bmod._apply_torch(gpu2, torch.from_numpy(bm).cuda(), lr, br, bmod._limit(v, words, None))
        assert torch.equal(gpu2.cpu(), cpu)
    # numpy bitmask with CUDA logits
    gpu = logits.cuda()
    apply_mask(gpu, bm)
    cpu = logits.clone()
    apply_mask(cpu, bm)
    assert torch.equal(gpu.cpu(), cpu)
