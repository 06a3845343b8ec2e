"""Token masks of a chart: cached walk rows plus native parser closures for lexemes ending in a token.

For the last position of a chart let ``L`` be its lexer state. The root walk of ``L``
(`walks.Walker.root_walk`) gives the context-independent tokens and the completion groups. For
each group the parser completes the group's lexemes once, at a *virtual* position after the
chart (`chart.Chart.close_virtual`: a numba closure written past the chart's length), and the
group's subtrees are walked again with the newly predicted lexemes, recursively one virtual
position deeper for lexemes ending further inside the token. Because Earley closure distributes
over unions of items at one position (given the earlier sets), the union of these walks is
exactly the set of tokens whose bytes keep the chart alive; the tests compare it with brute
force over whole vocabularies.

What a group adds below its trie nodes is a function of (those nodes, the future of its virtual
position), so it is cached per (node set, signature of that position), signed by the numba
kernel (`signatures.NativeTable`), at every depth. Deep inside a token (e.g. a token of 64 minus
signs: 64 nested positions) the signature differs from mask to mask, since it names the chart
too; there the cache key is the position's *template* (its content relative to itself) when
what is below provably reads nothing else (`MaskBuilder._group`). Python work per mask miss: per
completion group one closure kernel call, one signing kernel call and a dict lookup; walks are
cached.
"""

from __future__ import annotations

import time

import numpy as np

from ..errors import LimitExceeded
from .limits import SharedLock
from .signatures import Signer
from .walks import Group, VCache, Walker

__all__ = ["MaskBuilder"]


class MaskBuilder:
    """Fills mask rows from an engine's parts: its signer (signatures of chart and virtual
    positions) and walker (cached walks)."""

    def __init__(self, parser, signer: Signer, walker: Walker, lock: SharedLock):
        self.signer = signer
        self.walker = walker
        self.limits = parser.limits
        self._lock = lock

    def _past(self, deadline: float, where: str) -> None:
        if time.perf_counter() > deadline:
            raise LimitExceeded("mask_time_budget_s", self.limits.mask_time_budget_s, where)

    def fill_row(self, vocab, chart, row: np.ndarray, deadline: float, vc: VCache | None = None) -> None:
        """Write into ``row`` (int32 words, zeroed here) the tokens whose bytes keep ``chart`` (a
        `chart.Chart`, its last position signed) alive; EOS bits are the caller's. Cost: one
        cached root walk + per completion group (accepting lexemes at any depth of the token)
        a closure kernel call, a signature and, on a cache miss, a cached subtree walk,
        recursively for lexemes ending further inside the token.

        Virtual positions ``v0``, ``v0 + 1``, ... (one per nesting level, ``v0`` =
        `chart.Chart.virtual_start`: past the length and past positions kept for a `restore`)
        are written into the chart's arrays (overwriting what a rolled-back feed left there):
        the parser only compares positions, so where in the token a lexeme ends does not
        matter."""
        if vc is None:
            vc = self.walker.vcache(vocab)
        last = len(chart) - 1
        L = chart.lex_at(last)
        if not L:
            row[:] = 0
            return
        root = self.walker.root_walk(vocab, L, vc)
        row[:] = root.row
        v0 = chart.virtual_start()
        for grp in root.groups:
            self._group(vocab, vc, grp, chart, last, v0, v0, row, deadline)
        self._past(deadline, f"computing one mask at byte {last}")

    def _group(self, vocab, vc: VCache, grp: Group, chart, src: int, p: int, n0: int,
               row: np.ndarray, deadline: float) -> bool:
        """OR into ``row`` the tokens below ``grp``'s nodes allowed once ``grp``'s lexemes (the
        scan items of position ``src`` in the DFA states ``grp.sel``) end: their closure is
        virtual position ``p`` (``n0``: the first virtual one; one deeper is ``p + 1``). What it
        adds is cached per (nodes, key of ``p``): its template (content relative to ``p``) when
        every origin in it is virtual and every closure below read only its parent position
        (then what is added below is a function of the template: "pure"), else its signature
        (exact in every case).

        Returns whether what was added is a function of position ``src``'s content relative to
        ``src`` (this closure read only ``src``, and everything below is pure)."""
        alive, lowest = chart.close_virtual(p, src, grp.sel, grp.after_word)
        reads_parent = lowest >= src
        if not alive:
            return reads_parent  # no lexeme alive after these: nothing below the nodes goes on
        tid = self.signer.template(chart, p, n0) if p > n0 else None
        ck = (id(grp.sub), "t", tid) if tid is not None else (id(grp.sub), self.signer.sig(chart, p))
        hit = vc.contrib.get(ck)
        pure = tid is not None
        if hit is None:
            w = self.walker.sub_walk(vocab, vc, grp, chart.lex_of(p))
            if not w.groups:  # nothing deeper: the walk's sparse words are the contribution
                hit = (w.idx, w.val)
            else:
                part = np.zeros_like(row)
                if len(w.idx):
                    part[w.idx] = w.val
                self._past(deadline, f"computing one mask (a lexeme ending {p - n0 + 1} "
                                     "times inside a token)")
                for g2 in w.groups:
                    pure = self._group(vocab, vc, g2, chart, p, p + 1, n0, part, deadline) and pure
                idx = np.flatnonzero(part)
                hit = (idx, part[idx])
            if tid is None or pure:
                with self._lock:
                    if vc.reserve(hit[0].nbytes + hit[1].nbytes + 64, self.limits.mask_cache_bytes):
                        vc.contrib[ck] = hit
        if len(hit[0]):
            row[hit[0]] |= hit[1]
        return reads_parent and pure
