"""Emptiness of (context-free grammar) ∩ (partial output), at the byte level.

Model
-----
Every grammar terminal is a minimal byte DFA (`constrain.regex`); the grammar is a CFG over
terminals. A partial output is a byte NFA (`constrain.infill.partial.PartialNFA`) whose edges go
forward apart from Σ self-loops on unbounded holes. Working on bytes (not on a lexing of each
piece) makes partial terminals at hole borders, terminals that join across holes, keyword versus
identifier prefixes and UTF-8 characters split across tokens need no special case: a terminal
simply *spans* NFA states ``p → q`` when some word of its language leads the NFA from ``p`` to
``q``.

Compile time (`InfillGrammar`, once per grammar):

1. The grammar's one normal form (`constrain.grammar.normalize.normal_form`): ``%ignore``
   compiled in (each terminal ``t`` of a rule becomes ``_W_t → IGS t``, the start
   ``S' → start IGS``, ``IGS`` one star terminal where exact), runs of closed terminals collapsed.
2. Useless symbols are removed, rules are binarised (shared suffixes), and ε is eliminated
   (``A → B C`` with nullable ``B`` also gives the unit rule ``A → C``); only the start's
   nullability is kept aside. The grammar is then in the form ``A → B C | B`` over symbols
   (terminals included) that derive non-empty words only.

Per check (`InfillGrammar.check`):

1. *Seeds* (numba): for each terminal ``t`` and NFA state ``p``, a search of the product of
   ``t``'s DFA with the NFA from ``(q0, p)`` gives every ``q`` with ``(p, t, q)`` (non-empty words).
2. *Fixpoint* (numba): a worklist over triples ``(p, A, q)`` ("A derives a non-empty word leading
   the NFA from p to q"), with the chart as two bitsets (``fw[A, p]`` has bit ``q``; ``bw[A, q]``
   has bit ``p``). A popped ``(p, B, q)`` fires the unit rules ``A → B`` and the binary rules
   with ``B`` on the left (partners ``(q, C, r)`` read from ``fw[C, q]``) or on the right
   (partners ``(r, C, p)`` from ``bw[C, p]``). The loop stops as soon as ``(0, S', f)`` is
   derived for a final ``f``.

Every derived triple is logged once with its children, which is what `example` walks back to
reconstruct a witness. Work is bounded by `InfillLimits` (time, triples, NFA states, chart bytes);
exceeding one raises `constrain.LimitExceeded`, never a guessed answer.

Cost: seeds O(Σ_t |reachable product pairs| · out-degree) per start state; the fixpoint
O(|derived triples| · rules · Q/64) word operations (Q = NFA states).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidSyntax, LimitExceeded
from ..grammar.normalize import word_bytes
from ..grammar.ir import CFG
from .partial import ANY, Partial, PartialNFA

__all__ = ["InfillLimits", "InfillGrammar", "CheckResult"]


@dataclass(frozen=True)
class InfillLimits:
    """Bounds of one completability check; exceeding one raises `constrain.LimitExceeded`.

    Attributes
    ----------
    time_s : float
        Wall-clock budget of one check (tested between fixpoint chunks).
    max_triples : int
        Derived ``(state, symbol, state)`` triples (the worklist size).
    max_states : int
        States of the partial output's byte NFA (pieces' bytes plus counted hole bytes).
    max_chart_bytes : int
        Memory of the two chart bitsets (symbols × states² / 4 bytes).
    """

    time_s: float = 10.0
    max_triples: int = 50_000_000
    max_states: int = 20_000
    max_chart_bytes: int = 1 << 30


from ..native.emptiness_kernels import _BITS, _EMPTY, _FOUND, _LIMIT, _PAUSE, _run, _seed  # noqa: E402,F401

@dataclass
class CheckResult:
    """Outcome of one check: ``ok`` plus what `InfillGrammar.example` needs to build a witness."""

    ok: bool
    nfa: PartialNFA | None = None
    log: np.ndarray | None = None
    found: int = -1
    triples: int = 0
    seconds: float = 0.0


class InfillGrammar:
    """A CFG normalised once for completability checks (see the module docstring).

    Parameters
    ----------
    cfg : CFG
        The grammar (IR).
    dfas : dict, optional
        ``terminal name -> ByteDFA``; built from the terminals' patterns when absent.
    """

    def __init__(self, cfg: CFG, dfas: dict | None = None, limits: InfillLimits | None = None):
        self.cfg = cfg
        self.limits = limits or InfillLimits()
        # --- 1. the one normal form: ignore runs compiled in (`_W_t -> IGS t`, `S' -> start IGS`,
        # IGS one star terminal where exact), runs of closed terminals collapsed, pruned
        from ..grammar.normalize import normal_form, nullable_symbols

        nf = normal_form(cfg, dfas=dfas, allow_empty=True)
        names = nf.names
        tnames = names[:nf.n_terms]
        terms = {t: cfg.terminals.get(t) for t in tnames}
        dfas = dict(zip(tnames, nf.dfas))
        rules = [(names[a], tuple(names[s] for s in rhs)) for a, rhs in nf.rules]
        start = names[nf.start]
        tnullable = {t: bool(dfas[t].accepting[0]) for t in tnames}
        tnonempty = {t: bool((dfas[t].transitions >= 0).any()) for t in tnames}
        # --- 2. generating / reachable, binarise, eliminate ε
        rules = _prune(rules, start, lambda s: s in terms and (tnonempty[s] or tnullable[s]))
        bin_rules = []
        suffix: dict[tuple, str] = {}
        work = list(rules)
        i = 0
        while i < len(work):
            lhs, rhs = work[i]
            i += 1
            if len(rhs) > 2:
                tail = rhs[1:]
                nt = suffix.get(tail)
                if nt is None:
                    nt = suffix[tail] = f"<B{len(suffix)}>"
                    work.append((nt, tail))
                bin_rules.append((lhs, (rhs[0], nt)))
            else:
                bin_rules.append((lhs, rhs))
        nullable = nullable_symbols(bin_rules, (t for t in tnames if tnullable[t]))
        eps_free = set()
        for lhs, rhs in bin_rules:
            if len(rhs) == 1:
                eps_free.add((lhs, rhs))
            elif len(rhs) == 2:
                b, c = rhs
                eps_free.add((lhs, rhs))
                if b in nullable:
                    eps_free.add((lhs, (c,)))
                if c in nullable:
                    eps_free.add((lhs, (b,)))
        eps_free = {(l, r) for l, r in eps_free if not (len(r) == 1 and r[0] == l)}
        self.start_nullable = start in nullable
        final_rules = _prune(sorted(eps_free), start, lambda s: s in terms and tnonempty[s])
        if cfg.word_chars:
            final_rules, start, terms = _split_word_boundaries(final_rules, start, terms, dfas,
                                                               cfg.word_chars)
        # --- 3. tables
        nts = sorted({l for l, _ in final_rules} | {start})
        used_t = sorted({s for _, r in final_rules for s in r if s in terms})
        self.symbols = used_t + [n for n in nts]
        sid = {s: i for i, s in enumerate(self.symbols)}
        self.n_terms = len(used_t)
        self.n_syms = len(self.symbols)
        self.S0 = sid[start]
        self.empty_language = not any(l == start for l, _ in final_rules)
        units = [(sid[l], sid[r[0]]) for l, r in final_rules if len(r) == 1]
        bins = [(sid[l], sid[r[0]], sid[r[1]]) for l, r in final_rules if len(r) == 2]
        NS = self.n_syms
        self.u_ptr, (self.u_a,) = _csr(NS, [(b, (a,)) for a, b in units], 1)
        left = sorted([(b, (a, c)) for a, b, c in bins])
        right = sorted([(c, (a, b)) for a, b, c in bins])
        self.l_ptr, (self.l_a, self.l_c) = _csr(NS, left, 2)
        self.r_ptr, (self.r_a, self.r_b) = _csr(NS, right, 2)
        # terminal DFAs concatenated
        self.term_dfas = [dfas[t] for t in used_t]
        total = sum(d.n_states for d in self.term_dfas)
        trans = np.full((max(total, 1), 256), -1, dtype=np.int32)
        acc = np.zeros(max(total, 1), dtype=np.bool_)
        q0s = np.zeros(len(used_t), dtype=np.int32)
        off = 0
        for i, d in enumerate(self.term_dfas):
            k = d.n_states
            trans[off:off + k] = np.where(d.transitions >= 0, d.transitions + off, -1)
            acc[off:off + k] = d.accepting
            q0s[i] = off
            off += k
        self.trans, self.acc, self.q0s = trans, acc, q0s
        self.tsyms = np.arange(len(used_t), dtype=np.int32)
        asp = np.zeros(max(total, 1) + 1, dtype=np.int32)
        asu: list[int] = []
        for g in range(max(total, 1)):
            succ = np.unique(trans[g][trans[g] >= 0])
            asu.extend(succ.tolist())
            asp[g + 1] = len(asu)
        self.asp = asp
        self.asu = np.asarray(asu, dtype=np.int32)
        self.total_dfa_states = max(total, 1)
        self.n_rules = len(final_rules)

    # ------------------------------------------------------------------------------------------
    def check(self, partial: Partial, limits: InfillLimits | None = None, *, keep_log: bool = False) -> CheckResult:
        """Whether some completion of ``partial`` is a sentence of the grammar.

        Raises `LimitExceeded` when a bound of ``limits`` is hit (never a guessed answer)."""
        lim = limits or self.limits
        t0 = time.perf_counter()
        nfa = partial.nfa()
        n = nfa.n
        if self.start_nullable and nfa.final[0]:
            return CheckResult(True, nfa, None, -2, 0, time.perf_counter() - t0)
        if self.empty_language:
            return CheckResult(False, nfa, None, -1, 0, time.perf_counter() - t0)
        if n > lim.max_states:
            raise LimitExceeded("max_states", lim.max_states, f"the partial output needs {n} NFA states")
        W = (n + 63) >> 6
        NS = self.n_syms
        chart_bytes = 2 * NS * n * W * 8
        if chart_bytes > lim.max_chart_bytes:
            raise LimitExceeded("max_chart_bytes", lim.max_chart_bytes,
                                f"{NS} symbols × {n} states need {chart_bytes} bytes")
        fw = np.zeros((NS, n, W), dtype=np.uint64)
        bw = np.zeros((NS, n, W), dtype=np.uint64)
        wl = np.empty((4096, 5), dtype=np.int32)
        visit = np.zeros((n, self.total_dfa_states), dtype=np.int64)
        stk_cap = n * self.total_dfa_states + 1
        stk_s = np.empty(stk_cap, dtype=np.int32)
        stk_g = np.empty(stk_cap, dtype=np.int32)
        wl, tail, status = _seed(n, nfa.ptr, nfa.dst, nfa.lab, nfa.loop, self.trans, self.acc,
                                 self.asp, self.asu, self.q0s, self.tsyms, fw, bw, wl, 0,
                                 lim.max_triples, _BITS, visit, stk_s, stk_g)
        if status == _LIMIT:
            raise LimitExceeded("max_triples", lim.max_triples, "terminal spans of the partial output")
        head = 0
        deadline = t0 + lim.time_s
        chunk = 20_000
        while True:
            wl, head, tail, status, found = _run(W, fw, bw, wl, head, tail, chunk, lim.max_triples, _BITS,
                                                 self.u_ptr, self.u_a, self.l_ptr, self.l_a, self.l_c,
                                                 self.r_ptr, self.r_a, self.r_b, self.S0, nfa.final)
            if status == _PAUSE:
                if time.perf_counter() > deadline:
                    raise LimitExceeded("time_s", lim.time_s, f"completability check ({tail} triples)")
                chunk = min(chunk * 2, 1_000_000)
                continue
            if status == _LIMIT:
                raise LimitExceeded("max_triples", lim.max_triples, "derived (state, symbol, state) triples")
            break
        ok = status == _FOUND
        return CheckResult(ok, nfa, wl[:tail] if keep_log else None, found, tail, time.perf_counter() - t0)

    # ------------------------------------------------------------------------------------------
    def example(self, partial: Partial, limits: InfillLimits | None = None) -> bytes | None:
        """One completion of ``partial`` in the grammar (bytes), or None when there is none."""
        res = self.check(partial, limits, keep_log=True)
        if not res.ok:
            return None
        if res.found == -2:
            return b""
        log = res.log
        nfa = res.nfa
        index = {(int(p), int(a), int(q)): i for i, (p, a, q, _, _) in enumerate(log.tolist())}
        spans: list[tuple[int, int, int]] = []  # (terminal symbol, p, q) left to right
        stack = [res.found]
        while stack:
            i = stack.pop()
            p, a, q, x, y = (int(v) for v in log[i])
            if x == -1 and y == -1:  # terminal seed
                spans.append((a, p, q))
            elif y == -1:  # unit A -> B
                stack.append(index[(p, x, q)])
            else:
                m = x
                if y >= 0:
                    b, c = self._left_child(y), int(self.l_c[y])
                else:
                    b, c = int(self.r_b[-2 - y]), self._right_child(-2 - y)
                # children (p, b, m) and (m, c, q); push right first so left pops first
                stack.append(index[(m, c, q)])
                stack.append(index[(p, b, m)])
        out = [self._span_bytes(t, p, q, nfa) for t, p, q in spans]
        return b"".join(out)

    def _left_child(self, i: int) -> int:
        # l tables are indexed by B (the left child): find the B whose CSR range holds i
        return int(np.searchsorted(self.l_ptr, i, side="right") - 1)

    def _right_child(self, i: int) -> int:
        return int(np.searchsorted(self.r_ptr, i, side="right") - 1)

    def _span_bytes(self, t: int, p: int, q: int, nfa: PartialNFA) -> bytes:
        """A non-empty word of terminal ``t`` leading the NFA from ``p`` to ``q`` (BFS)."""
        from collections import deque

        g0 = int(self.q0s[t])
        trans, acc = self.trans, self.acc
        parent: dict = {}
        dq = deque()

        def moves(s, g):
            if nfa.loop[s]:
                row = trans[g]
                seen = set()
                for b in _PREFERRED + [x for x in range(256) if x not in _PREF_SET]:
                    g2 = int(row[b])
                    if g2 >= 0 and g2 not in seen:
                        seen.add(g2)
                        yield s, g2, b
            for e in range(nfa.ptr[s], nfa.ptr[s + 1]):
                d, lb = int(nfa.dst[e]), int(nfa.lab[e])
                if lb == ANY:
                    row = trans[g]
                    seen = set()
                    for b in _PREFERRED + [x for x in range(256) if x not in _PREF_SET]:
                        g2 = int(row[b])
                        if g2 >= 0 and g2 not in seen:
                            seen.add(g2)
                            yield d, g2, b
                else:
                    g2 = int(trans[g, lb])
                    if g2 >= 0:
                        yield d, g2, lb

        for s2, g2, b in moves(p, g0):
            if (s2, g2) not in parent:
                parent[(s2, g2)] = (None, b)
                dq.append((s2, g2))
        while dq:
            s, g = dq.popleft()
            if s == q and acc[g]:
                out = []
                node = (s, g)
                while node is not None:
                    prev, b = parent[node]
                    out.append(b)
                    node = prev
                return bytes(reversed(out))
            for s2, g2, b in moves(s, g):
                if (s2, g2) not in parent:
                    parent[(s2, g2)] = ((s, g), b)
                    dq.append((s2, g2))
        raise AssertionError("span without a witness")  # pragma: no cover


# bytes tried first when a witness may choose freely (readable output)
_PREFERRED = [ord(c) for c in " 0aeE1x_\"-+.,:;()[]{}tnru"] + list(range(0x61, 0x7B)) + list(range(0x30, 0x3A))
_PREFERRED = list(dict.fromkeys(_PREFERRED))
_PREF_SET = set(_PREFERRED)


def _edge_variant(d, word: np.ndarray, first: int, last: int):
    """The words of DFA ``d`` whose first byte is (``first=1``) or is not (0) a word byte and
    whose last byte is (``last=1``) or is not (0) one, as a minimal `ByteDFA` (None if empty):
    the product of ``d`` with the class of the last byte read, plus a start state. Non-empty
    words only."""
    from ..regex.automata import ByteDFA, minimal

    n = d.n_states
    tr = d.transitions
    cls = word.astype(np.int32)  # 1 = word byte
    # state 1 + 2g + c: in d's state g, the last byte read had class c; state 0: start
    out = np.full((1 + 2 * n, 256), -1, dtype=np.int32)
    body = np.where(tr >= 0, 1 + 2 * tr + cls[None, :], -1).astype(np.int32)
    out[1::2] = body
    out[2::2] = body
    out[0] = np.where(cls == first, body[0], -1)
    acc = np.zeros(1 + 2 * n, dtype=np.bool_)
    acc[1 + last::2] = d.accepting
    v = minimal(ByteDFA(out, acc))
    return v if v.n_states else None


def _split_word_boundaries(rules, start, terms, dfas, word_chars):
    """Compile ``CFG.word_chars`` into an ε-free binary grammar: every symbol ``X`` becomes
    ``X#fl`` (its words start with a word byte iff ``f``, end with one iff ``l``), and a binary
    rule may not join a left part ending in a word byte to a right part starting with one.
    Terminal variants get their own DFAs (added to ``dfas``). Returns (rules, start, terms).
    Cost: 4x the symbols and up to 12x the binary rules of the input grammar."""
    word = word_bytes(word_chars)
    pairs = [(0, 0), (0, 1), (1, 0), (1, 1)]
    new_terms: dict = {}
    for t in sorted({s for _, r in rules for s in r if s in terms}):
        for f, l in pairs:
            v = _edge_variant(dfas[t], word, f, l)
            if v is not None:
                name = f"{t}#{f}{l}"
                dfas[name] = v
                new_terms[name] = terms[t]
    out = []
    for lhs, rhs in rules:
        if len(rhs) == 1:
            out.extend((f"{lhs}#{f}{l}", (f"{rhs[0]}#{f}{l}",)) for f, l in pairs)
        else:
            b, c = rhs
            out.extend((f"{lhs}#{f}{l}", (f"{b}#{f}{m}", f"{c}#{k}{l}"))
                       for f, l in pairs for m in (0, 1) for k in (0, 1) if not (m and k))
    top = "<S'#>"
    out.extend((top, (f"{start}#{f}{l}",)) for f, l in pairs)
    return _prune(out, top, lambda s: s in new_terms), top, new_terms


def _prune(rules, start, term_ok):
    """Rules whose symbols are all generating and reachable from ``start`` (linear)."""
    from ..grammar.normalize import productive_symbols, reachable_symbols

    gen = productive_symbols(rules, term_ok)
    rules = [(l, r) for l, r in rules if l in gen and all((s in gen) or term_ok(s) for s in r)]
    reach = reachable_symbols(rules, start)
    return [(l, r) for l, r in rules if l in reach]


def _csr(n: int, pairs: list, width: int):
    """``pairs`` of (key, (v1, v2, ...)) → (ptr, (arrays...)), grouped by key."""
    pairs = sorted(pairs)
    ptr = np.zeros(n + 1, dtype=np.int32)
    cols = [[] for _ in range(width)]
    for k, vals in pairs:
        ptr[k + 1] += 1
        for j, v in enumerate(vals):
            cols[j].append(v)
    ptr = np.cumsum(ptr).astype(np.int32)
    return ptr, tuple(np.asarray(c, dtype=np.int32) for c in cols)
