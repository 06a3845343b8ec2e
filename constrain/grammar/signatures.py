"""Canonical ids of Earley sets' futures: `NativeTable` (chart positions, signed by a numba
kernel) and `Signer` (the engine's entry point; a Python table for list charts of the reference
recognizer and the byte transitions between signatures).

A *signature* names what a chart set can still accept: two sets with the same signature have
the same mask, so whole masks are cached per signature (`masks`), and a signature followed by a
byte gives a known next signature (``Earley._sig_trans``), so sets on known paths are signed for
one hash probe per byte in the feed kernel. A *template* names a virtual position's content
relative to itself (`NativeTable.template`): the mask builder's key deep inside a token.
"""

from __future__ import annotations

import numpy as np

from ..native import signature_kernels as SK
from ..native.earley_kernels import C_SIG as _C_SIG
from ..native.trans_table import TransTable
from .earley import ESet
from .limits import GrammarLimits, SharedLock

__all__ = ["NativeTable", "Signer"]


class NativeTable:
    """The intern table of chart positions' futures in plain arrays, filled by the numba kernel
    `native.signature_kernels.sign` (layout there): a position is signed with no Python work
    per item. ``meta[M_NEXT]`` is the engine's id counter, shared with `Signer`'s Python table
    (virtual sets, list charts), so an id names one key of one table. Mutated under the engine's
    lock; holds at most ``max_signatures`` entries (then cleared: ids go on, never reused)."""

    def __init__(self, max_entries: int):
        self.meta = np.zeros(8, dtype=np.int64)
        self.meta[SK.M_MAX] = max_entries
        self.slots = np.zeros(1024, dtype=np.int64)
        self.e_start = np.zeros(512, dtype=np.int64)
        self.e_len = np.zeros(512, dtype=np.int64)
        self.e_hash = np.zeros(512, dtype=np.int64)
        self.e_id = np.zeros(512, dtype=np.int64)
        self.arena = np.zeros(1 << 14, dtype=np.int64)
        self.mark = np.zeros(256, dtype=np.int32)
        self.todo = np.zeros(256, dtype=np.int32)
        self.buf = np.zeros(1024, dtype=np.int64)
        self.out = np.zeros((256, 2), dtype=np.int64)

    def new_id(self) -> int:
        """The next id (call under the lock)."""
        self.meta[SK.M_NEXT] += 1
        return int(self.meta[SK.M_NEXT])

    def sign(self, chart, i: int, trans: TransTable) -> int:
        """Sign position ``i`` of ``chart`` (a `chart.Chart`) and the unsigned positions it
        depends on; record the byte transitions between signed positions in ``trans``. Returns
        ``i``'s id. Call under the lock. Cost: one kernel call (plus one per array grown)."""
        pos = chart.pos
        while True:
            status, k, first = SK.sign(pos, chart.sc, chart.it, chart.ns, i, self.mark, self.todo,
                                       self.buf, self.out, self.slots, self.e_start, self.e_len,
                                       self.e_hash, self.e_id, self.arena, self.meta)
            if k:
                trans.put_rows(self.out, k)
            if first:  # position 0's id is shared with the engine's initial chart
                c0 = getattr(chart.eng, "_chart0", None)
                if c0 is not None:
                    c0.pos[0, _C_SIG] = pos[0, _C_SIG]
            if status == SK.OK:
                return pos.item(i, _C_SIG)
            if status == SK.FULL:
                self.clear()
            else:
                self._grow(int(self.meta[SK.M_CAPW]), int(self.meta[SK.M_NEED]))

    def template(self, chart, p: int, n0: int) -> int | None:
        """The id of virtual position ``p``'s content relative to ``p``
        (`native.signature_kernels.template`), or None when an item's origin is in the chart
        (below ``n0``). Call under the lock."""
        while True:
            t = SK.template(chart.pos, chart.sc, chart.it, chart.ns, p, n0, self.buf, self.slots,
                            self.e_start, self.e_len, self.e_hash, self.e_id, self.arena, self.meta)
            if t >= 0:
                return t
            if t == -1:
                return None
            if t == -3:
                self.clear()
            else:
                self._grow(int(self.meta[SK.M_CAPW]), int(self.meta[SK.M_NEED]))

    def warm_up(self, chart) -> None:
        """Call every kernel of the table once (sign, template, rehash) on ``chart``'s last
        position, so that numba compiles or loads them now; use a throwaway table and chart."""
        self.sign(chart, chart.n - 1, TransTable(16))
        self.template(chart, chart.n - 1, 0)
        self._grow(SK.W_SLOTS, 0)

    def clear(self) -> None:
        """Drop every entry (ids go on from the counter)."""
        m = self.meta
        m[SK.M_N] = m[SK.M_ARENA] = 0
        self.slots[:] = 0

    def _grow(self, what: int, need: int) -> None:
        def bigger(a: np.ndarray, n: int) -> np.ndarray:
            b = np.zeros((max(n, 2 * a.shape[0]),) + a.shape[1:], dtype=a.dtype)
            b[:a.shape[0]] = a
            return b

        if what == SK.W_MARK:
            self.mark = np.zeros(need, dtype=np.int32)
            self.meta[SK.M_STAMP] = 0
        elif what == SK.W_TODO:
            self.todo = bigger(self.todo, need)
            self.out = bigger(self.out, need)
        elif what == SK.W_BUF:
            self.buf = bigger(self.buf, need)
        elif what == SK.W_ARENA:
            self.arena = bigger(self.arena, need)
        elif what == SK.W_ENTRIES:
            for name in ("e_start", "e_len", "e_hash", "e_id"):
                setattr(self, name, bigger(getattr(self, name), need))
        else:  # W_SLOTS: a larger table, every entry placed again
            self.slots = np.zeros(max(need, 2 * self.slots.shape[0]), dtype=np.int64)
            SK.rehash(self.slots, self.e_hash, int(self.meta[SK.M_N]))


class _Unsigned(Exception):
    """A set at an origin has no signature yet (`Signer.future_id`)."""


class Signer:
    """The engine-wide intern table of set futures. ``sig_trans`` is the recognizer's
    (``Earley._sig_trans``): this fills it, `Earley.step` reads it. Ids are never reused (the
    tables are cleared when they hold ``GrammarLimits.max_signatures`` entries)."""

    def __init__(self, limits: GrammarLimits, lock: SharedLock, sig_trans: TransTable):
        self.limits = limits
        self._lock = lock
        self._table: dict = {}
        self._trans = sig_trans
        self.native = NativeTable(limits.max_signatures)

    def sig(self, chart: list, i: int = -1) -> int:
        """A canonical id of ``chart[i]``'s *future*: two sets with the same id accept the same
        continuations (so have the same mask and the same ``accept``). The id interns the set's
        live items (scan items, waiting items, predicted nonterminals, accept) with every origin
        replaced by the id of the set there (the set itself by -1). Computed lazily, stored on
        the set; cost O(items of the sets not yet signed that ``chart[i]`` reaches)."""
        if i < 0:
            i += len(chart)
        s = _sig_of(chart, i)
        if s is not None:
            return s
        tr = self._trans
        if type(chart) is not list:  # a `chart.Chart`: signed in its arrays by the kernel
            with self._lock:
                return self.native.sign(chart, i, tr)
        for p in self._unsigned_before(chart, i):
            P = chart[p]
            s = P._sig = self.future_id(P, chart)
            b = P._b
            if p > 0 and b >= 0 and s is not None:
                q = _sig_of(chart, p - 1)
                if q is not None:
                    with self._lock:  # the table is written under the lock only
                        tr.put((q << 8) | b, s)
        return _sig_of(chart, i)

    def template(self, chart, p: int, n0: int) -> int | None:
        """`NativeTable.template` under the lock: an id of virtual position ``p``'s content
        relative to ``p``, None when it references the chart (positions below ``n0``)."""
        with self._lock:
            return self.native.template(chart, p, n0)

    @staticmethod
    def _unsigned_before(chart: list, i: int) -> list:
        """In increasing position order, the unsigned sets that ``chart[i]`` reaches through
        origins, and the unsigned run just before ``i`` (so that the byte transitions between
        signatures are recorded)."""
        todo = [i]
        need = {i}
        j = i - 1
        while j >= 0 and _sig_of(chart, j) is None:
            need.add(j)
            todo.append(j)
            j -= 1
        k = 0
        while k < len(todo):
            p = todo[k]
            k += 1
            for o in _origins(chart[p]):
                if o != p and o not in need and _sig_of(chart, o) is None:
                    need.add(o)
                    todo.append(o)
        return sorted(need)

    def future_id(self, E: ESet, chart: list) -> int | None:
        """The interned id of ``E``'s future: its items with every origin replaced by the
        signature of the chart set there (``E``'s own position by -1). ``E`` is ``chart[E.pos]``
        or a virtual set after the chart. None when a set at an origin is not signed yet."""
        wt = [it for lst in E.waiting.values() for it in lst] if E.waiting else None
        return self._future(E.pos, E.scan, wt, E.N, E.accept, chart)

    def _future(self, p: int, scan, waiting, N, accept: bool, chart) -> int | None:
        """`future_id` of the items ``scan`` (``(g, origin)``), ``waiting`` (``(dotted rule,
        origin)`` or None), ``N`` and ``accept`` of a set at position ``p``."""
        cache: dict = {}

        def m(o):
            if o == p:
                return -1
            r = cache.get(o)
            if r is None:
                r = cache[o] = _sig_of(chart, o)
                if r is None:
                    raise _Unsigned
            return r

        try:
            fs = frozenset((g, m(o)) for g, o in scan)
            wt = frozenset((dr, m(o)) for dr, o in waiting) if waiting else None
        except _Unsigned:
            return None
        key = (fs, wt, frozenset(N) if N else None, bool(accept))
        tab = self._table
        s = tab.get(key)
        if s is None:
            with self._lock:
                s = tab.get(key)
                if s is None:
                    if len(tab) >= self.limits.max_signatures:
                        tab.clear()
                    s = tab[key] = self.native.new_id()
        return s


def _sig_of(chart, p: int) -> int | None:
    """The signature recorded for position ``p`` of ``chart`` (a list of sets or a `chart.Chart`,
    whose signatures live in its arrays: no set is materialised)."""
    if type(chart) is list:
        return chart[p]._sig
    s = chart.pos.item(p, _C_SIG)
    return None if s < 0 else s


def _origins(E: ESet) -> set:
    out = {o for _, o in E.scan}
    if E.waiting:
        for lst in E.waiting.values():
            for _, o in lst:
                out.add(o)
    return out
