"""The Earley core: a byte-level recognizer over the normal form's terminal DFAs.

The recognizer runs directly over *bytes*: each terminal is a minimal byte DFA and a terminal
predicted at byte position ``i`` becomes a *scan item* ``(g, i)`` (``g`` a global DFA state in the
normal form's concatenated transition table). Reading a byte advances every scan item; a scan item
whose DFA state is accepting completes its terminal, exactly like a completed nonterminal, which
advances the items waiting for it and predicts the next terminals at the same position. This
realises the IR's lexing semantics (every split of the text into lexemes) without a separate
lexer, for any CFG (Aycock–Horspool prediction through nullable prefixes).

This is the Python core: the reference for the numba core (`chart.Chart`, which matchers and
``Grammar.accepts`` use; `tests/test_earley_native.py` compares them at every position) and the
mask path's closures at virtual positions. Here a chart is a list of immutable `ESet` objects,
one per byte position (a `chart.Chart` reads as such a sequence too). A position is *viable* exactly when its
set has a scan item or accepts (unproductive rules are pruned and terminal DFAs trimmed by
`constrain.grammar.normalize`, so every Earley item can be finished).
"""

from __future__ import annotations

import array
import time

import numpy as np

from ..errors import LimitExceeded
from ..native.trans_table import TransTable
from .limits import GrammarLimits
from .tables import EarleyTables

__all__ = ["ESet", "Earley"]

_CLOSURE_BUDGET = 200_000  # total size of precomputed prediction closures (else followed lazily)


class ESet:
    """One Earley set (byte position ``pos``). Immutable once built.

    ``scan``: list of ``(g, origin)`` scan items; ``N``: predicted nonterminals (their dotted rules
    have origin ``pos``) or None; ``waiting``: ``symbol -> [(dotted rule, origin)]`` for explicit
    items (from completions) or None; ``accept``: the start symbol is complete from 0; ``n_items``
    a size for the limits.
    """

    __slots__ = ("pos", "scan", "N", "waiting", "accept", "n_items", "_lex", "_sig", "_b")

    def __init__(self, pos, scan, N=None, waiting=None, accept=False, n_items=0):
        self.pos = pos
        self.scan = scan
        self.N = N
        self.waiting = waiting
        self.accept = accept
        self.n_items = n_items + len(scan)
        self._lex = None
        self._sig = None  # canonical id of this set's future (see `signatures`), computed lazily
        self._b = -1  # the byte read to reach this set (-1 at position 0)

    @property
    def alive(self) -> bool:
        return bool(self.scan) or self.accept

    def lex(self):
        """(L, origins): sorted distinct DFA states and, per state, the origins of its scan items."""
        r = self._lex
        if r is None:
            d: dict[int, list[int]] = {}
            for g, o in self.scan:
                d.setdefault(g, []).append(o)
            L = tuple(sorted(d))
            r = self._lex = (L, [d[g] for g in L])
        return r


class Earley:
    """A normal form (`normalize.NormalForm`) as Earley tables plus the recognizer's steps.

    Vocabulary independent. ``_sig_trans`` (``(signature << 8 | byte) -> signature``) is filled
    by `signatures.Signer`; `step` reads it so sets on known paths are signed for a dict lookup.
    Cost of construction: linear in the rules, plus the prediction closures (bounded by
    ``_CLOSURE_BUDGET`` entries in total, else followed at run time).
    """

    def __init__(self, nf, limits: GrammarLimits):
        self.limits = limits
        self.nf = nf
        T = self.n_terms = nf.n_terms
        self.term_names = nf.names[:T]
        self.nt_names = nf.names[T:]
        self.n_syms = nf.n_syms
        self.start_sym = nf.start
        self.trans = nf.trans
        self.acc = nf.acc
        self.term_of = nf.term_of
        self.q0 = nf.q0.tolist()
        self.q0w = nf.q0w.tolist()
        self._word_list = nf.word.tolist()
        # flat (g << 8 | b) -> g2 (-1 dead); an array.array indexes fast and pickles
        self._trans_flat = array.array("i", np.ascontiguousarray(nf.trans, dtype=np.int32).tobytes())
        self._acc_list = nf.acc.tolist()
        # a scan item in a state with no outgoing byte can only complete (done when reached): drop it
        self._live_list = (nf.trans >= 0).any(axis=1).tolist()
        self._term_of_list = nf.term_of.tolist()
        self.n_dfa_states = int(nf.trans.shape[0])
        self._earley_tables(nf)
        self._prediction_closures()
        self.start_accepts_empty = self.nullable[self.start_sym]
        self.tables = EarleyTables.build(self)  # the same tables for the numba core (`chart`)
        # (signature << 8 | byte) -> signature of the next set; the feed kernel reads its array
        self._sig_trans = TransTable(limits.max_signatures)

    # ------------------------------------------------------------------ tables
    def _earley_tables(self, nf) -> None:
        """Dotted rules (``dr_next``: the symbol after the dot, -1 at the end; ``dr_lhs``),
        ``wait_on`` (symbol -> the (lhs, dotted rule) pairs with the dot before it), and per
        nonterminal its direct predictions (Aycock–Horspool: through nullable prefixes)."""
        T = nf.n_terms
        nullable = self.nullable = list(nf.nullable)
        dr_next: list[int] = []
        dr_lhs: list[int] = []
        direct_nts: dict[int, list[int]] = {}
        direct_terms: dict[int, list[int]] = {}
        wait_on: dict[int, list[tuple[int, int]]] = {}
        for a, rhs in nf.rules:
            base = len(dr_next)
            dr_next.extend(rhs)
            dr_next.append(-1)
            dr_lhs.extend([a] * (len(rhs) + 1))
            dn = direct_nts.setdefault(a, [])
            dt = direct_terms.setdefault(a, [])
            for k, s in enumerate(rhs):
                wait_on.setdefault(s, []).append((a, base + k))
                lst = dn if s >= T else dt
                if s not in lst:
                    lst.append(s)
                if not nullable[s]:
                    break
        self.dr_next = dr_next
        self.dr_lhs = dr_lhs
        self.n_rules = len(nf.rules)
        self.wait_on = wait_on
        self.direct_nts = direct_nts
        self.direct_terms = direct_terms

    def _prediction_closures(self) -> None:
        """``clo``: per nonterminal the nonterminals its prediction predicts (itself included), and
        ``_pterms`` the terminals predicted with them; both None when their total size would pass
        ``_CLOSURE_BUDGET`` (a 5k-rule chain has closures of quadratic total size): `close` then
        follows the direct predictions at run time."""
        direct_nts = self.direct_nts
        clo: dict | None = {}
        size = 0
        for a in direct_nts:
            seen2 = {a}
            st = [a]
            while st:
                for y in direct_nts.get(st.pop(), ()):
                    if y not in seen2:
                        seen2.add(y)
                        st.append(y)
            size += len(seen2)
            if size > _CLOSURE_BUDGET:
                clo = None
                break
            clo[a] = frozenset(seen2)
        self.clo = clo
        direct_terms = self.direct_terms
        self._pterms = None if clo is None else {
            a: frozenset(t for z in c for t in direct_terms.get(z, ())) for a, c in clo.items()}

    # ------------------------------------------------------------------ closure
    def initial(self) -> ESet:
        """The set at position 0."""
        return self.close(0, [], (), None, predict=(self.start_sym,))

    def close(self, pos, scan, comps, lookup, predict=(), after_word=False, deadline=None) -> ESet:
        """Build the set at ``pos`` from its advanced scan items ``scan`` (kept), the terminals
        completed here ``comps`` (``(terminal, origin)``; origins < pos, looked up with ``lookup``)
        and nonterminals to predict. ``after_word``: the byte before ``pos`` is a word character
        (`CFG.word_chars`), so the lexemes predicted here start in states that refuse word bytes
        (every lexeme starting at ``pos`` follows one ending there, so this is a property of the
        position alone). ``deadline``: `LimitExceeded` when passed (checked every 4096 items).
        Cost: O(items added × their waiters)."""
        T = self.n_terms
        dr_next = self.dr_next
        dr_lhs = self.dr_lhs
        nullable = self.nullable
        q0 = self.q0w if after_word else self.q0
        start_sym = self.start_sym
        live = self._live_list
        N: set = set()  # predicted nonterminals (None in the set when empty)
        waiting: dict = {}
        items: set = set()
        pred_terms: set = set()
        scan = list(scan)
        accept = False
        agenda: list = []
        predict_nt = self._predictor(pos, q0, N, pred_terms, scan)
        complete = self._completer(items, agenda, lookup)
        for y in predict:
            predict_nt(y)
            if y == start_sym and nullable[y]:
                accept = True
        for t, o in comps:
            complete(t, o)
        pops = 0
        while agenda:
            it = agenda.pop()
            pops += 1
            if not pops & 4095:
                self._check_closure(pos, len(items), deadline)
            dr, o = it
            nx = dr_next[dr]
            if nx < 0:
                a = dr_lhs[dr]
                if a == start_sym:
                    accept = True
                elif o < pos:
                    complete(a, o)
                continue
            lst = waiting.get(nx)
            if lst is None:
                waiting[nx] = [it]
            else:
                lst.append(it)
            if nx >= T:
                predict_nt(nx)
            elif nx not in pred_terms:
                pred_terms.add(nx)
                if live[q0[nx]]:
                    scan.append((q0[nx], pos))
            if nullable[nx]:
                it2 = (dr + 1, o)
                if it2 not in items:
                    items.add(it2)
                    agenda.append(it2)
        n = len(items) + len(N)
        if n + len(scan) > self.limits.max_items_per_position:
            raise LimitExceeded("max_items_per_position", self.limits.max_items_per_position,
                                f"{n + len(scan)} Earley items at byte {pos}")
        return ESet(pos, scan, N or None, waiting or None, accept, n)

    def _check_closure(self, pos: int, n_items: int, deadline) -> None:
        """The limits checked every 4096 agenda items of one closure."""
        lim_items = self.limits.max_items_per_position
        if n_items > lim_items:
            raise LimitExceeded("max_items_per_position", lim_items,
                                f"over {n_items} Earley items at byte {pos}")
        if deadline is not None and time.perf_counter() > deadline:
            raise LimitExceeded("mask_time_budget_s", self.limits.mask_time_budget_s,
                                f"an Earley closure at byte {pos}")

    def _predictor(self, pos: int, q0: list, N: set, pred_terms: set, scan: list):
        """``predict_nt(y)`` for one closure at ``pos``: adds ``y``'s prediction closure to ``N``
        and the scan items of the terminals it predicts (not yet in ``pred_terms``) to ``scan``."""
        clo = self.clo
        pterms = self._pterms
        live = self._live_list
        if clo is None:
            return self._lazy_predictor(pos, q0, N, pred_terms, scan)

        def predict_nt(y):
            if y in N:  # N is a union of closures, so clo[y] is in it already
                return
            N.update(clo[y])
            nt = pterms[y] - pred_terms
            if nt:
                pred_terms.update(nt)
                for t in nt:
                    if live[q0[t]]:
                        scan.append((q0[t], pos))

        return predict_nt

    def _lazy_predictor(self, pos: int, q0: list, N: set, pred_terms: set, scan: list):
        """`_predictor` when the closures were too large to precompute: follows the direct
        predictions."""
        direct_terms = self.direct_terms
        direct_nts = self.direct_nts
        live = self._live_list

        def predict_nt(y):
            if y in N:
                return
            N.add(y)
            stack = [y]
            while stack:
                x = stack.pop()
                for t in direct_terms[x]:
                    if t not in pred_terms:
                        pred_terms.add(t)
                        if live[q0[t]]:
                            scan.append((q0[t], pos))
                for z in direct_nts[x]:
                    if z not in N:
                        N.add(z)
                        stack.append(z)

        return predict_nt

    def _completer(self, items: set, agenda: list, lookup):
        """``complete(sym, o)`` for one closure: advances the items of the set at ``o`` waiting for
        ``sym`` (explicit ones, and the predicted rules of its ``N``) onto ``agenda``."""
        wait_on = self.wait_on

        def complete(sym, o):
            src = lookup(o)
            w = src.waiting
            if w is not None:
                lst = w.get(sym)
                if lst:
                    for dr, o2 in lst:
                        it = (dr + 1, o2)
                        if it not in items:
                            items.add(it)
                            agenda.append(it)
            sn = src.N
            if sn:
                lst = wait_on.get(sym)
                if lst:
                    for z, dr in lst:
                        if z in sn:
                            it = (dr + 1, o)
                            if it not in items:
                                items.add(it)
                                agenda.append(it)

        return complete

    # ------------------------------------------------------------------ bytes
    def step(self, prev: ESet, b: int, lookup, deadline=None) -> ESet:
        """The set after reading byte ``b`` from ``prev`` (``lookup(pos)`` returns earlier sets)."""
        tf = self._trans_flat
        acc = self._acc_list
        newscan = []
        comps = None
        base = b
        live = self._live_list
        for g, o in prev.scan:
            g2 = tf[(g << 8) | base]
            if g2 >= 0:
                if live[g2]:
                    newscan.append((g2, o))
                if acc[g2]:
                    if comps is None:
                        comps = [(self._term_of_list[g2], o)]
                    else:
                        comps.append((self._term_of_list[g2], o))
        if comps is None:
            E = ESet(prev.pos + 1, newscan)
        else:
            E = self.close(prev.pos + 1, newscan, comps, lookup, after_word=self._word_list[b],
                           deadline=deadline)
        E._b = b
        s = prev._sig
        if s is not None:  # same future before, same byte: same future after
            E._sig = self._sig_trans.get((s << 8) | b)
        return E

    def feed(self, chart: list, data: bytes, deadline: float | None = None,
             items_left: int | None = None, budget: tuple = ("mask_time_budget_s", None)) -> list | None:
        """Sets after reading ``data`` on top of ``chart`` (not modified), or None when dead.

        ``deadline`` (``time.perf_counter()`` value) and ``items_left`` (Earley items the new sets
        may hold together) raise `LimitExceeded` when passed; ``budget`` names the time limit
        (name, value) for the message. Cost: O(items of the new sets × their waiters)."""
        out = []
        n0 = len(chart)
        cur = chart[-1]

        def lookup(p):
            return chart[p] if p < n0 else out[p - n0]

        for b in data:
            cur = self.step(cur, b, lookup, deadline)
            if not cur.scan and not cur.accept:
                return None
            out.append(cur)
            if items_left is not None:
                items_left -= cur.n_items
                if items_left < 0:
                    raise LimitExceeded("max_items_total", self.limits.max_items_total,
                                        f"Earley items in one chart, at byte {cur.pos}")
            if deadline is not None and time.perf_counter() > deadline:
                name, value = budget
                raise LimitExceeded(name, self.limits.mask_time_budget_s if value is None else value,
                                    f"parsing, at byte {cur.pos}")
        return out
