"""Token masks of a chart: cached walk rows plus parser closures for lexemes ending in a token.

For the last set ``E`` of a chart, the root walk of its lexer state (`walks.Walker.root_walk`)
gives the context-independent tokens and the completion groups. For each group the parser
completes the group's lexemes once (`Earley.close`, at a *virtual* position after the chart) and
the group's subtrees are walked again with the newly predicted lexemes, recursively. Because
Earley closure distributes over unions of items at one position (given the earlier sets), the
union of these walks is exactly the set of tokens whose bytes keep the chart alive; the tests
compare it with brute force over whole vocabularies.

What a root group adds is cached per (its trie nodes, the future id of its closure's set:
`signatures.Signer.future_id`); what a subtree below a templated virtual set adds is cached per
(its nodes, the template) when every closure below read only its parent set ("pure").
"""

from __future__ import annotations

import time

import numpy as np

from ..errors import LimitExceeded
from .earley import Earley, ESet
from .limits import SharedLock
from .signatures import Signer, Templates
from .walks import Group, VCache, Walker

__all__ = ["MaskBuilder"]


class MaskBuilder:
    """Fills mask rows from an engine's parts: its recognizer (closures), signer (future ids),
    walker (cached walks) and its `Templates` (replaced by a fresh table when it grows over
    ``GrammarLimits.max_signatures``)."""

    def __init__(self, parser: Earley, signer: Signer, walker: Walker, lock: SharedLock):
        self.parser = parser
        self.signer = signer
        self.walker = walker
        self.limits = parser.limits
        self._lock = lock
        self.templates = Templates()

    def _past(self, deadline: float, where: str) -> None:
        if time.perf_counter() > deadline:
            raise LimitExceeded("mask_time_budget_s", self.limits.mask_time_budget_s, where)

    def fill_row(self, vocab, chart: list, row: np.ndarray, deadline: float,
                 vc: VCache | None = None) -> None:
        """Write into ``row`` (int32 words, zeroed here) the tokens whose bytes keep ``chart``
        alive (EOS bits are the caller's). Cost: one cached root walk + per completion group
        (accepting lexemes at any depth of the token) one parser closure and a cached subtree
        walk, recursively for lexemes ending further inside the token.

        The sets made for lexemes ending inside a token are put at *virtual* positions
        ``len(chart)``, ``len(chart) + 1``, ... (one per nesting level): the parser only compares
        positions, so where in the token a lexeme ends does not matter."""
        if vc is None:
            vc = self.walker.vcache(vocab)
        E = chart[-1]
        L, origins = E.lex()
        if not L:
            row[:] = 0
            return
        root = self.walker.root_walk(vocab, L, vc)
        row[:] = root.row
        if not root.groups:
            self._past(deadline, f"computing one mask at byte {len(chart) - 1}")
            return
        n0 = len(chart)
        chain: list = []
        tm = self.templates
        if len(tm.ids) > self.limits.max_signatures:
            with self._lock:  # a fresh table (a concurrent mask keeps the old one); ids go on
                tm = self.templates = Templates(tm.n)
                vc.contrib.clear()

        def lookup(p):
            if p < n0:
                return chart[p]
            S = chain[p - n0]
            return S if S.scan is not None else tm.materialize(S)

        term_of = self.parser._term_of_list
        for grp in root.groups:
            comps = [(term_of[L[j]], o) for j in grp.srcs for o in origins[j]]
            S = self.parser.close(n0, [], comps, lookup, after_word=grp.after_word, deadline=deadline)
            if S.scan:
                self._add_root_group(vocab, vc, grp, S, chart, chain, lookup, row, deadline, tm)
        self._past(deadline, f"computing one mask at byte {n0 - 1}")

    def _add_root_group(self, vocab, vc: VCache, grp: Group, S: ESet, chart: list, chain: list,
                        lookup, row: np.ndarray, deadline: float, tm: Templates) -> None:
        """OR into ``row`` what the root group ``grp`` adds from its closure's set ``S``: a function
        of (its nodes, S's future), so cached across masks in ``vc.contrib``."""
        fid = self.signer.future_id(S, chart)
        ck = (id(grp.sub), -fid) if fid is not None else None  # template ids are > 0
        hit = vc.contrib.get(ck) if ck is not None else None
        if hit is not None:
            if len(hit[0]):
                row[hit[0]] |= hit[1]
            return
        part = np.zeros_like(row)
        chain.append(S)
        self._sub(vocab, vc, grp, S, lookup, chain, part, deadline, len(chart), tm)
        chain.pop()
        idx = np.flatnonzero(part)
        val = part[idx]
        row[idx] |= val
        if ck is not None:
            with self._lock:
                if vc.reserve(idx.nbytes + val.nbytes + 64, self.limits.mask_cache_bytes):
                    vc.contrib[ck] = (idx, val)

    def _sub(self, vocab, vc, grp: Group, S: ESet, lookup, chain, row, deadline, n0, tm) -> bool:
        """OR into ``row`` the tokens below ``grp``'s nodes allowed from the virtual set ``S``
        (lexemes completed there), recursively. Returns whether every closure below read only
        its parent set ("pure"): then, for a templated ``S``, what was added is a function of
        (``grp``'s nodes, ``S``'s template) and is cached across masks in ``vc.contrib``."""
        tid = S._tmpl
        if tid is not None:
            ck = (id(grp.sub), tid)
            hit = vc.contrib.get(ck)
            if hit is not None:
                if len(hit[0]):
                    row[hit[0]] |= hit[1]
                return True
            out = row
            row = np.zeros_like(out)
            L2 = tm.lex[tid]
        else:
            L2 = tuple(sorted({g for g, _ in S.scan}))
        w = self.walker.sub_walk(vocab, vc, grp, L2)
        if len(w.idx):
            row[w.idx] |= w.val
        pure = True
        if w.groups:
            self._past(deadline, "computing one mask")
            term_of = self.parser._term_of_list
            for g2 in w.groups:
                terms = frozenset([term_of[L2[j]] for j in g2.srcs])
                S2, read_parent_only = self._child(S, terms, g2.after_word, lookup, deadline, n0, tm)
                pure = pure and read_parent_only
                if S2 is not None and (S2.scan is None or S2.scan):
                    chain.append(S2)
                    pure = self._sub(vocab, vc, g2, S2, lookup, chain, row, deadline, n0, tm) and pure
                    chain.pop()
        if tid is not None:
            if pure:
                idx = np.flatnonzero(row)
                val = row[idx]
                with self._lock:
                    if vc.reserve(idx.nbytes + val.nbytes + 64, self.limits.mask_cache_bytes):
                        vc.contrib[ck] = (idx, val)
            out |= row
        return pure

    def _child(self, S: ESet, terms: frozenset, aw: bool, lookup, deadline, n0: int,
               tm: Templates) -> tuple[ESet | None, bool]:
        """The virtual set after completing ``terms`` at ``S.pos + 1`` (``aw``: after a word byte),
        and whether its closure read only ``S``. From ``S``'s template when known (a lazy set;
        None when that template has no scan item), else a closure, interned as a template when
        it read only ``S``."""
        tid = S._tmpl
        pos = S.pos
        ctid = tm.next.get((tid, terms, aw)) if tid is not None else None
        if ctid is not None:
            if not tm.lex[ctid]:
                return None, True
            return tm.lazy(ctid, pos + 1), True  # its content is made only if a closure reads it
        reads = set()

        def lk(o):
            reads.add(o)
            return lookup(o)

        S2 = self.parser.close(pos + 1, [], [(t, pos) for t in terms], lk, after_word=aw,
                               deadline=deadline)
        if reads <= {pos}:  # S2 is a function of S's content, terms and aw only
            with self._lock:  # ids are handed out under the lock (threads)
                ctid = tm.intern(S2, n0)
            if tid is not None and ctid is not None:
                tm.next[(tid, terms, aw)] = ctid
            return S2, True
        return S2, False
