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
Word boundaries (`CFG.word_chars`): a lexeme starting at a position whose previous byte is a word
character starts in a copy of its DFA's start state without the word bytes, so no cut falls
between two word characters (a property of the position, shared by all its items: exact).

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
nodes with the same accepting lexemes (at any depth of the token: the closure does not depend on
where the lexeme ends), the parser completes those lexemes once (`Engine.close`, at a *virtual*
position after the chart), and the subtrees are walked again with the newly predicted lexemes,
recursively. Because Earley closure distributes over unions of items at one position (given the
earlier sets), the union of these walks is exactly the set of tokens whose bytes keep the chart
alive; the tests compare it with brute force over whole vocabularies.

Caches (per vocabulary in `_VCache`, bounded by `GrammarLimits`):

* walks: root walks per ``L``; sub-walks per (completion node set, new lexer state), shared by
  every walk that reaches the same nodes; a walk over many trie nodes is the union of cached
  single-DFA-state walks (`Engine._walk`), those of the terminals' start states made when a
  vocabulary is first compiled (`Engine.warm_single`), so a lexer state met for the first time
  mostly ORs cached rows;
* whole masks per chart *signature* (`Engine.sig`): a canonical id of a set's future (its live
  items with origins replaced by the signatures of the sets there), so equal signatures have
  equal masks. Signatures propagate along bytes through a transition table (``(sig, byte) ->
  sig``), so on known paths ``allows`` is a bit test of the cached mask;
* what a root completion group adds to a mask, per (its trie nodes, the future id of the set its
  closure made: `Engine._future_id`, the signature of a virtual set): equal futures allow equal
  tokens below the same nodes, so a mask missed by the whole-mask cache reuses the parts it shares;
* lexemes nested deep inside one token (a token of 64 unary minus signs is 64 closures):
  `_Templates` interns virtual sets by relative content when their closure read only their parent
  set and their items do not reach into the chart; the next closure from the same template is
  relocated, and when a whole subtree only read parents, its contribution to the mask is cached
  per (node set, template) across masks.
"""

from __future__ import annotations

import array
import threading
import time
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidSyntax, LimitExceeded
from .ir import CFG
from .normalize import literal_dfa as _literal_dfa, word_bytes  # noqa: F401  (re-exported)

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
    max_signatures : int
        Size of the table interning chart-set signatures (cleared when full; ids stay unique).
    mask_cache_bytes : int
        Memory for whole masks cached per chart signature, per vocabulary (cleared when full).
    compile_max_seconds : float
        Wall-clock budget of building the terminal DFAs (regex parsing included), per terminal
        and for all of them together.
    parse_time_budget_s : float
        Wall-clock budget of one ``Grammar.accepts`` (``advance`` uses ``mask_time_budget_s``).
    """

    max_dfa_states: int = 200_000
    max_lexer_states: int = 20_000
    max_items_per_position: int = 200_000
    max_items_total: int = 20_000_000
    mask_time_budget_s: float = 2.0
    regex_max_dfa_states: int = 50_000
    max_signatures: int = 1_000_000
    mask_cache_bytes: int = 64 << 20
    compile_max_seconds: float = 30.0
    parse_time_budget_s: float = 60.0


class ESet:
    """One Earley set (byte position ``pos``). Immutable once built.

    ``scan``: list of ``(g, origin)`` scan items; ``N``: predicted nonterminals (their dotted rules
    have origin ``pos``) or None; ``waiting``: ``symbol -> [(dotted rule, origin)]`` for explicit
    items (from completions) or None; ``accept``: the start symbol is complete from 0; ``n_items``
    a size for the limits.
    """

    __slots__ = ("pos", "scan", "N", "waiting", "accept", "n_items", "_lex", "_sig", "_b", "_tmpl")

    def __init__(self, pos, scan, N=None, waiting=None, accept=False, n_items=0):
        self.pos = pos
        self.scan = scan
        self.N = N
        self.waiting = waiting
        self.accept = accept
        self.n_items = n_items + len(scan)
        self._lex = None
        self._sig = None  # canonical id of this set's future (see Engine.sig), computed lazily
        self._b = -1  # the byte read to reach this set (-1 at position 0)
        self._tmpl = None  # virtual sets of a mask computation: template id (see _Templates)

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


_CLOSURE_BUDGET = 200_000  # total size of precomputed prediction closures (else followed lazily)
_SPLIT_NODES = 4096  # walks over at least this many trie nodes are unions of single-state walks


class _Group:
    """Completion nodes of one walk sharing their accepting sources and whether their last byte
    is a word character (at any depth: the parser's closure after completing the same lexemes
    does not depend on where in the token they end)."""

    __slots__ = ("srcs", "after_word", "nodes", "sub")

    def __init__(self, srcs, after_word, nodes, sub=None):
        self.srcs = srcs
        self.after_word = after_word
        self.nodes = nodes
        # new lexer state L2 -> _Walk of these nodes' subtrees; shared by every group with the
        # same nodes (`_VCache.subs`): e.g. the node "--" is reached under many lexer states
        self.sub: dict = {} if sub is None else sub


class _VCache:
    """Per-vocabulary caches of one engine: root walks per lexer state, and whole masks per
    chart signature (bounded by ``GrammarLimits.mask_cache_bytes``; cleared when full)."""

    __slots__ = ("vocab", "roots", "subs", "single", "masks", "contrib", "mask_bytes", "hits", "misses")

    def __init__(self, vocab):
        self.vocab = vocab
        self.roots: dict = {}
        self.subs: dict = {}  # completion node ids (bytes) -> {L2: _Walk}
        self.single: dict = {}  # (start node ids (bytes), DFA state) -> single-state walk
        self.masks: dict = {}
        self.contrib: dict = {}  # (id of a node set's sub dict, template id) -> (idx, val)
        self.mask_bytes = 0
        self.hits = self.misses = 0

    def reserve(self, nbytes: int, budget: int) -> bool:
        """Account ``nbytes`` more cached rows; when over ``budget`` clear every cached row first.
        False when one row alone exceeds the budget (then it is not cached)."""
        if nbytes > budget:
            return False
        if self.mask_bytes + nbytes > budget:
            self.masks.clear()
            self.contrib.clear()
            self.mask_bytes = 0
        self.mask_bytes += nbytes
        return True


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
        from .normalize import normal_form

        self.cfg = cfg
        self.limits = limits = limits or GrammarLimits()
        nf = normal_form(cfg, limits)
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
        self.start_accepts_empty = self.nullable[self.start_sym]
        # mask caches (shared by matchers; lock for the dict updates)
        self._lock = threading.Lock()
        self._vcaches: dict[int, _VCache] = {}
        self._n_lexer_states = 0
        self._sig_table: dict = {}
        self._sig_trans: dict = {}  # (signature << 8 | byte) -> signature of the next set
        self._tm = _Templates()
        self._sig_next = 0

    def __getstate__(self) -> dict:
        """Pickle the tables and the per-vocabulary caches; not the lock."""
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._vcaches = {id(vc.vocab): vc for vc in self._vcaches.values()}  # ids changed

    def _earley_tables(self, nf) -> None:
        """Dotted rules (``dr_next``: the symbol after the dot, -1 at the end; ``dr_lhs``),
        ``wait_on`` (symbol -> the (lhs, dotted rule) pairs with the dot before it), and per
        nonterminal its direct predictions (Aycock–Horspool: through nullable prefixes). The
        prediction closures are precomputed only while their total size stays under
        ``_CLOSURE_BUDGET`` (a 5k-rule chain has closures of quadratic total size); otherwise
        `close` follows the direct predictions at run time."""
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
        # all terminals predicted with a nonterminal (through its prediction closure)
        self._pterms = None if clo is None else {
            a: frozenset(t for z in c for t in direct_terms.get(z, ())) for a, c in clo.items()}

    # ------------------------------------------------------------------ Earley core
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
        clo = self.clo
        pterms = self._pterms
        direct_terms = self.direct_terms
        direct_nts = self.direct_nts
        wait_on = self.wait_on
        q0 = self.q0w if after_word else self.q0
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
            if clo is None:  # closures too large to precompute: follow direct predictions
                if N is None:
                    N = set()
                elif y in N:
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
                return
            if N is None:
                N = set(clo[y])
            elif y in N:  # N is a union of closures, so clo[y] is in it already
                return
            else:
                N |= clo[y]
            nt = pterms[y] - pred_terms
            if nt:
                pred_terms.update(nt)
                for t in nt:
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
        pops = 0
        lim_items = self.limits.max_items_per_position
        while agenda:
            it = agenda.pop()
            pops += 1
            if not pops & 4095:
                if len(items) > lim_items:
                    raise LimitExceeded("max_items_per_position", lim_items,
                                        f"over {len(items)} Earley items at byte {pos}")
                if deadline is not None and time.perf_counter() > deadline:
                    raise LimitExceeded("mask_time_budget_s", self.limits.mask_time_budget_s,
                                        f"an Earley closure at byte {pos}")
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

    # ------------------------------------------------------------------ masks
    def _walk(self, vocab, L: tuple, starts: np.ndarray, dense: bool, vc: _VCache) -> _Walk:
        """Walk the subtrees below ``starts`` (the whole trie when ``dense``) with lexer state ``L``.
        Large walks with several states are the union of cached single-state walks (`_walk1`):
        the states are followed independently, so the marked tokens are the union of theirs, and
        a node is a completion node of ``L`` for the states accepting there. A single state only
        drops a completion node when nothing dies below it under that state, so some nodes that a
        walk of ``L`` drops (nothing dies below under all states together) are kept: their
        closures add only tokens allowed already. Contexts with different keywords then share the
        walks of their common states (identifiers, numbers after a space): O(k) cached rows OR-ed
        instead of a walk of O(alive nodes × k)."""
        t = vocab.trie
        nn = t.n_nodes
        if not dense:  # completion nodes lie in the starts' subtrees
            nn = min(nn, int(t.node_subtree[starts].sum()))
        if len(L) > 1 and nn >= _SPLIT_NODES:
            row = np.zeros(vocab.words, dtype=np.int32)
            skey = starts.tobytes()
            comp: dict = {}
            for j, g in enumerate(L):
                idx, val, cn = self._walk1(vocab, g, starts, skey, nn, vc)
                row[idx] |= val
                for c in cn:
                    lst = comp.get(c)
                    if lst is None:
                        comp[c] = [j]
                    else:
                        lst.append(j)
            cn = sorted(comp)
            srcs = [tuple(comp[c]) for c in cn]
        else:
            row, cn, srcs = self._walk_kernel(t, np.asarray(L, dtype=np.int32), starts, nn, vocab.words)
        groups: dict = {}
        word = self._word_list
        nb = t.node_byte
        for c, src in zip(cn, srcs):
            key = (word[nb[c]], src)
            lst = groups.get(key)
            if lst is None:
                groups[key] = [c]
            else:
                lst.append(c)
        gl = []
        subs = vc.subs
        for k, v in groups.items():
            arr = np.asarray(v, dtype=np.int32)
            key = arr.tobytes()
            sub = subs.get(key)
            if sub is None:
                sub = subs.setdefault(key, {})
            gl.append(_Group(k[1], k[0], arr, sub))
        gl = tuple(gl)
        if dense:
            return _Walk(row=row, groups=gl)
        idx = np.flatnonzero(row).astype(np.int64)
        return _Walk(idx=idx, val=row[idx], groups=gl)

    def _walk1(self, vocab, g: int, starts: np.ndarray, skey: bytes, nn: int, vc: _VCache,
               count: bool = True):
        """The cached walk below ``starts`` with the single DFA state ``g``: (word indices, their
        bits, completion nodes as a list). Counted as a lexer state when ``count`` (those made by
        `warm_single` are not: their number is fixed by the grammar and the trie)."""
        k = (skey, g)
        r = vc.single.get(k)
        if r is None:
            row, cn, _ = self._walk_kernel(vocab.trie, np.array([g], dtype=np.int32), starts, nn, vocab.words)
            idx = np.flatnonzero(row)
            r = (idx, row[idx], cn)
            with self._lock:
                if k not in vc.single:
                    if count:
                        self._count_lexer_state()
                    vc.single[k] = r
                r = vc.single[k]
        return r

    def _walk_kernel(self, t, lex: np.ndarray, starts: np.ndarray, nn: int, words: int):
        """One `walk_lexer` call: (dense row, completion nodes, per node the tuple of indices into
        ``lex`` of the states accepting there); ``nn`` bounds the nodes below ``starts``."""
        from ..native.grammar_kernels import walk_lexer

        row = np.zeros(words, dtype=np.int32)
        cap_src = max(min(4 * nn, nn * len(lex)), 1024)
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
        cn = cnode[:nc].tolist()
        cp = cptr[:nc + 1].tolist()
        cs = csrc[:ns].tolist()
        return row, cn, [tuple(cs[cp[c]:cp[c + 1]]) for c in range(nc)]

    def _count_lexer_state(self):
        self._n_lexer_states += 1
        if self._n_lexer_states > self.limits.max_lexer_states:
            raise LimitExceeded("max_lexer_states", self.limits.max_lexer_states,
                                "distinct lexer states met by this grammar's masks")

    def vcache(self, vocab) -> _VCache:
        """The caches of this engine for ``vocab`` (token walks depend on the vocabulary)."""
        vc = self._vcaches.get(id(vocab))
        if vc is None or vc.vocab is not vocab:
            with self._lock:
                vc = self._vcaches.get(id(vocab))
                if vc is None or vc.vocab is not vocab:
                    vc = self._vcaches[id(vocab)] = _VCache(vocab)
        return vc

    def warm_single(self, vocab, vc: _VCache) -> None:
        """Cache the single-state walks (`_walk1`) of every terminal's start states over the whole
        trie, and below each first-byte node with a large subtree (a leading space: a lexeme ending
        there starts new ones, ``after_word`` per that byte), so that the walks of lexer states made
        mostly of predicted terminals are unions of cached rows from the first mask on. Cost: one
        kernel walk per (start state, start node), about 4 ms for the SQLite grammar and SmolLM2."""
        t = vocab.trie
        if t.n_nodes < _SPLIT_NODES:
            return
        live = self._live_list
        word = self._word_list
        roots = [(0, sorted(set(self.q0) | set(self.q0w)))]
        for x in np.flatnonzero((t.node_depth == 1) & (t.node_subtree >= _SPLIT_NODES)).tolist():
            roots.append((x, sorted(set(self.q0w if word[t.node_byte[x]] else self.q0))))
        for x, states in roots:
            starts = np.array([x], dtype=np.int32)
            skey = starts.tobytes()
            nn = int(t.node_subtree[x])
            for g in states:
                if live[g]:
                    self._walk1(vocab, g, starts, skey, nn, vc, count=False)

    def root_walk(self, vocab, L: tuple, vc: _VCache | None = None) -> _Walk:
        """The cached walk of the whole trie with lexer state ``L`` (context-independent row)."""
        if vc is None:
            vc = self.vcache(vocab)
        w = vc.roots.get(L)
        if w is None:
            w = self._walk(vocab, L, np.zeros(1, dtype=np.int32), dense=True, vc=vc)
            with self._lock:
                if L not in vc.roots:
                    self._count_lexer_state()
                    vc.roots[L] = w
                w = vc.roots[L]
        return w

    # ------------------------------------------------------------------ signatures
    def sig(self, chart: list, i: int = -1) -> int:
        """A canonical id of ``chart[i]``'s *future*: two sets with the same id accept the same
        continuations (so have the same mask and the same ``accept``). The id interns the set's
        live items (scan items, waiting items, predicted nonterminals, accept) with every origin
        replaced by the id of the set there (the set itself by -1); ids are never reused (the
        intern table may be cleared, then equal content just gets a fresh id). Computed lazily,
        stored on the set; cost O(items of the sets not yet signed that ``chart[i]`` reaches)."""
        if i < 0:
            i += len(chart)
        E = chart[i]
        s = E._sig
        if s is not None:
            return s
        # sign, in increasing position order, the unsigned sets reachable through origins, and
        # the unsigned run just before i (so that the byte transitions between signatures are
        # recorded: `step` then signs sets on known paths for a dict lookup per byte)
        todo = [i]
        need = {i}
        j = i - 1
        while j >= 0 and chart[j]._sig is None:
            need.add(j)
            todo.append(j)
            j -= 1
        k = 0
        while k < len(todo):
            p = todo[k]
            k += 1
            for o in self._origins(chart[p]):
                if o != p and o not in need and chart[o]._sig is None:
                    need.add(o)
                    todo.append(o)
        tr = self._sig_trans
        for p in sorted(need):
            self._sign(chart, p)
            P = chart[p]
            if p > 0 and P._b >= 0:
                q = chart[p - 1]._sig
                if q is not None:
                    if len(tr) >= self.limits.max_signatures:
                        tr.clear()  # ids are never reused, so every entry stays true; just bounded
                    tr[(q << 8) | P._b] = P._sig
        return E._sig

    @staticmethod
    def _origins(E: ESet):
        out = {o for _, o in E.scan}
        if E.waiting:
            for lst in E.waiting.values():
                for _, o in lst:
                    out.add(o)
        return out

    def _sign(self, chart: list, p: int) -> None:
        chart[p]._sig = self._future_id(chart[p], chart)

    def _future_id(self, E: ESet, chart: list) -> int | None:
        """The interned id of ``E``'s future: its items with every origin replaced by the
        signature of the chart set there (``E``'s own position by -1). ``E`` is ``chart[E.pos]``
        or a virtual set after the chart. None when a set at an origin is not signed yet."""
        p = E.pos
        cache: dict = {}

        def m(o):
            if o == p:
                return -1
            r = cache.get(o)
            if r is None:
                r = cache[o] = chart[o]._sig
                if r is None:
                    raise _Unsigned
            return r

        try:
            scan = frozenset((g, m(o)) for g, o in E.scan)
            if E.waiting:
                wt = frozenset((dr, m(o)) for lst in E.waiting.values() for dr, o in lst)
            else:
                wt = None
        except _Unsigned:
            return None
        key = (scan, wt, frozenset(E.N) if E.N else None, E.accept)
        tab = self._sig_table
        s = tab.get(key)
        if s is None:
            with self._lock:
                s = tab.get(key)
                if s is None:
                    if len(tab) >= self.limits.max_signatures:
                        tab.clear()
                    self._sig_next += 1
                    s = tab[key] = self._sig_next
        return s

    # ------------------------------------------------------------------ masks
    def fill_row(self, vocab, chart: list, row: np.ndarray, deadline: float,
                 vc: _VCache | None = None) -> None:
        """Write into ``row`` (int32 words, zeroed here) the tokens whose bytes keep ``chart``
        alive (EOS bits are the caller's). Cost: one cached root walk + per completion group
        (accepting lexemes at any depth of the token) one parser closure and a cached subtree
        walk, recursively for lexemes ending further inside the token.

        The sets made for lexemes ending inside a token are put at *virtual* positions
        ``len(chart)``, ``len(chart) + 1``, ... (one per nesting level): the parser only compares
        positions, so where in the token a lexeme ends does not matter."""
        if vc is None:
            vc = self.vcache(vocab)
        E = chart[-1]
        L, origins = E.lex()
        if not L:
            row[:] = 0
            return
        root = self.root_walk(vocab, L, vc)
        row[:] = root.row
        if not root.groups:
            if time.perf_counter() > deadline:
                raise LimitExceeded("mask_time_budget_s", self.limits.mask_time_budget_s,
                                    f"computing one mask at byte {len(chart) - 1}")
            return
        term_of = self._term_of_list
        n0 = len(chart)
        chain: list = []
        tm = self._tm
        if len(tm.ids) > self.limits.max_signatures:
            with self._lock:  # a fresh table (a concurrent mask keeps the old one); ids go on
                tm = self._tm = _Templates(tm.n)
                vc.contrib.clear()

        def lookup(p):
            if p < n0:
                return chart[p]
            S = chain[p - n0]
            return S if S.scan is not None else tm.materialize(S)

        for grp in root.groups:
            comps = [(term_of[L[j]], o) for j in grp.srcs for o in origins[j]]
            S = self.close(n0, [], comps, lookup, after_word=grp.after_word, deadline=deadline)
            if not S.scan:
                continue
            # what the group adds is a function of (its nodes, S's future): cached across masks
            fid = self._future_id(S, chart)
            ck = (id(grp.sub), -fid) if fid is not None else None  # template ids are > 0
            hit = vc.contrib.get(ck) if ck is not None else None
            if hit is not None:
                if len(hit[0]):
                    row[hit[0]] |= hit[1]
                continue
            part = np.zeros_like(row)
            chain.append(S)
            self._sub(vocab, vc, grp, S, lookup, chain, part, deadline, n0, tm)
            chain.pop()
            idx = np.flatnonzero(part)
            val = part[idx]
            row[idx] |= val
            if ck is not None:
                with self._lock:
                    if vc.reserve(idx.nbytes + val.nbytes + 64, self.limits.mask_cache_bytes):
                        vc.contrib[ck] = (idx, val)
        if time.perf_counter() > deadline:
            raise LimitExceeded("mask_time_budget_s", self.limits.mask_time_budget_s,
                                f"computing one mask at byte {n0 - 1}")

    def _sub(self, vocab, vc, grp: _Group, S: ESet, lookup, chain, row, deadline, n0, tm) -> bool:
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
        w = grp.sub.get(L2)
        if w is None:
            w = self._walk(vocab, L2, grp.nodes, dense=False, vc=vc)
            with self._lock:
                if L2 not in grp.sub:
                    self._count_lexer_state()
                    grp.sub[L2] = w
        if len(w.idx):
            row[w.idx] |= w.val
        pure = True
        if w.groups:
            if time.perf_counter() > deadline:
                raise LimitExceeded("mask_time_budget_s", self.limits.mask_time_budget_s,
                                    "computing one mask")
            term_of = self._term_of_list
            pos = S.pos
            for g2 in w.groups:
                terms = frozenset([term_of[L2[j]] for j in g2.srcs])
                aw = g2.after_word
                ctid = tm.next.get((tid, terms, aw)) if tid is not None else None
                if ctid is not None:
                    if not tm.lex[ctid]:
                        continue
                    S2 = tm.lazy(ctid, pos + 1)  # its content is made only if a closure reads it
                else:
                    reads = set()

                    def lk(o, reads=reads):
                        reads.add(o)
                        return lookup(o)

                    S2 = self.close(pos + 1, [], [(t, pos) for t in terms], lk, after_word=aw,
                                    deadline=deadline)
                    if reads <= {pos}:  # S2 is a function of S's content, terms and aw only
                        with self._lock:  # ids are handed out under the lock (threads)
                            ctid = tm.intern(S2, n0)
                        if tid is not None and ctid is not None:
                            tm.next[(tid, terms, aw)] = ctid
                    else:
                        pure = False
                if S2.scan is None or S2.scan:
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


class _Unsigned(Exception):
    """A set at an origin has no signature yet (`Engine._future_id`)."""


class _Templates:
    """Memo of parser closures along lexemes ending deeper and deeper inside one token (e.g. a
    token of 64 unary minus signs: 64 nested closures). A virtual set (made during a mask) whose
    closure read only its parent set, and whose items reference only virtual sets (not the
    chart), is interned by its *relative* content (origins as offsets from its own position);
    its id is kept in the set's ``_tmpl`` slot. Completing the same terminals from a set of the
    same template gives a set of the same relative content: it is relocated instead of computed
    (lazily: only when a closure reads it). Engine-wide (vocabulary independent); ids are never
    reused (a fresh table replaces this one when it grows over ``GrammarLimits.max_signatures``)."""

    __slots__ = ("ids", "store", "next", "lex", "n")

    def __init__(self, n: int = 0):
        self.ids: dict = {}
        self.store: dict = {}
        self.next: dict = {}  # (template id, terminals completed, after_word) -> template id
        self.lex: dict = {}  # template id -> its lexer state
        self.n = n  # last id given (a fresh table goes on from the old one's)

    def intern(self, S: ESet, n0: int) -> int | None:
        """The template id of virtual set ``S`` (virtual positions start at ``n0``), or None when
        an item of ``S`` has its origin in the chart."""
        p = S.pos
        for _, o in S.scan:
            if o < n0:
                return None
        if S.waiting:
            for lst in S.waiting.values():
                for _, o in lst:
                    if o < n0:
                        return None
        scan = tuple(sorted({(g, o - p) for g, o in S.scan}))
        wt = tuple(sorted((sym, tuple(sorted({(dr, o - p) for dr, o in lst})))
                          for sym, lst in S.waiting.items())) if S.waiting else ()
        N = frozenset(S.N) if S.N else None
        key = (scan, wt, N, S.accept)
        tid = self.ids.get(key)
        if tid is None:
            self.n += 1
            tid = self.ids.setdefault(key, self.n)
            self.store[tid] = (scan, wt, N, S.accept, S.n_items - len(S.scan))
            self.lex[tid] = tuple(sorted({g for g, _ in S.scan}))
        S._tmpl = tid
        return tid

    def lazy(self, tid: int, q: int) -> ESet:
        """A set of template ``tid`` at position ``q``, its content left to `materialize`."""
        E = ESet.__new__(ESet)
        E.pos = q
        E.scan = None
        E._lex = E._sig = None
        E._b = -1
        E._tmpl = tid
        return E

    def materialize(self, E: ESet) -> ESet:
        scan, wt, N, accept, n = self.store[E._tmpl]
        q = E.pos

        E.waiting = {sym: [(dr, q + r) for dr, r in lst] for sym, lst in wt} if wt else None
        E.scan = [(g, q + r) for g, r in scan]
        E.N = N
        E.accept = accept
        E.n_items = n + len(scan)
        return E
