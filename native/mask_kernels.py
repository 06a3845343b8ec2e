"""numba kernel of `constrain.apply_mask` on the CPU: bitmask rows -> ``-inf`` in logits rows.

Plain typed arrays only, ``cache=True`` (the JIT cost is paid once per machine), ``nogil=True``.
"""

from __future__ import annotations

import numba


@numba.njit(cache=True, nogil=True, boundscheck=False)
def mask_rows(logits, bitmask, lrows, brows, limit, ninf):  # pragma: no cover - compiled
    """Set ``logits[lrows[k], t]`` to ``ninf`` unless bit ``t`` of ``bitmask[brows[k]]`` is set
    and ``t < min(limit, V, 32 * W)``. The caller checks that every ``lrows``/``brows`` entry is
    a valid row (bounds checks are off); columns are clamped here. One pass, no temporaries."""
    # `ninf` is -inf in logits' dtype (or its bit pattern when 16-bit floats are viewed as int16)
    v = logits.shape[1]
    w = bitmask.shape[1]
    lim = min(limit, v, 32 * w)
    full = lim // 32
    for k in range(lrows.shape[0]):
        row = logits[lrows[k]]
        bm = bitmask[brows[k]]
        for i in range(full):
            x = bm[i]
            if x == -1:
                continue
            base = i * 32
            if x == 0:
                for b in range(32):
                    row[base + b] = ninf
            else:
                for b in range(32):  # branch-free select: vectorises
                    val = row[base + b]
                    row[base + b] = val if (x >> b) & 1 else ninf
        for j in range(full * 32, lim):
            if not (bm[j >> 5] >> (j & 31)) & 1:
                row[j] = ninf
        for j in range(lim, v):
            row[j] = ninf

