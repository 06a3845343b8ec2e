"""``Items``: the output must be one of a (large) set of token-id sequences (generative retrieval).

Follows STATIC (``shared/design/algorithms.md`` part 2): the items are sorted and flattened into a
CSR trie so that a decode step is a fixed-shape gather whose cost does not depend on the number
of items. Differences from STATIC:

* items may have different lengths and one item may be a prefix of another; a per-state "is an
  item" bit says when end-of-sequence is allowed;
* the input is sorted and de-duplicated here (never trusted to be sorted);
* states are numbered level by level so that the child along CSR edge ``e`` is state ``e + 1``:
  STATIC's interleaved (token, next state) pairs collapse into one token array (the next state is
  computed, not loaded), which halves the edge memory. :meth:`CompiledItems.packed` rebuilds
  STATIC's ``(token, next)`` array for interoperability;
* the dense head is a precomputed *bitmask row* per state of the first levels (when their fan-out
  makes a row copy cheaper than a scatter), not ``V**d`` tables.

Layout and kernels: ``constrain.native.items_kernels`` (CPU, numba) and
``constrain.native.triton_items`` (CUDA, Triton). Beam search: ``constrain.beam``.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Iterable

import numpy as np

from .errors import InvalidSyntax, TokenRejected
from .matcher import (CompiledConstraint, Constraint, StateStackMatcher, as_numpy_bitmask,
                      as_token_id, check_bitmask_row)
from .native import items_kernels as _ik
from .vocab import Vocabulary

__all__ = ["Items", "CompiledItems", "ItemsMatcher"]

#: default cap on the memory of the precomputed dense mask rows (bytes)
DENSE_BUDGET = 32 << 20


def _item_error(msg: str, item: int, position: int | None = None) -> InvalidSyntax:
    err = InvalidSyntax(f"item {item}: {msg}", position=position)
    err.item = item
    return err


class Items(Constraint):
    """The output must be exactly one of ``sequences`` (token ids), followed by end-of-sequence.

    Parameters
    ----------
    sequences : sequence of sequences of int, or 2-D integer array
        The items. A 2-D array (numpy or torch) is read as padded rows; ``lengths`` gives each
        row's length (default: the full width). Items may differ in length and one may be a prefix
        of another; duplicates collapse; any order.
    lengths : 1-D integer array, optional
        Row lengths for a padded 2-D ``sequences`` (values past a row's length are ignored).

    Raises
    ------
    InvalidSyntax
        No items, an empty item, or a negative id (``err.item`` is the item index, ``err.position``
        the position in it). Ids at or beyond the vocabulary, EOS ids and ids without a token
        are rejected the same way by :meth:`compile`.

    Notes
    -----
    Construction copies the items into one padded ``int32[N, L]`` array (O(N L); about 1 s per
    million items given as Python lists, 0.1 s as an array). ``compile`` sorts them
    (O(N L log N), packed keys), builds the trie (two O(N L) numba passes) and validates the ids.
    """

    def __init__(self, sequences, lengths=None):
        C, lens = _to_padded(sequences, lengths)
        if C.shape[0] == 0:
            raise InvalidSyntax("Items: the item list is empty")
        empty = np.flatnonzero(lens <= 0)
        if empty.size:
            raise _item_error("is empty (items need at least one token)", int(empty[0]))
        bad = (C < 0) & (np.arange(C.shape[1])[None, :] < lens[:, None])
        if bad.any():
            i, p = np.argwhere(bad)[0]
            raise _item_error(f"token id {int(C[i, p])} is negative", int(i), int(p))
        self.data = C
        self.lengths = lens
        self.data.setflags(write=False)
        self.lengths.setflags(write=False)
        self._key: tuple | None = None

    @classmethod
    def from_strings(cls, strings: Iterable[str], tokenizer) -> "Items":
        """Items from texts, each tokenized with ``tokenizer.encode(s, add_special_tokens=False)``.

        Note that a constrained model must then produce exactly this tokenization of each text.
        """
        seqs = [list(tokenizer.encode(s, add_special_tokens=False)) for s in strings]
        return cls(seqs)

    @property
    def n_items(self) -> int:
        """Number of items as given (duplicates included)."""
        return int(self.data.shape[0])

    @property
    def max_len(self) -> int:
        return int(self.lengths.max())

    def __repr__(self) -> str:
        return f"Items(n={self.n_items}, max_len={self.max_len})"

    def cache_key(self) -> tuple:
        if self._key is None:
            h = hashlib.blake2b(digest_size=20)
            h.update(self.lengths.tobytes())
            h.update(np.ascontiguousarray(self.data).tobytes())
            self._key = (self.data.shape, h.hexdigest())
        return self._key

    def _compile(self, vocab: Vocabulary) -> "CompiledItems":
        return CompiledItems(self, vocab)


def _to_padded(sequences, lengths) -> tuple[np.ndarray, np.ndarray]:
    """(int32[N, L] padded with -1, int32[N] lengths) from lists or a padded array."""
    if hasattr(sequences, "detach") and hasattr(sequences, "cpu"):  # torch tensor
        sequences = sequences.detach().cpu().numpy()
    if isinstance(sequences, np.ndarray):
        if sequences.ndim != 2:
            raise InvalidSyntax(f"Items: a padded array must be 2-D, got shape {sequences.shape}")
        if sequences.size and not np.issubdtype(sequences.dtype, np.integer):
            raise InvalidSyntax(f"Items: token ids must be integers, got {sequences.dtype}")
        n, L = sequences.shape
        if lengths is None:
            lens = np.full(n, L, np.int32)
        else:
            lens = np.asarray(lengths).astype(np.int64).reshape(-1)
            if lens.shape[0] != n:
                raise InvalidSyntax(f"Items: {lens.shape[0]} lengths for {n} rows")
            if (lens > L).any():
                i = int(np.flatnonzero(lens > L)[0])
                raise _item_error(f"length {int(lens[i])} exceeds the array width {L}", i)
            lens = lens.astype(np.int32)
        big = np.abs(sequences.astype(np.int64, copy=False)) >= 2**31 if sequences.dtype.itemsize > 4 else None
        if big is not None and big.any():
            i, p = np.argwhere(big)[0]
            raise _item_error(f"token id {int(sequences[i, p])} does not fit in int32", int(i), int(p))
        C = sequences.astype(np.int32, copy=True)
        if L:
            C[np.arange(L)[None, :] >= lens[:, None]] = -1
        return C, lens
    if lengths is not None:
        raise InvalidSyntax("Items: `lengths` goes with a padded 2-D array")
    seqs = [s.tolist() if hasattr(s, "tolist") else s for s in sequences]
    n = len(seqs)
    try:
        lens = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=n)
    except TypeError:
        i = next(k for k, s in enumerate(seqs) if not hasattr(s, "__len__"))
        raise _item_error(f"is a {type(seqs[i]).__name__}, not a sequence of token ids", i) from None
    L = int(lens.max()) if n else 0
    C = np.full((n, max(L, 1)), -1, np.int64)
    if n:
        flat = np.fromiter((int(t) for s in seqs for t in s), dtype=np.int64, count=int(lens.sum()))
        rows = np.repeat(np.arange(n), lens)
        starts = np.zeros(n, np.int64)
        np.cumsum(lens[:-1], out=starts[1:])
        cols = np.arange(flat.shape[0]) - np.repeat(starts, lens)
        C[rows, cols] = flat
    big = np.abs(C) >= 2**31
    if big.any():
        i, p = np.argwhere(big)[0]
        raise _item_error(f"token id {int(C[i, p])} does not fit in int32", int(i), int(p))
    return C.astype(np.int32), lens.astype(np.int32)


def _sort_order(C: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """Row permutation sorting the items lexicographically, shorter prefix first.

    Tokens (plus one, so the -1 padding sorts first) are packed into as few uint64 keys as
    possible, then ``np.lexsort`` (or a single stable argsort). Cost: O(N L) + the sort."""
    n, L = C.shape
    top = int(C.max()) + 2 if C.size else 2
    bits = max(1, int(top - 1).bit_length())
    per = max(1, 64 // bits)
    keys = []
    for c0 in range(0, L, per):
        k = np.zeros(n, np.uint64)
        for c in range(c0, min(L, c0 + per)):
            k <<= np.uint64(bits)
            k |= (C[:, c].astype(np.int64) + 1).astype(np.uint64)
        k <<= np.uint64(bits * (per - min(per, L - c0)))
        keys.append(k)
    if len(keys) == 1:
        return np.argsort(keys[0], kind="stable")
    return np.lexsort(keys[::-1])


class CompiledItems(CompiledConstraint):
    """An item set compiled into a level-ordered CSR trie (see the module docstring).

    Attributes
    ----------
    indptr : int32[S + 1]
        Children of state ``s`` are edges ``indptr[s] .. indptr[s+1]-1``; edge ``e`` leads to ``e+1``.
    tokens : int32[S - 1]
        Edge labels, increasing within each state.
    end_bits : uint8[ceil(S / 8)]
        Little-endian bitset: state ``s`` is a complete item.
    level_start : int64[depth + 2]
        States of depth ``d`` are ``level_start[d] .. level_start[d+1]-1``.
    level_width : int32[depth + 1]
        ``K_d``: the maximum out-degree among depth-``d`` states (the step's fixed width).
    dense_rows : int32[n_dense, words]
        Bitmask rows (children and EOS) of states ``0 .. n_dense-1`` (the first ``dense_levels``
        levels), used by masks and ``allows`` instead of the CSR.
    n_states : int
        ``S``. ``done = S`` is the state after an end-of-sequence token.
    n_items : int
        Distinct items.
    build_seconds : float
        Wall time of the build (sort + trie + dense rows), for benchmarks.
    """

    def __init__(self, items: Items, vocab: Vocabulary, *, dense_budget: int = DENSE_BUDGET):
        import time

        t0 = time.perf_counter()
        self.items = items
        self.vocab = vocab
        C, lens = items.data, items.lengths
        _validate_ids(C, lens, vocab)
        order = _sort_order(C, lens)
        lcp, counts, unsorted = _ik.scan_sorted(C, lens, order)
        if unsorted >= 0:  # pragma: no cover - would be a bug in _sort_order
            raise AssertionError(f"item order is not lexicographic at row {unsorted}")
        depth = int(lens.max())
        counts = counts[: depth + 1]
        counts[0] = 1
        level_start = np.zeros(depth + 2, np.int64)
        np.cumsum(counts, out=level_start[1:])
        S = int(level_start[-1])
        if S >= 2**31 - 2:
            raise ValueError(f"item trie has {S} states; the int32 index holds at most 2**31 - 3")
        tokens, deg, is_end = _ik.emit_nodes(C, lens, order, lcp, level_start, S)
        indptr = np.zeros(S + 1, np.int32)
        np.cumsum(deg, out=indptr[1:])
        self.n_items = int((lcp >= 0).sum())
        self.indptr = indptr
        self.tokens = tokens
        self.end_bits = np.packbits(is_end, bitorder="little")
        self.level_start = level_start
        self.level_width = np.array(
            [int(deg[level_start[d]:level_start[d + 1]].max()) if counts[d] else 0
             for d in range(depth + 1)], np.int32)
        self.n_states = S
        self.done = S
        self.max_len = depth
        self._eos = frozenset(int(e) for e in vocab.eos_ids)
        self.eos_ids = np.asarray(vocab.eos_ids, dtype=np.int64)
        eos_row = np.zeros(vocab.words, np.uint32)
        for e in self.eos_ids.tolist():
            eos_row[e >> 5] |= np.uint32(1 << (e & 31))
        self.eos_row = eos_row.view(np.int32)
        self.dense_levels = self._choose_dense_levels(deg, dense_budget)
        n_dense = int(level_start[self.dense_levels])
        self.dense_rows = np.zeros((n_dense, vocab.words), np.int32)
        if n_dense:
            _ik.fill_masks(indptr, tokens, self.end_bits, np.zeros((0, vocab.words), np.uint32),
                         eos_row, S, np.arange(n_dense, dtype=np.int64),
                         self.dense_rows.view(np.uint32), np.arange(n_dense, dtype=np.int64))
        for a in (self.indptr, self.tokens, self.end_bits, self.level_start, self.level_width,
                  self.dense_rows, self.eos_row):
            a.setflags(write=False)
        self._device: dict = {}
        self._lock = threading.Lock()
        self.build_seconds = time.perf_counter() - t0

    def __getstate__(self) -> dict:
        """Pickle the arrays; not the lock or the device copies."""
        state = self.__dict__.copy()
        del state["_lock"], state["_device"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._device = {}
        for a in (self.indptr, self.tokens, self.end_bits, self.level_start, self.level_width,
                  self.dense_rows, self.eos_row):
            a.setflags(write=False)

    def _choose_dense_levels(self, deg: np.ndarray, budget: int) -> int:
        """Leading levels whose states get a precomputed bitmask row: while the rows fit in
        ``budget`` bytes and the level's mean fan-out is at least ``max(8, words / 16)`` (below
        that, scattering the children costs less than copying a row)."""
        words = self.vocab.words
        ls = self.level_start
        d = 0
        while d < len(ls) - 1:
            n = int(ls[d + 1])
            if n * words * 4 > budget:
                break
            lo, hi = int(ls[d]), int(ls[d + 1])
            if hi == lo or deg[lo:hi].mean() < max(8.0, words / 16):
                break
            d += 1
        return d

    # ------------------------------------------------------------------ queries

    def __repr__(self) -> str:
        return (f"CompiledItems(items={self.n_items}, states={self.n_states}, depth={self.max_len}, "
                f"K={self.level_width.tolist()}, {self.memory_bytes() / 2**20:.1f} MiB)")

    def matcher(self) -> "ItemsMatcher":
        return ItemsMatcher(self)

    def memory_bytes(self) -> int:
        """Bytes of the index arrays (CSR, end bits, dense rows, level tables)."""
        return int(sum(a.nbytes for a in (self.indptr, self.tokens, self.end_bits, self.level_start,
                                          self.level_width, self.dense_rows, self.eos_row)))

    def degree(self, states) -> np.ndarray:
        """Out-degree of each state (0 for ``done`` and ``-1``)."""
        s = np.asarray(states, dtype=np.int64)
        ok = (s >= 0) & (s < self.done)
        ss = np.where(ok, s, 0)
        return np.where(ok, self.indptr[ss + 1] - self.indptr[ss], 0)

    def depth_of(self, states) -> np.ndarray:
        """Depth (prefix length) of each state; ``-1`` for ``done`` and ``-1``."""
        s = np.asarray(states, dtype=np.int64)
        d = np.searchsorted(self.level_start, s, side="right") - 1
        return np.where((s >= 0) & (s < self.done), d, -1)

    def is_end(self, state: int) -> bool:
        return 0 <= state < self.done and bool((int(self.end_bits[state >> 3]) >> (state & 7)) & 1)

    def child(self, state: int, token: int) -> int:
        """State after ``token`` (not EOS) from ``state``, or -1. O(log degree)."""
        if not 0 <= state < self.done:
            return -1
        lo, hi = int(self.indptr[state]), int(self.indptr[state + 1])
        if hi - lo <= 8:
            for e in range(lo, hi):
                if self.tokens[e] == token:
                    return e + 1
            return -1
        e = lo + int(np.searchsorted(self.tokens[lo:hi], token))
        return e + 1 if e < hi and self.tokens[e] == token else -1

    def next_state(self, state: int, token: int) -> int:
        """State after ``token`` (EOS included) from ``state``, or -1 when not allowed."""
        if token in self._eos:
            if state == self.done or self.is_end(state):
                return self.done
            return -1
        return self.child(state, token)

    def walk(self, tokens) -> int:
        """State after the token sequence from the root, or -1 (EOS ids included)."""
        s = 0
        for t in tokens:
            s = self.next_state(s, int(t))
            if s < 0:
                return -1
        return s

    def iter_items(self):
        """Yield every item as a tuple of token ids, in lexicographic order (a DFS; for tests)."""
        stack = [(0, ())]
        while stack:
            s, pre = stack.pop()
            if self.is_end(s):
                yield pre
            lo, hi = int(self.indptr[s]), int(self.indptr[s + 1])
            for e in range(hi - 1, lo - 1, -1):
                stack.append((e + 1, pre + (int(self.tokens[e]),)))

    def packed(self, pad: int | None = None) -> np.ndarray:
        """STATIC's interleaved ``(token, next state)`` array ``int32[E + pad, 2]`` (computed on
        request; the index itself stores only the tokens). Padding rows are ``(V, -1)``, ``pad``
        defaults to the widest level so a fixed-width read never runs off the array."""
        pad = int(self.level_width.max()) if pad is None else int(pad)
        E = self.tokens.shape[0]
        out = np.empty((E + pad, 2), np.int32)
        out[:E, 0] = self.tokens
        out[:E, 1] = np.arange(1, E + 1, dtype=np.int32)
        out[E:, 0] = self.vocab.size
        out[E:, 1] = -1
        return out

    # ------------------------------------------------------------------ batched (CPU)

    def width(self, states=None, level: int | None = None) -> int:
        """The K of :meth:`step`: ``level_width[level]``, else the largest degree among ``states``."""
        if level is not None:
            return int(self.level_width[level]) if 0 <= level < len(self.level_width) else 0
        deg = self.degree(states)
        return int(deg.max()) if deg.size else 0

    def step(self, states, logp, *, level: int | None = None, K: int | None = None,
             eos_id: int = -1, out=None):
        """Batched K-candidate step on the CPU (numba): fixed-shape candidates of every row.

        Parameters
        ----------
        states : int array [R]
            Trie states (``-1`` = no beam, ``done`` = finished).
        logp : float array [R, V']
            Next-token log-probabilities (float32 or float64; numpy or CPU torch).
        level, K : int, optional
            Width: ``K`` if given, else ``level_width[level]``, else the largest degree among
            ``states``. Every row's degree must fit (``ValueError`` otherwise).
        eos_id : int
            Column of ``logp`` holding the end-of-sequence log-prob; ``-1`` scores an item's end
            as 0 (STATIC's setting: the item score is the sum of its tokens' log-probs).
        out : tuple of three arrays, optional
            Preallocated ``(tok int32, logp, next int32)`` outputs of shape ``[R, K+1]``.

        Returns
        -------
        tok : int32[R, K+1], cand_logp : [R, K+1] (logp's dtype), next : int32[R, K+1]
            Columns ``0..K-1``: the children in token order then padding (``-1, -inf, -1``);
            column ``K``: the end-of-sequence candidate (next state ``done``). See
            ``items_kernels.step``.

        Cost: O(R (K + 1)) writes, independent of the number of items; a row without a beam
        (``-1``) still writes its ``K + 1`` padding slots, so at a wide level with few live
        beams (the root: K = fan-out of the root) pass only the live rows. Inputs already in
        the kernel's layout (C-contiguous ``int64`` states, float32/64 log-probs) are not copied;
        with ``K`` and ``out`` given the call is the kernel plus about a microsecond.
        """
        st = states
        if not (type(st) is np.ndarray and st.dtype == np.int64 and st.ndim == 1
                and st.flags.c_contiguous):
            st = np.ascontiguousarray(np.asarray(states, dtype=np.int64).reshape(-1))
        lp = logp if type(logp) is np.ndarray else as_numpy_bitmask(logp)
        if lp.dtype not in (np.float32, np.float64):
            lp = lp.astype(np.float32)
        if K is None:
            K = self.width(st, level)
        R = st.shape[0]
        _check_step_inputs(lp, R, self.vocab.size, int(eos_id), int(K))
        if out is None:
            out = (np.empty((R, K + 1), np.int32), np.empty((R, K + 1), lp.dtype),
                   np.empty((R, K + 1), np.int32))
        elif not all(type(a) is np.ndarray and a.shape == (R, K + 1) for a in out):
            raise ValueError(f"out must be three numpy arrays of shape {(R, K + 1)}")
        trunc = _ik.step(self.indptr, self.tokens, self.end_bits, st, lp, int(K), int(eos_id),
                         self.done, *out)
        if trunc:
            raise ValueError(f"{trunc} rows have more than K={K} children; use a larger K")
        return out

    def fill_masks(self, states, bitmask, rows=None) -> None:
        """Write the bitmask of each of ``states`` into ``bitmask`` rows ``rows`` (default 0..R-1).

        ``bitmask`` is an int32 ``[*, words]`` numpy array or CPU tensor. Dense states copy a
        precomputed row; others cost O(words + degree). One numba call for all rows."""
        st = _int_array(states, "states")
        w = self.vocab.words
        bm = check_bitmask_row(bitmask, 0, w)
        rr = np.arange(st.shape[0], dtype=np.int64) if rows is None else _int_array(rows, "rows")
        if rr.shape != st.shape:
            raise ValueError(f"{rr.shape[0]} rows for {st.shape[0]} states")
        if rr.size and (rr.min() < 0 or rr.max() >= bm.shape[0]):
            raise ValueError(f"rows must lie in [0, {bm.shape[0]}), got {rr.min()}..{rr.max()}")
        if bm.shape[1] > w:  # the kernel writes exactly `words` words per row
            bm[rr, w:] = 0
            bm = bm[:, :w]
        _ik.fill_masks(self.indptr, self.tokens, self.end_bits, self.dense_rows.view(np.uint32),
                     self.eos_row.view(np.uint32), self.done, st, bm.view(np.uint32), rr)

    # ------------------------------------------------------------------ CUDA

    def to_device(self, device):
        """The index as torch tensors on ``device`` (cached): see ``native.triton_items``."""
        from .native import triton_items

        key = str(device)
        with self._lock:
            hit = self._device.get(key)
            if hit is None:
                hit = triton_items.DeviceIndex.from_compiled(self, device)
                self._device[key] = hit
        return hit


def _int_array(values, name: str) -> np.ndarray:
    """``values`` as a C-contiguous 1-D int64 array; ``TypeError`` for non-integer input."""
    a = np.asarray(values.detach().cpu() if hasattr(values, "detach") else values)
    if a.size and not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"{name} must be integers, got dtype {a.dtype}")
    return np.ascontiguousarray(a.astype(np.int64, copy=False).reshape(-1))


def _check_step_inputs(lp: np.ndarray, rows: int, vocab_size: int, eos_id: int, K: int) -> None:
    """The kernel reads ``lp[r, token]`` for every child token and ``lp[r, eos_id]``: refuse
    shapes that would make it read outside ``lp``."""
    if lp.ndim != 2 or lp.shape[0] != rows:
        raise ValueError(f"logp must have shape [{rows}, V'], got {tuple(lp.shape)}")
    if lp.shape[1] < vocab_size:
        raise ValueError(f"logp has {lp.shape[1]} columns; the vocabulary has {vocab_size} ids")
    if not -1 <= eos_id < lp.shape[1]:
        raise ValueError(f"eos_id {eos_id} out of range [-1, {lp.shape[1]})")
    if K < 0:
        raise ValueError(f"K must be >= 0, got {K}")


def _validate_ids(C: np.ndarray, lens: np.ndarray, vocab: Vocabulary) -> None:
    """Raise InvalidSyntax for the first id (in item order) at or beyond ``vocab.size``, an EOS
    id, or an id without a token. Vectorised: O(N L)."""
    n, L = C.shape
    valid_pos = np.arange(L)[None, :] < lens[:, None]
    bad_id = np.ones(vocab.size + 1, dtype=bool)  # index vocab.size: "out of range"
    ok = np.fromiter((b is not None for b in vocab.token_bytes), dtype=bool, count=vocab.size)
    bad_id[: vocab.size] = ~ok
    bad_id[vocab.eos_ids] = True
    ids = np.minimum(C, vocab.size)
    bad = valid_pos & bad_id[np.maximum(ids, 0)]
    if not bad.any():
        return
    i, p = (int(x) for x in np.argwhere(bad)[0])
    t = int(C[i, p])
    if t >= vocab.size:
        why = f"is outside the vocabulary (size {vocab.size})"
    elif vocab.is_eos(t):
        why = "is an end-of-sequence id (items end implicitly)"
    else:
        why = "has no token in the vocabulary (a control or special token)"
    raise _item_error(f"token id {t} {why}", i, p)


class ItemsMatcher(StateStackMatcher):
    """Per-sequence trie state with a history stack (``rollback`` = truncation).

    Costs: ``allows`` O(1) on dense states (a bit test) else O(log degree) (binary search of the
    sorted CSR row); ``advance`` O(log degree); ``fill_mask`` O(words) on dense states else
    O(words + degree) (one numba call); ``fork`` O(tokens consumed) (a list copy).
    """

    validates_arguments = True

    def allows(self, token_id: int) -> bool:
        c = self._c
        s = self._states[-1]
        token_id = as_token_id(token_id)
        if token_id in c._eos:
            return s == c.done or c.is_end(s)
        if not 0 <= token_id < c.vocab.size:
            return False
        if s < c.dense_rows.shape[0]:
            return bool((int(c.dense_rows[s, token_id >> 5]) >> (token_id & 31)) & 1)
        return c.child(s, token_id) >= 0

    def fill_mask(self, bitmask, row: int = 0) -> None:
        c = self._c
        s = self._states[-1]
        w = c.vocab.words
        bm = check_bitmask_row(bitmask, row, w)
        row = int(row)
        if s < c.dense_rows.shape[0]:
            bm[row, :w] = c.dense_rows[s]
            bm[row, w:] = 0
            return
        c.fill_masks(np.array([s], np.int64), bm, np.array([row], np.int64))

    def advance(self, token_id: int) -> None:
        token_id = as_token_id(token_id)
        nxt = self._c.next_state(self._states[-1], token_id)
        if nxt < 0:
            raise TokenRejected(f"token {token_id} is not allowed by {self._c.items!r} after "
                                f"{self.num_tokens} tokens")
        self._states.append(nxt)

    def is_accepting(self) -> bool:
        s = self._states[-1]
        return s == self._c.done or self._c.is_end(s)

    def is_terminated(self) -> bool:
        c = self._c
        s = self._states[-1]
        return s == c.done or (c.is_end(s) and c.indptr[s + 1] == c.indptr[s])
