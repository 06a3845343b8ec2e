"""A general incremental recognizer for context-free grammars over bytes, and its token masks.

Model
-----
The engine runs an Earley recognizer directly over *bytes*: each terminal is a minimal byte DFA
(`constrain.regex`), and a terminal predicted at byte position ``i`` becomes a *scan item*
``(g, i)`` (``g`` a global DFA state in one concatenated transition table). Reading a byte advances
every scan item; a scan item whose DFA state is accepting completes its terminal, exactly like a
completed nonterminal, which advances the items waiting for it and predicts the next terminals at
the same position. This realises the IR's lexing semantics (every split of the text into
lexemes, as lark's Earley ``lexer="dynamic_complete"``) without a separate lexer, handles any CFG
(ambiguous, left/right-recursive, nullable-heavy: Aycock–Horspool prediction; not LALR), and
overlapping terminals (keywords versus identifiers) simply run side by side. Ignored terminals
are compiled into the grammar: every terminal ``t`` becomes ``_W_t -> _IGS t`` and the start
``_S' -> start _IGS`` with ``_IGS -> ε | _IGS IGNORED`` (deduplicated by the Earley sets).

A chart is a list of immutable `ESet` objects, one per byte position; a matcher keeps the list,
so ``rollback`` is truncation and ``fork`` is a list copy. A position is *viable* (the bytes so far
can still be completed) exactly when its set has a scan item or accepts: unproductive rules are
removed at compile time and terminal DFAs are trimmed, so every Earley item can be finished.

Masks
-----
For a set ``E`` let ``L`` be its distinct DFA states (the *lexer state*). One numba walk of the
token trie with ``L`` (cached per ``L``) gives the *context-independent* tokens (every byte keeps
some partial lexeme alive: allowed, no parser needed) and the *completion nodes*: trie nodes where
some lexeme may end with a subtree where the pure lexer path dies. For each group of completion
nodes with the same accepting lexemes and depth, the parser completes those lexemes once
(`Engine.close`), and the subtree is walked again with the newly predicted lexemes, recursively.
Because Earley closure distributes over unions of items at one position (given the earlier sets),
the union of these walks is exactly the set of tokens whose bytes keep the chart alive; the tests
compare it with brute force over whole vocabularies. The walks below a completion node are cached
per (node group, new lexer state) as sparse rows, so the per-mask Python work is one closure per
distinct (accepting lexemes, depth) group.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidSyntax, LimitExceeded
from .ir import CFG, Rule

__all__ = ["GrammarLimits", "Engine", "ESet"]


@dataclass(frozen=True)
class GrammarLimits:
    """Explicit bounds; exceeding one raises `constrain.LimitExceeded` (never a hang).

    Attributes
    ----------
    max_dfa_states : int
        Total states of all terminal DFAs together (checked at compile time).
    max_lexer_states : int
        Distinct lexer states (sets of live terminal-DFA states) a compiled grammar may cache token
        walks for, over its lifetime.
    max_items_per_position : int
        Earley items (explicit + predicted nonterminals + scan items) in one byte position's set.
    max_items_total : int
        Earley items in one matcher's whole chart.
    mask_time_budget_s : float
        Wall-clock budget of one ``fill_mask`` (checked between parser steps) and one ``allows``.
    regex_max_dfa_states : int
        Per-terminal DFA construction bound (passed to `constrain.regex.RegexLimits`).
    """

    max_dfa_states: int = 200_000
    max_lexer_states: int = 20_000
    max_items_per_position: int = 200_000
    max_items_total: int = 20_000_000
    mask_time_budget_s: float = 2.0
    regex_max_dfa_states: int = 50_000


class ESet:
    """One Earley set (byte position ``pos``). Immutable once built.

    ``scan``: list of ``(g, origin)`` scan items; ``N``: predicted nonterminals (their dotted rules
    have origin ``pos``) or None; ``waiting``: ``symbol -> [(dotted rule, origin)]`` for explicit
    items (from completions) or None; ``accept``: the start symbol is complete from 0; ``n_items``
    a size for the limits.
    """

    __slots__ = ("pos", "scan", "N", "waiting", "accept", "n_items", "_lex")

    def __init__(self, pos, scan, N=None, waiting=None, accept=False, n_items=0):
        self.pos = pos
        self.scan = scan
        self.N = N
        self.waiting = waiting
        self.accept = accept
        self.n_items = n_items + len(scan)
        self._lex = None

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


class _Group:
    """Completion nodes of one walk sharing (accepting sources, relative depth)."""

    __slots__ = ("srcs", "depth", "nodes", "sub")

    def __init__(self, srcs, depth, nodes):
        self.srcs = srcs
        self.depth = depth
        self.nodes = nodes
        self.sub: dict = {}  # new lexer state L2 -> _Walk


class _Walk:
    """Result of walking some trie subtrees with a lexer state: marked tokens + completion groups."""

    __slots__ = ("row", "idx", "val", "groups")

    def __init__(self, row=None, idx=None, val=None, groups=()):
        self.row = row  # dense int32 row (root walks) or None
        self.idx = idx  # sparse words (sub walks)
        self.val = val
        self.groups = groups


class Engine:
    """A grammar compiled to Earley tables and terminal DFAs (vocabulary independent).

    Parameters
    ----------
    cfg : CFG
        The grammar (IR). Validated here: undefined symbols, an empty language, terminals whose
        regex is invalid or matches nothing raise `InvalidSyntax`.
    limits : GrammarLimits

    Cost: one regex→DFA per terminal plus closures over the rules (linear in the grammar size
    times the number of nonterminals in the worst case).
    """

    def __init__(self, cfg: CFG, limits: GrammarLimits | None = None):
        from ..regex import Regex
        from ..regex.automata import RegexLimits

        self.cfg = cfg
        self.limits = limits = limits or GrammarLimits()
        terms = dict(cfg.terminals)
        for name in cfg.ignore:
            if name not in terms:
                raise InvalidSyntax(f"%ignore names an undefined terminal {name!r}")
        rules = list(cfg.rules)
        nts = {r.lhs for r in rules}
        if cfg.start not in nts:
            raise InvalidSyntax(f"start symbol {cfg.start!r} has no rule")
        for r in rules:
            for s in r.rhs:
                if s not in nts and s not in terms:
                    raise InvalidSyntax(f"rule {r.lhs!r} uses undefined symbol {s!r}"
                                        + (f" (from {r.origin!r})" if r.origin else ""))
        # --- terminal DFAs (only terminals used somewhere or ignored)
        used = {s for r in rules for s in r.rhs if s in terms} | set(cfg.ignore)
        tnames = sorted(used)
        rl = RegexLimits(max_dfa_states=limits.regex_max_dfa_states)
        dfas = []
        for n in tnames:
            t = terms[n]
            try:
                dfa = Regex(t.pattern, flags=t.flags, limits=rl).dfa
            except InvalidSyntax as e:
                raise InvalidSyntax(f"terminal {n!r}: {e}") from e
            dfas.append(dfa)
        total = sum(d.n_states for d in dfas)
        if total > limits.max_dfa_states:
            raise LimitExceeded("max_dfa_states", limits.max_dfa_states,
                                f"the terminals need {total} DFA states")
        self.term_names = tnames
        self.n_terms = T = len(tnames)
        tid = {n: i for i, n in enumerate(tnames)}
        trans = np.full((max(total, 1), 256), -1, dtype=np.int32)
        acc = np.zeros(max(total, 1), dtype=np.bool_)
        term_of = np.zeros(max(total, 1), dtype=np.int32)
        q0 = []
        off = 0
        for i, d in enumerate(dfas):
            n = d.n_states
            tr = d.transitions
            trans[off:off + n] = np.where(tr >= 0, tr + off, -1)
            acc[off:off + n] = d.accepting
            term_of[off:off + n] = i
            q0.append(off)
            off += n
        self.trans = trans
        self.acc = acc
        self.term_of = term_of
        self.q0 = q0
        self._trans_flat = memoryview(np.ascontiguousarray(trans).reshape(-1)).cast("B").cast("i")
        self._acc_list = acc.tolist()
        # a scan item in a state with no outgoing byte can only complete (done when reached): drop it
        self._live_list = (trans >= 0).any(axis=1).tolist()
        self._term_of_list = term_of.tolist()
        self.n_dfa_states = total
        term_nullable = [bool(acc[q]) for q in q0]

        # --- ignore transform
        if cfg.ignore:
            wrapped = {}
            new_rules: list[Rule] = []
            for r in rules:
                rhs = []
                for s in r.rhs:
                    if s in terms:
                        w = wrapped.setdefault(s, f"\x00W:{s}")
                        rhs.append(w)
                    else:
                        rhs.append(s)
                new_rules.append(Rule(r.lhs, tuple(rhs), r.origin))
            igs = "\x00IGS"
            for s, w in wrapped.items():
                new_rules.append(Rule(w, (igs, s)))
            new_rules.append(Rule(igs, ()))
            for s in cfg.ignore:
                new_rules.append(Rule(igs, (igs, s)))
            start_rule = Rule("\x00S'", (cfg.start, igs))
            rules = new_rules
        else:
            start_rule = Rule("\x00S'", (cfg.start,))
        rules = [start_rule] + rules

        # --- productive pruning
        nts = {r.lhs for r in rules}
        productive = set()
        changed = True
        while changed:
            changed = False
            for r in rules:
                if r.lhs not in productive and all(s in terms or s in productive for s in r.rhs):
                    productive.add(r.lhs)
                    changed = True
        if "\x00S'" not in productive:
            raise InvalidSyntax(f"the grammar's language is empty (start {cfg.start!r} derives no string)")
        rules = [r for r in rules if r.lhs in productive and all(s in terms or s in productive for s in r.rhs)]
        # reachable
        by_lhs: dict[str, list[Rule]] = {}
        for r in rules:
            by_lhs.setdefault(r.lhs, []).append(r)
        reach = {"\x00S'"}
        stack = ["\x00S'"]
        while stack:
            a = stack.pop()
            for r in by_lhs.get(a, ()):
                for s in r.rhs:
                    if s not in terms and s not in reach:
                        reach.add(s)
                        stack.append(s)
        rules = [r for r in rules if r.lhs in reach]

        # --- numbering: terminals 0..T-1, nonterminals T..
        ntnames = []
        seen = set()
        for r in rules:
            if r.lhs not in seen:
                seen.add(r.lhs)
                ntnames.append(r.lhs)
        sid = dict(tid)
        for i, n in enumerate(ntnames):
            sid[n] = T + i
        self.nt_names = ntnames
        self.n_syms = T + len(ntnames)
        self.start_sym = sid["\x00S'"]
        dr_next: list[int] = []
        dr_lhs: list[int] = []
        rule_dr0: list[int] = []
        rules_of: dict[int, list[tuple[int, tuple[int, ...]]]] = {}
        for r in rules:
            rhs = tuple(sid[s] for s in r.rhs)
            base = len(dr_next)
            rule_dr0.append(base)
            for k in range(len(rhs) + 1):
                dr_next.append(rhs[k] if k < len(rhs) else -1)
                dr_lhs.append(sid[r.lhs])
            rules_of.setdefault(sid[r.lhs], []).append((base, rhs))
        self.dr_next = dr_next
        self.dr_lhs = dr_lhs
        self.n_rules = len(rules)
        # nullable
        nullable = [False] * self.n_syms
        for t in range(T):
            nullable[t] = term_nullable[t]
        changed = True
        while changed:
            changed = False
            for a, rs in rules_of.items():
                if not nullable[a] and any(all(nullable[s] for s in rhs) for _, rhs in rs):
                    nullable[a] = True
                    changed = True
        self.nullable = nullable
        # direct prediction info per nonterminal: dotted rules reachable by AH nullable skipping
        direct_nts: dict[int, set[int]] = {}
        direct_terms: dict[int, list[int]] = {}
        wait_on: dict[int, list[tuple[int, int]]] = {}
        for a, rs in rules_of.items():
            dn: set[int] = set()
            dt: list[int] = []
            for base, rhs in rs:
                for k, s in enumerate(rhs):
                    wait_on.setdefault(s, []).append((a, base + k))
                    if s >= T:
                        dn.add(s)
                    elif s not in dt:
                        dt.append(s)
                    if not nullable[s]:
                        break
            direct_nts[a] = dn
            direct_terms[a] = dt
        clo: dict[int, frozenset[int]] = {}
        for a in rules_of:
            seen2 = {a}
            st = [a]
            while st:
                x = st.pop()
                for y in direct_nts.get(x, ()):
                    if y not in seen2:
                        seen2.add(y)
                        st.append(y)
            clo[a] = frozenset(seen2)
        self.clo = clo
        self.direct_terms = direct_terms
        self.wait_on = wait_on
        self.start_accepts_empty = nullable[self.start_sym]
        # mask caches (shared by matchers; lock for the dict updates)
        self._lock = threading.Lock()
        self._roots: dict[tuple, _Walk] = {}
        self._n_lexer_states = 0

    # ------------------------------------------------------------------ Earley core
    def initial(self) -> ESet:
        """The set at position 0."""
        return self.close(0, [], (), None, predict=(self.start_sym,))

    def close(self, pos, scan, comps, lookup, predict=()) -> ESet:
        """Build the set at ``pos`` from its advanced scan items ``scan`` (kept), the terminals
        completed here ``comps`` (``(terminal, origin)``; origins < pos, looked up with ``lookup``)
        and nonterminals to predict. Cost: O(items added × their waiters)."""
        T = self.n_terms
        dr_next = self.dr_next
        dr_lhs = self.dr_lhs
        nullable = self.nullable
        clo = self.clo
        direct_terms = self.direct_terms
        wait_on = self.wait_on
        q0 = self.q0
        start_sym = self.start_sym
        live = self._live_list
        N: set | None = None
        waiting: dict | None = None
        items: set = set()
        pred_terms: set = set()
        scan = list(scan)
        accept = False
        agenda: list = []

        def predict_nt(y):
            nonlocal N
            if N is None:
                N = set()
            elif y in N:
                return
            new = clo[y] - N
            N |= new
            for z in new:
                for t in direct_terms[z]:
                    if t not in pred_terms:
                        pred_terms.add(t)
                        if live[q0[t]]:
                            scan.append((q0[t], pos))

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

        for y in predict:
            predict_nt(y)
            if y == start_sym and nullable[y]:
                accept = True
        for t, o in comps:
            complete(t, o)
        while agenda:
            it = agenda.pop()
            dr, o = it
            nx = dr_next[dr]
            if nx < 0:
                a = dr_lhs[dr]
                if a == start_sym:
                    accept = True
                elif o < pos:
                    complete(a, o)
                continue
            if waiting is None:
                waiting = {}
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
        n = len(items) + (len(N) if N else 0)
        if n + len(scan) > self.limits.max_items_per_position:
            raise LimitExceeded("max_items_per_position", self.limits.max_items_per_position,
                                f"{n + len(scan)} Earley items at byte {pos}")
        return ESet(pos, scan, N, waiting, accept, n)

    def step(self, prev: ESet, b: int, lookup) -> ESet:
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
            return ESet(prev.pos + 1, newscan)
        return self.close(prev.pos + 1, newscan, comps, lookup)

    def feed(self, chart: list, data: bytes, deadline: float | None = None) -> list | None:
        """Sets after reading ``data`` on top of ``chart`` (not modified), or None when dead."""
        out = []
        n0 = len(chart)
        cur = chart[-1]

        def lookup(p):
            return chart[p] if p < n0 else out[p - n0]

        for b in data:
            cur = self.step(cur, b, lookup)
            if not cur.scan and not cur.accept:
                return None
            out.append(cur)
            if deadline is not None and time.perf_counter() > deadline:
                raise LimitExceeded("mask_time_budget_s", self.limits.mask_time_budget_s,
                                    "feeding a token's bytes")
        return out

    # ------------------------------------------------------------------ masks
    def _walk(self, vocab, L: tuple, starts: np.ndarray, dense: bool) -> _Walk:
        from ..native.grammar_kernels import walk_lexer

        t = vocab.trie
        nn = t.n_nodes
        lex = np.asarray(L, dtype=np.int32)
        row = np.zeros(vocab.words, dtype=np.int32)
        cap_src = max(4 * nn, 1024)
        while True:
            cnode = np.empty(nn + 1, dtype=np.int32)
            cdepth = np.empty(nn + 1, dtype=np.int32)
            cptr = np.empty(nn + 2, dtype=np.int32)
            csrc = np.empty(cap_src, dtype=np.int32)
            nc, ns = walk_lexer(self.trans, self.acc, lex, starts, t.node_byte, t.node_depth,
                                t.node_subtree, t.tok_ptr, t.tok_ids, t.max_depth, row, cnode,
                                cdepth, cptr, csrc)
            if nc >= 0:
                break
            row[:] = 0
            cap_src *= 4
        groups: dict = {}
        if nc:
            cn = cnode[:nc].tolist()
            cd = cdepth[:nc].tolist()
            cp = cptr[:nc + 1].tolist()
            cs = csrc[:ns].tolist()
            for c in range(nc):
                if cn[c] < 0:
                    continue
                key = (tuple(cs[cp[c]:cp[c + 1]]), cd[c])
                lst = groups.get(key)
                if lst is None:
                    groups[key] = [cn[c]]
                else:
                    lst.append(cn[c])
        gl = tuple(_Group(k[0], k[1], np.asarray(v, dtype=np.int32)) for k, v in groups.items())
        if dense:
            return _Walk(row=row, groups=gl)
        idx = np.flatnonzero(row).astype(np.int64)
        return _Walk(idx=idx, val=row[idx], groups=gl)

    def _count_lexer_state(self):
        self._n_lexer_states += 1
        if self._n_lexer_states > self.limits.max_lexer_states:
            raise LimitExceeded("max_lexer_states", self.limits.max_lexer_states,
                                "distinct lexer states met by this grammar's masks")

    def root_walk(self, vocab, L: tuple) -> _Walk:
        """The cached walk of the whole trie with lexer state ``L`` (context-independent row)."""
        w = self._roots.get(L)
        if w is None:
            w = self._walk(vocab, L, np.zeros(1, dtype=np.int32), dense=True)
            with self._lock:
                if L not in self._roots:
                    self._count_lexer_state()
                    self._roots[L] = w
                w = self._roots[L]
        return w

    def fill_row(self, vocab, chart: list, row: np.ndarray, deadline: float) -> None:
        """Write into ``row`` (int32 words, zeroed here) the tokens whose bytes keep ``chart``
        alive (EOS bits are the caller's). Cost: one cached root walk + per completion group one
        parser closure and a (cached) subtree walk."""
        E = chart[-1]
        L, origins = E.lex()
        if not L:
            row[:] = 0
            return
        root = self.root_walk(vocab, L)
        row[:] = root.row
        if not root.groups:
            return
        term_of = self._term_of_list
        n0 = len(chart)

        def base_lookup(p):
            return chart[p]

        for grp in root.groups:
            comps = [(term_of[L[j]], o) for j in grp.srcs for o in origins[j]]
            S = self.close(E.pos + grp.depth, [], comps, base_lookup)
            if S.scan:
                self._sub(vocab, grp, S, base_lookup, row, deadline)
        if time.perf_counter() > deadline:
            raise LimitExceeded("mask_time_budget_s", self.limits.mask_time_budget_s,
                                f"computing one mask at byte {n0 - 1}")

    def _sub(self, vocab, grp: _Group, S: ESet, lookup, row, deadline):
        L2 = tuple(sorted({g for g, _ in S.scan}))
        w = grp.sub.get(L2)
        if w is None:
            w = self._walk(vocab, L2, grp.nodes, dense=False)
            with self._lock:
                if L2 not in grp.sub:
                    self._count_lexer_state()
                    grp.sub[L2] = w
        if len(w.idx):
            row[w.idx] |= w.val
        if not w.groups:
            return
        if time.perf_counter() > deadline:
            raise LimitExceeded("mask_time_budget_s", self.limits.mask_time_budget_s,
                                "computing one mask")
        term_of = self._term_of_list
        pos = S.pos

        def lk(p):
            return S if p == pos else lookup(p)

        for g2 in w.groups:
            comps = [(term_of[L2[j]], pos) for j in g2.srcs]
            S2 = self.close(pos + g2.depth, [], comps, lk)
            if S2.scan:
                self._sub(vocab, g2, S2, lk, row, deadline)
