"""``Grammar``: a context-free grammar constraint (Lark or GBNF text, or the IR directly).

Compilation: text → `constrain.grammar.ir.CFG` (front end) → `engine.Engine` (terminal byte DFAs,
Earley tables; vocabulary independent, built once per `Grammar`) → `CompiledGrammar` against a
vocabulary (shares the engine and its per-lexer-state token-walk caches). Each sequence gets a
`GrammarMatcher`: a byte-level Earley chart (one immutable set per byte) plus a token history, so
``rollback`` is truncation and ``fork`` a list copy.
"""

from __future__ import annotations

import time

import numpy as np

from ..bitmask import set_token_bits
from ..errors import TokenRejected
from ..matcher import (_LAST_CHECKED, CompiledConstraint, Completable, Constraint, Matcher,
                       as_numpy_bitmask, as_token_id, checked_bitmask_row)
from ..vocab import Vocabulary
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
        e = self.engine
        lim = e.limits
        chart = [e.initial()]
        if data:
            out = e.feed(chart, data, time.perf_counter() + lim.parse_time_budget_s,
                         lim.max_items_total - chart[0].n_items,
                         ("parse_time_budget_s", lim.parse_time_budget_s))
            if out is None:
                return False
            chart.extend(out)
        return bool(chart[-1].accept)


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
        self._initial = self.engine.initial()
        self._vc = self.engine.vcache(vocab)
        self.engine.warm_single(vocab, self._vc)
        L, _ = self._initial.lex()
        if L:
            self.engine.root_walk(vocab, L, self._vc)
        eos_row = np.zeros(vocab.words, dtype=np.int32)
        self._set_eos(eos_row)
        self._eos_row = eos_row
        self._eos_row.flags.writeable = False

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
        tensor. ``threads > 1`` spreads the rows over a thread pool: the compiled grammar's caches
        are shared under a lock, masks on known signatures are row copies and the token-trie walks
        run in numba without the GIL, but Earley closures run in Python and hold it, so rows that
        miss the caches scale little today (see ``benchmarks/bench_grammar_threads.py``).
        Raises as `GrammarMatcher.fill_mask` (the first error is re-raised)."""
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
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(threads, len(ms))) as ex:
            for f in [ex.submit(m.fill_mask, bm, r) for m, r in zip(ms, rr)]:
                f.result()

    def _mask_of(self, chart: list, deadline: float) -> np.ndarray:
        """The (read-only, shared) mask row of ``chart``'s last position, EOS bits included:
        from the per-signature cache, else computed and cached."""
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
        if chart[-1].accept:
            r |= self._eos_row
        r.flags.writeable = False
        with e._lock:
            if sig not in vc.masks and vc.reserve(r.nbytes, e.limits.mask_cache_bytes):
                vc.masks[sig] = r
        return r


class GrammarMatcher(Matcher):
    """Per-sequence grammar state: the byte-level Earley chart and a token history.

    Costs: ``advance`` / ``allows`` feed the token's bytes (a scan step per byte, an Earley closure
    where a lexeme may end); ``allows`` first tests the mask of this position if cached (masks are
    cached per chart signature, `engine.Engine.sig`, shared by all matchers of the compiled
    grammar) or the context-independent row of the current lexer state. ``fill_mask``: a cached
    mask copy, else `engine.Engine.fill_row`. ``fork``: O(bytes so far) list copy. ``rollback``: truncation.
    """

    byte_prefix_closed = True
    validates_arguments = True  # inline: a type test per token id, `_LAST_CHECKED` per bitmask

    __slots__ = ("_c", "_chart", "_hist", "_done", "_mask", "_total", "_fed", "vocab")

    def __init__(self, compiled: CompiledGrammar, chart=None, hist=None, done=None, total=None):
        self._c = compiled
        self.vocab = compiled.vocab
        self._chart = chart if chart is not None else [compiled._initial]
        # per token: (chart length before, done before, chart items before)
        self._hist = hist if hist is not None else []
        self._done = bool(done)
        self._total = total if total is not None else self._chart[0].n_items
        self._mask = None  # (num_tokens, row) of the last fill_mask
        self._fed = None  # (last set, token id, sets after it) of the last `allows` that fed bytes

    @property
    def num_tokens(self) -> int:
        return len(self._hist)

    def _deadline(self) -> float:
        return time.perf_counter() + self._c.engine.limits.mask_time_budget_s

    def _feed(self, token_id: int):
        """The sets after ``token_id``'s bytes (None when rejected); `LimitExceeded` past the
        time budget or ``max_items_total``."""
        c = self._c
        if not 0 <= token_id < c.vocab.size:
            return None
        data = c._token_bytes[token_id]
        if not data:
            return None
        lim = c.engine.limits
        return c.engine.feed(self._chart, data, self._deadline(), lim.max_items_total - self._total)

    def allows(self, token_id: int) -> bool:
        if type(token_id) is not int:
            token_id = as_token_id(token_id)
        c = self._c
        if self._done:
            return token_id in c._eos
        if token_id in c._eos:
            return bool(self._chart[-1].accept)
        if not 0 <= token_id < c.vocab.size:
            return False
        m = self._mask
        if m is not None and m[0] == len(self._hist):
            return bool((int(m[1][token_id >> 5]) >> (token_id & 31)) & 1)
        chart = self._chart
        E = chart[-1]
        # a cached mask when this set's signature is known already (signing it is fill_mask's job)
        r = c._vc.masks.get(E._sig) if E._sig is not None else None
        if r is not None:
            self._mask = (len(self._hist), r)
            return bool((int(r[token_id >> 5]) >> (token_id & 31)) & 1)
        w = c._vc.roots.get(E.lex()[0])
        if w is not None and (int(w.row[token_id >> 5]) >> (token_id & 31)) & 1:
            return True
        out = self._feed(token_id)
        if out is None:
            return False
        self._fed = (E, token_id, out)  # `advance(token_id)` next (AWRS) reuses the sets
        return True

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
        if self._done or token_id in c._eos:
            if (token_id in c._eos) and (self._done or self._chart[-1].accept):
                self._hist.append((len(self._chart), self._done, self._total))
                self._done = True
                return
            raise TokenRejected(f"token {token_id} is not allowed "
                                + ("after end of sequence" if self._done else
                                   "(EOS before the output is a complete sentence)"))
        fed = self._fed
        if fed is not None and fed[0] is self._chart[-1] and fed[1] == token_id:
            out = fed[2]  # the same set and token as the last `allows`: the same sets follow
        else:
            out = self._feed(token_id)
        self._fed = None
        if out is None:
            tb = c._token_bytes[token_id] if 0 <= token_id < c.vocab.size else None
            raise TokenRejected(f"token {token_id} ({tb!r}) is not allowed by the grammar after "
                                f"{self.num_tokens} tokens")
        total = self._total + sum(s.n_items for s in out)  # within max_items_total (feed checks)
        self._hist.append((len(self._chart), False, self._total))
        self._chart.extend(out)
        self._total = total

    def rollback(self, n: int = 1) -> None:
        if n < 0 or n > len(self._hist):
            raise ValueError(f"cannot roll back {n} tokens: {len(self._hist)} consumed")
        if n == 0:
            return
        ln, done, total = self._hist[-n]
        del self._hist[-n:]
        del self._chart[ln:]
        self._done = done
        self._total = total
        self._mask = None

    def fork(self) -> "GrammarMatcher":
        return GrammarMatcher(self._c, self._chart.copy(), self._hist.copy(), self._done, self._total)

    def forced_bytes(self, max_bytes: int = 256) -> bytes:
        """Feed, on a copy of the chart, while exactly one byte keeps the parse alive and the
        sentence is not complete; candidate bytes come from the scan items' DFA rows."""
        if self._done:
            return b""
        e = self._c.engine
        chart = self._chart.copy()
        out = bytearray()
        deadline = self._deadline()
        while len(out) < max_bytes and not chart[-1].accept:
            L = chart[-1].lex()[0]
            if not L:
                break
            cands = np.flatnonzero((e.trans[list(L)] >= 0).any(axis=0)).tolist()
            alive = [(b, nxt) for b in cands
                     if (nxt := e.feed(chart, bytes((b,)), deadline)) is not None]
            if len(alive) != 1:
                break
            out.append(alive[0][0])
            chart.extend(alive[0][1])
        return bytes(out)

    def is_accepting(self) -> bool:
        return self._done or bool(self._chart[-1].accept)

    def is_terminated(self) -> bool:
        if self._done:
            return True
        E = self._chart[-1]
        return bool(E.accept) and not E.scan
