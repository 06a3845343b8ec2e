"""`Chart`: a byte-level Earley chart as flat integer arrays, fed by the numba core.

The arrays and the kernels are described in `native/earley_kernels.py`; the tables are the
engine's `tables.EarleyTables`. Python does per-call bookkeeping only: growing an array the
kernel found too small, checking the clock between calls (the kernel signs positions on known
paths itself: `Earley._sig_trans`). ``truncate`` is rollback, ``copy`` is fork (array copies).

The chart is also a read-only sequence of `earley.ESet` (``len``, ``chart[i]``): a set is
materialised from the arrays on first access and memoised until truncated, so the mask path
(`masks.MaskBuilder`) and the Python reference (`Earley.feed`) read it unchanged. Signatures live
in the arrays (column ``C_SIG``, -1 unknown), written by the signing kernel
(`signatures.NativeTable`): a mask-cache hit needs no set. A memoised set's ``_sig`` is not
kept up to date; read `sig_at`.
"""

from __future__ import annotations

import threading
import time
import weakref

import numpy as np

from ..errors import LimitExceeded
from ..native import earley_kernels as K
from .earley import ESet

__all__ = ["Chart"]

_WORK_PER_CALL = 1 << 16  # Earley items a kernel call handles before the clock is checked
_local = threading.local()


class _Scratch:
    """Per thread and tables: the kernels' scratch arrays (see `native/earley_kernels.py`)."""

    __slots__ = ("hk", "tmp", "comp", "stamp", "st")

    def __init__(self, n_syms: int):
        self.hk = np.full(4096, -1, dtype=np.int64)
        self.tmp = np.empty((1024, 3), dtype=np.int32)
        self.comp = np.empty((256, 2), dtype=np.int32)
        self.stamp = np.zeros((2, max(n_syms, 1)), dtype=np.int32)
        self.st = np.zeros(16, dtype=np.int64)

    def grow(self, what: int) -> None:
        if what == K.CAP_TMP:
            self.tmp = np.empty((2 * self.tmp.shape[0], 3), dtype=np.int32)
            self.hk = np.full(4 * self.tmp.shape[0], -1, dtype=np.int64)
        else:
            self.comp = np.empty((2 * self.comp.shape[0], 2), dtype=np.int32)


def _scratch(tables) -> _Scratch:
    """This thread's scratch for ``tables`` (the last one used is kept at hand: one attribute
    lookup on the per-token path)."""
    last = getattr(_local, "last", None)
    if last is not None and last[0] is tables:
        return last[1]
    d = getattr(_local, "d", None)
    if d is None:
        d = _local.d = weakref.WeakKeyDictionary()
    s = d.get(tables)
    if s is None:
        s = d[tables] = _Scratch(int(tables.off[K._K + 1]))
    _local.last = (tables, s)  # holds one tables object per thread alive
    return s


_S_N, _S_TOTAL, _S_DONE, _OK, _YIELD = K.S_N, K.S_TOTAL, K.S_DONE, K.OK, K.YIELD
_L_POS, _L_TOTAL, _L_WORK = K.L_POS, K.L_TOTAL, K.L_WORK
_feed = K.feed
_jit_done = False  # the kernels were called once in this process (`_warm_feed`)


def _warm_feed(c0: "Chart") -> None:
    """Call the feed, virtual-closure, trie-walk and signing kernels once, on a copy of an
    initial chart, so that numba compiles them (or loads them from its cache: seconds on a cold
    cache) here, when a matcher or `accepts` starts, and never inside a feed's or a mask's time
    budget. Once per process; the outcome does not matter."""
    global _jit_done
    c = c0.copy()
    try:
        c.feed(b" ")
    except LimitExceeded:
        pass
    c.close_virtual(c.n, c.n - 1, np.zeros(0, dtype=np.int32), False)  # the masks' kernels
    from ..native import grammar_kernels

    grammar_kernels.warm_up()  # trie walks
    from .signatures import NativeTable
    from ..native.trans_table import TransTable

    c.eng = None  # its throwaway ids must not reach the engine's initial chart
    NativeTable(16).warm_up(c)  # the signing kernels too (a throwaway table)
    TransTable(16, cap=1).put(0, 0)  # its insert and rehash kernels
    _jit_done = True


def _grown(a: np.ndarray, used: int) -> np.ndarray:
    out = np.empty((2 * a.shape[0],) + a.shape[1:], dtype=a.dtype)
    out[:used] = a[:used]
    return out


class Chart:
    """A chart of ``n`` byte positions over ``engine`` (an `earley.Earley`), ``total`` Earley
    items in all. Not thread-safe (one per matcher); kernels release the GIL."""

    __slots__ = ("eng", "n", "total", "pos", "sc", "it", "ns", "_memo", "_lex", "keep")

    def __init__(self, eng, n, total, pos, sc, it, ns):
        self.eng = eng
        self.n = n
        self.total = total
        self.pos, self.sc, self.it, self.ns = pos, sc, it, ns
        self._memo: dict = {}
        self._lex = (-1, ())  # (position, its lexer state) last computed
        # positions ``n .. keep - 1`` past the length are kept (an `allows` feed that `advance`
        # may take back, `restore`): masks write their virtual positions from `virtual_start`
        self.keep = 0

    @classmethod
    def initial(cls, eng) -> "Chart":
        """The chart holding position 0 (copied from the engine's, built once)."""
        c0 = getattr(eng, "_chart0", None)
        if c0 is None:
            c0 = cls._build_initial(eng)
            eng._chart0 = c0
        if not _jit_done:
            _warm_feed(c0)
        return c0.copy()

    @classmethod
    def _build_initial(cls, eng) -> "Chart":
        tb = eng.tables
        T, S = int(tb.off[K._K]), int(tb.off[K._K + 1])
        c = cls(eng, 0, 0, np.zeros((64, 7), np.int64), np.empty((max(256, 2 * T), 2), np.int32),
                np.empty((256, 2), np.int32), np.empty(max(256, 2 * S), np.int32))
        s = _scratch(tb)
        c._set_limits(s, eng.limits.max_items_total)
        while True:
            status = K.init(tb.tab, tb.off, c.pos, c.sc, c.it, c.ns, s.hk, s.tmp, s.comp,
                            s.stamp, s.st)
            if status == K.OK:
                break
            c._on_error(status, s, 0)
        c.n = 1
        c.total = int(s.st[K.S_TOTAL])
        return c

    def _set_limits(self, s: _Scratch, items_limit: int) -> None:
        st = s.st
        st[_L_POS] = self.eng.limits.max_items_per_position
        st[_L_TOTAL] = items_limit
        st[_L_WORK] = _WORK_PER_CALL

    def copy(self) -> "Chart":
        """An independent copy (fork): O(used array sizes)."""
        n = self.n
        return Chart(self.eng, n, self.total, self.pos.copy(), self.sc.copy(), self.it.copy(),
                     self.ns.copy())

    # ------------------------------------------------------------------ feeding
    def feed(self, data, items_limit: int | None = None, deadline: float | None = None,
             budget: tuple = ("mask_time_budget_s", None)) -> bool:
        """Append one position per byte of ``data`` (bytes, or a uint8 array: no conversion);
        False (chart unchanged) when a byte kills
        the parse. `LimitExceeded` (chart unchanged) past ``max_items_per_position``,
        ``items_limit`` (items of the whole chart; default ``max_items_total``) or ``deadline``
        (a ``time.perf_counter()`` value, checked between kernel calls; ``budget`` names it)."""
        eng = self.eng
        tb = eng.tables
        lim = eng.limits
        n0, total0 = self.n, self.total
        self.keep = 0  # what was kept past the length is overwritten
        arr = np.frombuffer(data, dtype=np.uint8) if type(data) is bytes else data
        s = _scratch(tb)
        st = s.st
        self._set_limits(s, lim.max_items_total if items_limit is None else items_limit)
        start = 0
        if len(data) > 64 and self.pos.shape[0] < n0 + len(data) + 2:  # one copy, not log(n)
            self._reserve_positions(n0 + len(data) + 2)
        while True:
            st[_S_N] = self.n
            st[_S_TOTAL] = self.total
            status = _feed(tb.tab, tb.off, self.pos, self.sc, self.it, self.ns, s.hk, s.tmp,
                           s.comp, s.stamp, st, arr, start, eng._sig_trans.t)
            self.n, self.total, start = st.item(_S_N), st.item(_S_TOTAL), st.item(_S_DONE)
            if status == _OK or status == _YIELD:
                if deadline is not None and time.perf_counter() > deadline:
                    self.truncate(n0, total0)
                    name, value = budget
                    raise LimitExceeded(name, lim.mask_time_budget_s if value is None else value,
                                        f"parsing, at byte {n0 + start - 1}")
                if status == _OK:
                    break
                continue
            if status == K.DEAD:
                self.truncate(n0, total0)
                return False
            try:
                self._on_error(status, s, n0 + start)
            except LimitExceeded:
                self.truncate(n0, total0)
                raise
        return True

    def close_virtual(self, p: int, src: int, sel: np.ndarray, after_word: bool) -> tuple[bool, int]:
        """Write *virtual* position ``p`` (``n <= p``, positions ``n .. p - 1`` virtual too): the
        parser's closure after the lexemes of position ``src``'s scan items in the DFA states
        ``sel`` (sorted int32) end (`native.earley_kernels.close_virtual`). The chart's length is
        unchanged; a later virtual position or feed overwrites it. `LimitExceeded` past
        ``max_items_per_position``. Cost: one kernel call (plus one per array grown).

        Returns (whether it has scan items: lexemes a token can go on with, the lowest position
        whose items the closure read)."""
        tb = self.eng.tables
        s = _scratch(tb)
        s.st[K.L_POS] = self.eng.limits.max_items_per_position
        while True:
            status = K.close_virtual(tb.tab, tb.off, self.pos, self.sc, self.it, self.ns, s.hk,
                                     s.tmp, s.comp, s.stamp, s.st, p, src, sel, after_word)
            if status == K.OK:
                return self.pos.item(p + 1, K.C_SC) > self.pos.item(p, K.C_SC), int(s.st[K.S_READ])
            self._on_error(status, s, p, top=p)

    def lex_of(self, p: int) -> tuple:
        """`lex_at` without its memo (for virtual positions, rewritten in place)."""
        pos = self.pos
        return tuple(sorted(set(self.sc[pos.item(p, K.C_SC):pos.item(p + 1, K.C_SC), 0].tolist())))

    def _on_error(self, status: int, s: _Scratch, at: int, top: int | None = None) -> None:
        """Grow what the kernel found too small (the used lengths are row ``top``'s starts,
        default row ``n``), or raise the limit it reported."""
        lim = self.eng.limits
        if status == K.LIM_POS:
            raise LimitExceeded("max_items_per_position", lim.max_items_per_position,
                                f"over {lim.max_items_per_position} Earley items at byte {at}")
        if status == K.LIM_TOTAL:
            raise LimitExceeded("max_items_total", lim.max_items_total,
                                f"Earley items in one chart, at byte {at}")
        what = int(s.st[K.S_CAPW])
        n = self.n if top is None else top
        if what == K.CAP_POS:
            self.pos = _grown(self.pos, n + 1)
        elif what == K.CAP_SC:
            self.sc = _grown(self.sc, int(self.pos[n, K.C_SC]))
        elif what == K.CAP_IT:
            self.it = _grown(self.it, int(self.pos[n, K.C_IT]))
        elif what == K.CAP_NS:
            self.ns = _grown(self.ns, int(self.pos[n, K.C_NS]))
        else:
            s.grow(what)

    def _reserve_positions(self, rows: int) -> None:
        a = self.pos
        self.pos = np.empty((rows, a.shape[1]), dtype=a.dtype)
        self.pos[:self.n + 1] = a[:self.n + 1]

    def truncate(self, n: int, total: int | None = None, keep: int = 0) -> None:
        """Keep positions ``0 .. n - 1`` (rollback); ``total``: their items, when known. With
        ``keep``, the positions up to ``keep`` stay in the arrays for a `restore` (masks write
        their virtual positions after them)."""
        self.keep = keep
        if n >= self.n:
            return
        self.n = n
        self.total = int(self.pos[:n, K.C_NIT].sum()) if total is None else total
        if self._lex[0] >= n:
            self._lex = (-1, ())
        memo = self._memo
        if memo:
            for k in [k for k in memo if k >= n]:
                del memo[k]

    def restore(self, n: int, total: int) -> None:
        """Take back the positions up to ``n`` that a `truncate` dropped, when nothing was fed
        since and they were kept (``keep >= n``: masks write their virtual positions after
        them)."""
        self.n = n
        self.total = total
        self.keep = 0

    def virtual_start(self) -> int:
        """The first array row a mask may write virtual positions at: past the length and past
        the positions kept for a `restore` (``keep``)."""
        return self.n if self.keep <= self.n else self.keep

    # ------------------------------------------------------------------ reading
    def accept_at(self, p: int) -> bool:
        return self.pos.item(p, K.C_ACC) != 0

    def n_scan(self, p: int) -> int:
        return self.pos.item(p + 1, K.C_SC) - self.pos.item(p, K.C_SC)

    def lex_at(self, p: int) -> tuple:
        """Sorted distinct DFA states of position ``p``'s scan items (its lexer state)."""
        lx = self._lex
        if lx[0] == p:
            return lx[1]
        pos = self.pos
        L = tuple(sorted(set(self.sc[pos[p, K.C_SC]:pos[p + 1, K.C_SC], 0].tolist())))
        self._lex = (p, L)
        return L

    def raw_at(self, p: int) -> tuple:
        """Position ``p``'s (scan items, waiting items or None, predicted nonterminals or None,
        accept, byte read) as Python lists, without a set (what a signature names)."""
        a, ia, na, acc, _, b0, _ = self.pos[p].tolist()
        b, ib, nb = self.pos[p + 1, :3].tolist()
        return (self.sc[a:b].tolist(), self.it[ia:ib].tolist() if ib > ia else None,
                self.ns[na:nb].tolist() if nb > na else None, acc != 0, b0 if p > 0 else -1)

    def sig_at(self, p: int) -> int | None:
        s = self.pos.item(p, K.C_SIG)
        return None if s < 0 else s

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        E = self._memo.get(i)  # the mask path's lookups: memoised positions first
        if E is not None:
            return E
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(self.n))]
        if i < 0:
            i += self.n
        if not 0 <= i < self.n:
            raise IndexError(f"position {i} of a chart of {self.n}")
        E = self._memo.get(i)
        if E is None:
            E = self._memo[i] = self._eset(i)
        return E

    def _eset(self, p: int) -> ESet:
        """Position ``p`` as an `ESet` (Python work per item: the mask path's miss only)."""
        a, ia, na, acc, nit, b0, s = self.pos[p].tolist()
        b, ib, nb = self.pos[p + 1, :3].tolist()
        scan = list(map(tuple, self.sc[a:b].tolist()))
        N = set(self.ns[na:nb].tolist()) if nb > na else None
        waiting = None
        if ib > ia:
            waiting = {}
            dr_next = self.eng.dr_next
            for dr, o in self.it[ia:ib].tolist():
                nx = dr_next[dr]
                lst = waiting.get(nx)
                if lst is None:
                    waiting[nx] = [(dr, o)]
                else:
                    lst.append((dr, o))
        E = ESet(p, scan, N, waiting, acc != 0, nit - len(scan))
        E._b = b0 if p > 0 else -1
        E._sig = s if s >= 0 else None
        return E
