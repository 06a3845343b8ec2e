"""``Grammar``: a context-free grammar constraint (Lark or GBNF text, or the IR directly).

Compilation: text → `constrain.grammar.ir.CFG` (front end) → `engine.Engine` (terminal byte DFAs,
Earley tables; vocabulary independent, built once per `Grammar`) → `CompiledGrammar` against a
vocabulary (shares the engine and its per-lexer-state token-walk caches). Each sequence gets a
`GrammarMatcher`: a byte-level Earley chart (`chart.Chart`: flat arrays fed by the numba core)
plus a token history, so ``rollback`` is truncation and ``fork`` an array copy.
"""

from __future__ import annotations

import time

import numpy as np

from ..bitmask import set_token_bits
from ..errors import TokenRejected
from ..matcher import (_LAST_CHECKED, CompiledConstraint, Completable, Constraint, Matcher,
                       as_numpy_bitmask, as_token_id, checked_bitmask_row)
from ..vocab import Vocabulary
from .chart import Chart
from .engine import Engine, GrammarLimits
from .ir import CFG

__all__ = ["Grammar", "GrammarLimits", "CompiledGrammar", "GrammarMatcher"]


class Grammar(Completable, Constraint):
    """A context-free grammar constraint: the output must be a sentence of the grammar.

    Parameters
    ----------
    text : str
        Lark grammar text (converted by `constrain.grammar.lark_frontend.lark_to_cfg`).
    start : str
        Start rule.
    limits : GrammarLimits, optional
        Bounds on DFA states, lexer states, chart size and per-mask time.
    allow_unreachable : bool
        Drop rules and terminals the start rule cannot reach (stock Lark's behaviour) instead of
        raising `InvalidSyntax` at their definition (the default, which catches misspelt names).

    Notes
    -----
    Lexing follows the IR's semantics: every split of the output into lexemes is considered
    (lark Earley ``lexer="dynamic_complete"``), ignored terminals may occur between lexemes and at
    both ends. Any CFG is supported (ambiguous, left-recursive, non-LALR, overlapping terminals).

    Raises
    ------
    InvalidSyntax, UnsupportedFeature, LimitExceeded
        At construction (the grammar is parsed and its engine tables are built here).
    """

    def __init__(self, text: str, start: str = "start", *, limits: GrammarLimits | None = None,
                 allow_unreachable: bool = False):
        from .lark_frontend import lark_to_cfg  # lazy: the front end is a separate module

        if not isinstance(text, str):
            raise TypeError(f"Grammar takes Lark text (a str), not {type(text).__name__}; "
                            "use Grammar.from_cfg for a CFG and Grammar.load for a shipped grammar")
        if not isinstance(start, str):
            raise TypeError(f"start must be a rule name (a str), not {type(start).__name__}")
        self.text = text
        self.start = start
        self.limits = limits or GrammarLimits()
        self.cfg: CFG = lark_to_cfg(text, start, allow_unreachable=allow_unreachable)
        self.engine = Engine(self.cfg, self.limits)

    @classmethod
    def from_cfg(cls, cfg: CFG, *, limits: GrammarLimits | None = None) -> "Grammar":
        """A grammar from the IR directly (no text)."""
        self = cls.__new__(cls)
        self.text = None
        self.start = cfg.start
        self.limits = limits or GrammarLimits()
        self.cfg = cfg
        self.engine = Engine(cfg, self.limits)
        return self

    @classmethod
    def from_gbnf(cls, text: str, *, limits: GrammarLimits | None = None,
                  allow_unreachable: bool = False) -> "Grammar":
        """A grammar from llama.cpp GBNF text (start rule ``root``); ``allow_unreachable`` as for
        Lark text."""
        from .gbnf import gbnf_to_cfg

        g = cls.from_cfg(gbnf_to_cfg(text, allow_unreachable=allow_unreachable), limits=limits)
        g.text = text
        return g

    @classmethod
    def load(cls, name: str, *, limits: GrammarLimits | None = None) -> "Grammar":
        """A grammar shipped in ``grammars/`` (see `constrain.grammar.loader.load`)."""
        from . import loader

        obj = loader.load(name)
        if isinstance(obj, Grammar):
            return obj
        if isinstance(obj, CFG):
            return cls.from_cfg(obj, limits=limits)
        if isinstance(obj, str):
            return cls(obj, limits=limits)
        raise TypeError(f"loader.load({name!r}) returned {type(obj).__name__}")

    def __repr__(self) -> str:
        return f"Grammar(start={self.start!r}, rules={len(self.cfg.rules)}, terminals={len(self.cfg.terminals)})"

    def cache_key(self) -> tuple:
        if self.text is not None:
            return ("text", self.text, self.start, self.limits)
        return ("cfg", id(self.cfg), self.limits)

    def _compile(self, vocab: Vocabulary) -> "CompiledGrammar":
        return CompiledGrammar(self, vocab)

    def accepts(self, text: str | bytes) -> bool:
        """Whether ``text`` (UTF-8 when str) is a sentence of the grammar (no vocabulary needed)."""
        data = text.encode() if isinstance(text, str) else bytes(text)
        lim = self.limits
        chart = Chart.initial(self.engine)
        if data and not chart.feed(data, lim.max_items_total,
                                   time.perf_counter() + lim.parse_time_budget_s,
                                   ("parse_time_budget_s", lim.parse_time_budget_s)):
            return False
        return chart.accept_at(len(chart) - 1)


class CompiledGrammar(Completable, CompiledConstraint):
    """A `Grammar` against a vocabulary. Thread-safe; caches token walks per lexer state.

    Compile cost: the token trie (cached by the vocabulary) and the walk for the initial lexer
    state (the first mask's context-independent row); the terminals' single-state walks are
    registered here and made on first use (`walks.Walker.warm_single`).
    """

    def __init__(self, grammar: Grammar, vocab: Vocabulary):
        self.grammar = grammar
        self.engine: Engine = grammar.engine
        self.vocab = vocab
        self._eos = frozenset(int(e) for e in vocab.eos_ids)
        self._eos_ids = [int(e) for e in vocab.eos_ids]
        self._token_bytes = vocab.token_bytes
        self._flat, self._off = vocab.byte_table
        self._vc = self.engine.vcache(vocab)
        self.engine.warm_single(vocab, self._vc)
        L = Chart.initial(self.engine).lex_at(0)
        if L:
            self.engine.root_walk(vocab, L, self._vc)
        eos_row = np.zeros(vocab.words, dtype=np.int32)
        self._set_eos(eos_row)
        self._eos_row = eos_row
        self._eos_row.flags.writeable = False

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        del state["_flat"], state["_off"]  # the vocabulary's read-only table, rebuilt on load
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._flat, self._off = self.vocab.byte_table

    def _set_eos(self, row: np.ndarray) -> None:
        set_token_bits(row, self._eos_ids)

    def memory_bytes(self) -> int:
        """Approximate bytes held by the terminal DFAs and the cached token walks."""
        e = self.engine
        n = e.trans.nbytes + e.acc.nbytes + self._vc.mask_bytes
        n += sum(idx.nbytes + val.nbytes + 8 * len(cn) for idx, val, cn in list(self._vc.single.values()))
        stack = list(self._vc.roots.values())
        seen = set()
        while stack:
            w = stack.pop()
            if id(w) in seen:  # sub-walks are shared between groups with the same nodes
                continue
            seen.add(id(w))
            n += (w.row.nbytes if w.row is not None else 0) + (w.idx.nbytes + w.val.nbytes if w.idx is not None else 0)
            for g in w.groups:
                n += g.nodes.nbytes
                stack.extend(g.sub.values())
        return int(n)

    def matcher(self) -> "GrammarMatcher":
        return GrammarMatcher(self)

    def fill_masks(self, matchers, bitmask, rows=None, *, threads: int = 1) -> None:
        """Write each matcher's mask into ``bitmask`` rows ``rows`` (default 0..R-1); the matchers
        must belong to this compiled grammar. ``bitmask``: int32 ``[*, words]`` numpy array or CPU
        tensor. Raises as `GrammarMatcher.fill_mask` (the first error is re-raised).

        ``threads > 1``: rows whose mask is known (after EOS, memo, per-signature cache) are
        copied first on the calling thread; the other matchers are grouped by the signature of
        their last position (equal signatures, equal masks) and each distinct mask is computed
        once, on a pool of ``threads`` threads: first one signature per lexer state (their root
        trie walks, the costly part, run in parallel: the kernels release the GIL), then the
        rest, split evenly. The per-group bookkeeping of a mask miss is Python and holds the GIL:
        today cold batches run slower on 2 threads than on 1 (0.6-0.7x), warm ones at 1.1-1.4x
        (``benchmarks/bench_grammar_threads.py``, docs/grammar-engine.md)."""
        bm = bitmask if type(bitmask) is np.ndarray else as_numpy_bitmask(bitmask)
        ms = list(matchers)
        for m in ms:
            if not isinstance(m, GrammarMatcher) or m._c is not self:
                raise TypeError("fill_masks takes matchers of this CompiledGrammar")
        rr = list(range(len(ms))) if rows is None else [int(r) for r in rows]
        if len(rr) != len(ms):
            raise ValueError(f"{len(ms)} matchers but {len(rr)} rows")
        if threads <= 1 or len(ms) < 2:
            for m, r in zip(ms, rr):
                m.fill_mask(bm, r)
            return
        words = self.vocab.words
        for r in {min(rr), max(rr)}:  # typed errors (type, shape, row range)
            checked_bitmask_row(bm, r, words)
        if bm.shape[1] > words:  # ids past the vocabulary are never allowed
            bm[rr, words:] = 0
            bm = bm[:, :words]
        misses: dict = {}  # signature -> indices of the matchers there
        for k, m in enumerate(ms):
            r = m._row_if_known()
            if r is not None:
                bm[rr[k]] = r
            else:
                misses.setdefault(self.engine.sig(m._chart), []).append(k)
        if not misses:
            return
        firsts: dict = {}  # lexer state -> its first signature's matchers
        rest = []
        for ks in misses.values():
            ch = ms[ks[0]]._chart
            lex = ch.lex_at(ch.n - 1)
            if lex in firsts:
                rest.append(ks)
            else:
                firsts[lex] = ks

        def fill(groups: list) -> None:
            for ks in groups:
                lead = ms[ks[0]]
                lead.fill_mask(bm, rr[ks[0]])
                r = lead._mask[1]
                for k in ks[1:]:
                    ms[k]._mask = (len(ms[k]._hist), r)
                    bm[rr[k]] = r

        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=threads) as ex:
            for phase in (list(firsts.values()), rest):
                w = min(threads, len(phase))
                if w <= 1:
                    fill(phase)
                    continue
                cuts = [len(phase) * i // w for i in range(w + 1)]
                for f in [ex.submit(fill, phase[cuts[i]:cuts[i + 1]]) for i in range(w)]:
                    f.result()

    def _mask_of(self, chart: Chart, deadline: float) -> np.ndarray:
        """The (read-only, shared) mask row of ``chart``'s last position, EOS bits included:
        from the per-signature cache, else computed and cached (writing virtual positions past
        `Chart.virtual_start`: `masks.MaskBuilder`)."""
        e = self.engine
        vc = self._vc
        sig = e.sig(chart)
        r = vc.masks.get(sig)
        if r is not None:
            vc.hits += 1
            return r
        vc.misses += 1
        r = np.empty(self.vocab.words, dtype=np.int32)
        e.fill_row(self.vocab, chart, r, deadline, vc)
        if chart.accept_at(chart.n - 1):
            r |= self._eos_row
        r.flags.writeable = False
        with e._lock:
            if sig not in vc.masks and vc.reserve(r.nbytes, e.limits.mask_cache_bytes):
                vc.masks[sig] = r
        return r


class GrammarMatcher(Matcher):
    """Per-sequence grammar state: the byte-level Earley chart (`chart.Chart`, flat arrays fed by
    the numba core) and a token history.

    Costs: ``advance`` / ``allows`` feed the token's bytes in one kernel call (a scan step per
    byte, an Earley closure where a lexeme may end); ``allows`` first tests the mask of this
    position if cached (masks are cached per chart signature, `engine.Engine.sig`, shared by all
    matchers of the compiled grammar) or the context-independent row of the current lexer state.
    ``fill_mask``: a cached mask copy, else `engine.Engine.fill_row`. ``fork``: copies the
    chart's arrays. ``rollback``: truncation.
    """

    byte_prefix_closed = True
    validates_arguments = True  # inline: a type test per token id, `_LAST_CHECKED` per bitmask

    __slots__ = ("_c", "_chart", "_hist", "_done", "_mask", "_fed", "vocab")

    def __init__(self, compiled: CompiledGrammar, chart: Chart | None = None, hist=None, done=None):
        self._c = compiled
        self.vocab = compiled.vocab
        self._chart = chart if chart is not None else Chart.initial(compiled.engine)
        # per token: (chart length before, done before, chart items before)
        self._hist = hist if hist is not None else []
        self._done = bool(done)
        self._mask = None  # (num_tokens, row) of the last fill_mask
        # (length, items, token id, length after, items after) of the last `allows` that fed
        # bytes: its positions stay in the chart's arrays past its length, kept by `advance`
        self._fed = None

    @property
    def num_tokens(self) -> int:
        return len(self._hist)

    def _deadline(self) -> float:
        return time.perf_counter() + self._c.engine.limits.mask_time_budget_s

    def _feed(self, token_id: int) -> bool:
        """Append the positions of ``token_id``'s bytes to the chart (False, chart unchanged,
        when rejected); `LimitExceeded` past the time budget or ``max_items_total``."""
        c = self._c
        if not 0 <= token_id < c.vocab.size:
            return False
        off = c._off
        lo, hi = off[token_id], off[token_id + 1]
        if lo == hi:
            return False
        self._fed = None
        return self._chart.feed(c._flat[lo:hi], c.engine.limits.max_items_total, self._deadline())

    def allows(self, token_id: int) -> bool:
        if type(token_id) is not int:
            token_id = as_token_id(token_id)
        c = self._c
        chart = self._chart
        if self._done:
            return token_id in c._eos
        n = chart.n
        if token_id in c._eos:
            return chart.accept_at(n - 1)
        if not 0 <= token_id < c.vocab.size:
            return False
        m = self._mask
        if m is not None and m[0] == len(self._hist):
            return bool((int(m[1][token_id >> 5]) >> (token_id & 31)) & 1)
        # a cached mask when this set's signature is known already (signing it is fill_mask's job)
        s = chart.sig_at(n - 1)
        r = c._vc.masks.get(s) if s is not None else None
        if r is not None:
            self._mask = (len(self._hist), r)
            return bool((int(r[token_id >> 5]) >> (token_id & 31)) & 1)
        w = c._vc.roots.get(chart.lex_at(n - 1))
        if w is not None and (int(w.row[token_id >> 5]) >> (token_id & 31)) & 1:
            return True
        total = chart.total
        if not self._feed(token_id):
            return False
        # `advance(token_id)` next (AWRS) takes these positions back instead of feeding again
        self._fed = (n, total, token_id, chart.n, chart.total)
        chart.truncate(n, total, keep=self._fed[3])  # masks write virtual positions after these
        return True

    def _row_if_known(self) -> np.ndarray | None:
        """The mask row when it costs no mask computation (after EOS, this position's memo, the
        per-signature cache: signs the last position), else None."""
        c = self._c
        if self._done:
            return c._eos_row
        m = self._mask
        if m is not None and m[0] == len(self._hist):
            return m[1]
        r = c._vc.masks.get(c.engine.sig(self._chart))
        if r is not None:
            c._vc.hits += 1
            self._mask = (len(self._hist), r)
        return r

    def fill_mask(self, bitmask, row: int = 0) -> None:
        c = self._c
        last = _LAST_CHECKED[0]
        if bitmask is not last[0] or type(row) is not int or not 0 <= row < last[1] \
                or last[2] != c.vocab.words:
            bitmask, row = checked_bitmask_row(bitmask, row, c.vocab.words)
        if type(bitmask) is not np.ndarray:
            bitmask = as_numpy_bitmask(bitmask)
        if self._done:
            bitmask[row] = c._eos_row
            return
        m = self._mask
        if m is not None and m[0] == len(self._hist):
            r = m[1]
        else:
            r = c._mask_of(self._chart, self._deadline())
            self._mask = (len(self._hist), r)
        bitmask[row] = r

    def advance(self, token_id: int) -> None:
        if type(token_id) is not int:
            token_id = as_token_id(token_id)
        c = self._c
        chart = self._chart
        n, total = chart.n, chart.total
        if self._done or token_id in c._eos:
            if (token_id in c._eos) and (self._done or chart.accept_at(n - 1)):
                self._hist.append((n, self._done, total))
                self._done = True
                return
            raise TokenRejected(f"token {token_id} is not allowed "
                                + ("after end of sequence" if self._done else
                                   "(EOS before the output is a complete sentence)"))
        fed = self._fed
        if fed is not None and fed[0] == n and fed[2] == token_id:
            chart.restore(fed[3], fed[4])  # the same position and token as the last `allows`
            ok = True
        else:
            ok = self._feed(token_id)
        self._fed = None
        if not ok:
            tb = c._token_bytes[token_id] if 0 <= token_id < c.vocab.size else None
            raise TokenRejected(f"token {token_id} ({tb!r}) is not allowed by the grammar after "
                                f"{self.num_tokens} tokens")
        self._hist.append((n, False, total))

    def rollback(self, n: int = 1) -> None:
        if n < 0 or n > len(self._hist):
            raise ValueError(f"cannot roll back {n} tokens: {len(self._hist)} consumed")
        if n == 0:
            return
        ln, done, total = self._hist[-n]
        del self._hist[-n:]
        self._chart.truncate(ln, total)
        self._done = done
        self._mask = None
        self._fed = None

    def fork(self) -> "GrammarMatcher":
        return GrammarMatcher(self._c, self._chart.copy(), self._hist.copy(), self._done)

    def forced_bytes(self, max_bytes: int = 256) -> bytes:
        """Feed, on a copy of the chart, while exactly one byte keeps the parse alive and the
        sentence is not complete; candidate bytes come from the scan items' DFA rows."""
        if self._done:
            return b""
        e = self._c.engine
        chart = self._chart.copy()
        out = bytearray()
        deadline = self._deadline()
        while len(out) < max_bytes and not chart.accept_at(chart.n - 1):
            L = chart.lex_at(chart.n - 1)
            if not L:
                break
            n, total = chart.n, chart.total
            alive = []
            for b in np.flatnonzero((e.trans[list(L)] >= 0).any(axis=0)).tolist():
                if chart.feed(bytes((b,)), e.limits.max_items_total, deadline):
                    alive.append(b)
                    chart.truncate(n, total)
                    if len(alive) > 1:
                        break
            if len(alive) != 1:
                break
            out.append(alive[0])
            chart.feed(bytes(alive), e.limits.max_items_total, deadline)
        return bytes(out)

    def is_accepting(self) -> bool:
        return self._done or self._chart.accept_at(self._chart.n - 1)

    def is_terminated(self) -> bool:
        if self._done:
            return True
        chart = self._chart
        p = chart.n - 1
        return chart.accept_at(p) and not chart.n_scan(p)
