"""numba kernels of the signature transition table: ``(signature << 8 | byte) -> signature``.

A set's signature names its future, so a signed set followed by a byte has a known next
signature; the feed kernel reads this table to sign every position on a known path as it writes
it (no Python per byte). Layout: ``t`` int64 [cap, 2], ``cap`` a power of two, open addressing
with linear probing; row ``(key + 1, value + 1)``, 0 = empty. Entries are never removed (the
table is replaced by an empty one when full).

Concurrency: writers hold the engine's lock; readers (feed kernels in other threads, without
the GIL) need none. A row is written once, value first then key, and a reader that finds the
key with a value of 0 reads "unknown" (-1): a race can only cost a signature, never give a
wrong one (64-bit aligned loads and stores are atomic on the targets numba supports).
"""

from __future__ import annotations

import numba
import numpy as np

_MUL = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing


@numba.njit(cache=True, nogil=True, inline="always")
def _slot(key, mask):
    return np.int64((np.uint64(key) * _MUL) >> np.uint64(17)) & mask


@numba.njit(cache=True, nogil=True)
def get(t, key):
    """The value of ``key`` (>= 0), -1 when absent. Cost: O(1) expected (load <= 1/2)."""
    mask = t.shape[0] - 1
    s = _slot(key, mask)
    k1 = key + 1
    while True:
        k = t[s, 0]
        if k == k1:
            return t[s, 1] - 1
        if k == 0:
            return np.int64(-1)
        s = (s + 1) & mask


@numba.njit(cache=True, nogil=True)
def put(t, keys_vals, n):
    """Insert rows ``0 .. n - 1`` of ``keys_vals`` (int64 [., 2]: key, value; rows with a key
    < 0 skipped) into ``t``; an existing key keeps its value (ids are never reused, so both are
    true). Returns the number of new rows. The caller keeps the load <= 1/2 (`rehash` into a
    larger table first)."""
    mask = t.shape[0] - 1
    added = 0
    for r in range(n):
        key = keys_vals[r, 0]
        if key < 0:
            continue
        s = _slot(key, mask)
        k1 = key + 1
        while True:
            k = t[s, 0]
            if k == k1:
                break
            if k == 0:
                t[s, 1] = keys_vals[r, 1] + 1
                t[s, 0] = k1
                added += 1
                break
            s = (s + 1) & mask
    return added


@numba.njit(cache=True, nogil=True)
def rehash(old, new):
    """Insert every row of ``old`` into the empty table ``new``."""
    mask = new.shape[0] - 1
    for r in range(old.shape[0]):
        k1 = old[r, 0]
        if k1 == 0 or old[r, 1] == 0:
            continue
        s = _slot(k1 - 1, mask)
        while new[s, 0] != 0:
            s = (s + 1) & mask
        new[s, 1] = old[r, 1]
        new[s, 0] = k1


class TransTable:
    """The table and its bookkeeping (Python side). ``t`` is what kernels read; it is replaced,
    never resized in place, so a kernel running on the old array stays safe. Writes under the
    engine's lock. Holds at most ``max_entries`` rows (then starts empty again: every row stays
    true, the table is just bounded)."""

    def __init__(self, max_entries: int, cap: int = 1024):
        self.max_entries = int(max_entries)
        self.t = np.zeros((cap, 2), dtype=np.int64)
        self.n = 0

    def __len__(self) -> int:
        return self.n

    def get(self, key: int) -> int | None:
        """The next signature after ``key`` = ``signature << 8 | byte``, or None."""
        v = get(self.t, key)
        return None if v < 0 else int(v)

    def put_rows(self, keys_vals: np.ndarray, n: int) -> None:
        """Insert rows ``0 .. n - 1`` of ``keys_vals`` (int64 [., 2], keys < 0 skipped)."""
        if self.n + n > self.max_entries:
            self.clear()
        cap = self.t.shape[0]
        if 2 * (self.n + n) > cap:
            while 2 * (self.n + n) > cap:
                cap *= 2
            bigger = np.zeros((cap, 2), dtype=np.int64)
            rehash(self.t, bigger)
            self.t = bigger
        self.n += int(put(self.t, keys_vals, n))

    def put(self, key: int, value: int) -> None:
        self.put_rows(np.array([[key, value]], dtype=np.int64), 1)

    def clear(self) -> None:
        self.t = np.zeros((1024, 2), dtype=np.int64)
        self.n = 0
