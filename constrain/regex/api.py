"""``Regex``: a regular-expression constraint with ``re.fullmatch`` semantics over UTF-8 bytes.

Compilation: pattern → minimal byte DFA (`automata`) → token index against a `Vocabulary`: for each
DFA state, a bitmask row of the tokens whose bytes the DFA can read without dying (numba walk of
the flat token trie, `constrain.native.dfa_index`). Rows are built per state on first visit
(``eager=False``), or all at compile time (``eager=True``); the default builds them eagerly for
small DFAs and, for larger ones, builds the start row at compile time and the others on a
background thread (the numba kernel releases the GIL), while a state reached before its row is
ready builds it on the spot. A mask is then one row copy (~1,500 words at 49k tokens).
"""

from __future__ import annotations

import atexit
import dataclasses
import functools
import operator
import re
import threading
import time
import weakref

import numpy as np

from ..bitmask import set_token_bits
from ..errors import InvalidSyntax, TokenRejected
from ..matcher import (CompiledConstraint, Completable, Constraint, StateStackMatcher,
                       as_token_id, check_bitmask_row)
from ..native import dfa_index
from ..vocab import Vocabulary
from .automata import ByteDFA, RegexLimits, build_dfa
from .literal import alternatives_dfa, chain_dfa, literal_language
from .parser import parse

__all__ = ["Regex", "RegexLimits", "CompiledRegex", "RegexMatcher", "regex_dfa"]

_EAGER_MAX_STATES = 48
_BACKGROUND_CHUNK = 4
_SHUTDOWN = threading.Event()
_BACKGROUND: "weakref.WeakSet[threading.Thread]" = weakref.WeakSet()


@atexit.register
def _stop_background_builds() -> None:
    """Let background row builds finish their current chunk before the interpreter exits (a
    thread still inside a numba kernel at shutdown aborts the process)."""
    _SHUTDOWN.set()
    for t in list(_BACKGROUND):
        t.join(timeout=5.0)


@functools.lru_cache(maxsize=4096)
def regex_dfa(pattern: str, flags: int = 0, limits: RegexLimits | None = None) -> ByteDFA:
    """The minimal byte DFA of ``pattern``, built once per ``(pattern, flags, limits)`` in a
    process: grammar terminals are shared by the front ends (validation), the grammar engine and
    infilling, so each is built once. A pattern that spells one string (`literal.literal_language`)
    gets its chain DFA directly (`literal.chain_dfa`, identical arrays), an alternation of ASCII
    strings its minimal trie (`literal.alternatives_dfa`, identical arrays). Raises as `Regex`; an
    empty language is `InvalidSyntax`."""
    limits = limits or RegexLimits()
    lang = literal_language(pattern, int(flags)) if isinstance(pattern, str) else None
    if lang is not None and 4 * len(pattern) + 8 <= min(limits.max_nfa_states, limits.max_dfa_states):
        if len(lang) == 1:
            return chain_dfa(lang[0])  # one string: the same DFA without the regex pipeline
        if all(a.isascii() for a in lang):
            return alternatives_dfa(lang)  # ASCII strings (enums): the minimal trie, same numbering
    t0 = time.perf_counter()
    tree = parse(pattern, int(flags), limits.max_seconds)
    spent = time.perf_counter() - t0  # max_seconds covers parsing and construction together
    dfa = build_dfa(tree, dataclasses.replace(limits, max_seconds=max(limits.max_seconds - spent, 0.0)))
    if dfa.n_states == 0:
        raise InvalidSyntax("regex matches no string at all", source=pattern)
    return dfa


def _parse_generation_flags(pattern: str, flags: int,
                            max_seconds: float | None = None) -> tuple[int, object]:
    """``(effective flags, parse tree)``: ``re.ASCII`` is added unless the flags or an inline
    ``(?u)`` ask for Unicode classes (``re`` refuses ASCII and UNICODE together)."""
    if flags & (re.ASCII | re.UNICODE):
        return flags, parse(pattern, flags, max_seconds)
    try:
        return int(flags | re.ASCII), parse(pattern, int(flags | re.ASCII), max_seconds)
    except (InvalidSyntax, ValueError) as e:
        if "incompatible" not in str(e):
            raise
        return flags, parse(pattern, flags, max_seconds)


class Regex(Completable, Constraint):
    """A regex constraint: the output must ``re.fullmatch(pattern, output, flags)`` (Python ``re``
    syntax), where ``\\d \\w \\s`` are ASCII by default.

    Parameters
    ----------
    pattern : str
        Python ``re`` syntax, regular subset (see `constrain.regex.parser`).
    flags : int
        ``re`` flags (``re.IGNORECASE``, ``re.ASCII``, ``re.UNICODE``, ``re.DOTALL``,
        ``re.VERBOSE``). Unless ``re.UNICODE`` (or an inline ``(?u)``) is given, ``re.ASCII`` is
        added: ``\\d`` is ``[0-9]``, ``\\w`` is ``[a-zA-Z0-9_]``, ``\\s`` is ``[ \\t\\n\\r\\f\\v]``
        and ``re.IGNORECASE`` folds ASCII letters only, exactly as ``re`` does with ``re.ASCII``.
        Generation wants this: under ``re``'s default Unicode semantics ``\\d`` also admits the
        other Nd digits (Arabic-Indic, fullwidth, U+1FBF0..U+1FBF9 segmented digits...), which
        models do emit. Pass ``flags=re.UNICODE`` for Python's default semantics.
    limits : RegexLimits
        Bounds on NFA/DFA states and construction time.
    eager : bool | None
        Build every state's token row at compile time (True), on first visit (False), or eagerly
        only for DFAs of at most 48 states and in the background otherwise (None, the default).

    Raises
    ------
    InvalidSyntax, UnsupportedFeature, LimitExceeded
        At construction (parsing and DFA construction happen here, not at compile).
    """

    def __init__(self, pattern: str, *, flags: int = 0, limits: RegexLimits | None = None,
                 eager: bool | None = None):
        if isinstance(flags, bool) or not isinstance(flags, (int, re.RegexFlag)):
            raise TypeError(f"flags must be an int (re flags), not {type(flags).__name__}")
        self.pattern = pattern
        self.limits = limits or RegexLimits()
        self.eager = eager
        t0 = time.perf_counter()
        self.flags, tree = _parse_generation_flags(pattern, int(flags), self.limits.max_seconds)
        spent = time.perf_counter() - t0  # max_seconds covers parsing and construction together
        self.dfa: ByteDFA = build_dfa(tree, dataclasses.replace(
            self.limits, max_seconds=max(self.limits.max_seconds - spent, 0.0)))
        if self.dfa.n_states == 0:
            raise InvalidSyntax("regex matches no string at all", source=pattern)

    @classmethod
    def cached(cls, pattern: str, *, flags: int = 0, limits: RegexLimits | None = None,
               eager: bool | None = None) -> "Regex":
        """Like ``Regex(...)``, but the DFA comes from the process-wide `regex_dfa` cache and
        ``flags`` go to ``re`` as given (Python's Unicode ``\\d \\w \\s`` unless ``re.ASCII``):
        this is the constructor of grammar terminals, which follow Lark's (``re``'s) semantics."""
        self = cls.__new__(cls)
        self.pattern, self.flags, self.eager = pattern, int(flags), eager
        self.limits = limits or RegexLimits()
        self.dfa = regex_dfa(pattern, self.flags, limits)
        return self

    def __repr__(self) -> str:
        return f"Regex({self.pattern!r})"

    def cache_key(self) -> tuple:
        return (self.pattern, self.flags, self.eager)

    def fullmatch(self, text: str | bytes) -> bool:
        """Whether ``text`` is in the language (bytes are read as UTF-8)."""
        data = text.encode() if isinstance(text, str) else bytes(text)
        return self.dfa.fullmatch(data)

    def _compile(self, vocab: Vocabulary) -> "CompiledRegex":
        return CompiledRegex(self, vocab)


class CompiledRegex(Completable, CompiledConstraint):
    """A `Regex` compiled against a vocabulary: the DFA plus lazily built token rows."""

    def __init__(self, regex: Regex, vocab: Vocabulary):
        self.regex = regex
        self.vocab = vocab
        dfa = regex.dfa
        self.transitions = dfa.transitions
        self.accepting = dfa.accepting
        n = dfa.n_states
        self.n_states = n
        self._done_state = n  # pseudo-state after an EOS: only EOS may follow
        self._trie = vocab.trie
        self._token_bytes = vocab.token_bytes
        self._eos = frozenset(int(e) for e in vocab.eos_ids)
        self._eos_ids = np.asarray(vocab.eos_ids, dtype=np.int64)
        self._terminal = ~(self.transitions >= 0).any(axis=1) & self.accepting
        self._rows: list[np.ndarray | None] = [None] * (n + 1)
        # Byte views of the rows and of the last destination bitmask: a mask is then one
        # memoryview slice copy (~0.1 µs at 49k tokens) instead of a numpy assignment (~0.25 µs).
        self._row_views: list[memoryview | None] = [None] * (n + 1)
        self._row_nbytes = vocab.words * 4
        self._dst: tuple | None = None
        self._lock = threading.Lock()
        done = np.zeros(vocab.words, dtype=np.int32)
        self._set_eos(done)
        self._rows[n] = done
        self._row_views[n] = memoryview(done).cast("B")
        eager = regex.eager if regex.eager is not None else n <= _EAGER_MAX_STATES
        self._background: threading.Thread | None = None
        if eager:
            self.precompute()
        else:
            self.row(0)  # the start row is needed for the first mask anyway
            if regex.eager is None:
                self._background = threading.Thread(target=self._precompute_in_background,
                                                     name="constrain-regex-rows", daemon=True)
                _BACKGROUND.add(self._background)
                self._background.start()

    def _precompute_in_background(self) -> None:
        # BFS order from the start, in chunks, so the states a sequence reaches first come first.
        try:
            order = _bfs_order(self.transitions)
            for k in range(0, len(order), _BACKGROUND_CHUNK):
                if _SHUTDOWN.is_set():
                    return
                chunk = np.asarray([s for s in order[k:k + _BACKGROUND_CHUNK]
                                    if self._rows[s] is None])
                if len(chunk):
                    rows = self._build(chunk)
                    for j, s in enumerate(chunk.tolist()):
                        if self._rows[s] is None:
                            self._store(s, rows[j])
        except Exception:  # pragma: no cover - the foreground path builds rows on demand anyway
            pass

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait for the background row build (if any); True when every row is built."""
        if self._background is not None:
            self._background.join(timeout)
        return self.rows_built == self.n_states

    def __getstate__(self) -> dict:
        """Pickle the DFA and the rows built so far (a background build is not waited for: rows
        it has not reached are built on demand after loading); not views, lock or thread."""
        state = self.__dict__.copy()
        for name in ("_row_views", "_dst", "_lock", "_background"):
            del state[name]
        state["_rows"] = list(self._rows)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._dst = None
        self._background = None
        self._row_views = [None if r is None else memoryview(r).cast("B") for r in self._rows]

    def _set_eos(self, row: np.ndarray) -> None:
        set_token_bits(row, self._eos_ids)

    def _build(self, states: np.ndarray) -> np.ndarray:
        t = self._trie
        out = np.empty((len(states), self.vocab.words), dtype=np.int32)
        dfa_index.fill_rows(self.transitions, states.astype(np.int32), t.node_byte, t.node_depth,
                            t.node_subtree, t.tok_ptr, t.tok_ids, out)
        for k, s in enumerate(states.tolist()):
            if self.accepting[s]:
                self._set_eos(out[k])
        return out

    def row(self, state: int) -> np.ndarray:
        """The bitmask row of ``state`` (built on first use; thread-safe, idempotent)."""
        r = self._rows[state]
        if r is None:
            r = self._build(np.asarray([state]))[0]
            self._store(state, r)
        return r

    def _store(self, state: int, row: np.ndarray) -> None:
        row = np.ascontiguousarray(row)
        self._row_views[state] = memoryview(row).cast("B")
        self._rows[state] = row

    def destination(self, bitmask, row=0):
        """(bitmask, byte view or None, numpy array) for ``fill_mask``, after the checks of
        `constrain.matcher.check_bitmask_row` (typed errors; ``row`` must fit); a view of None
        means: use numpy assignment (a bitmask that is not C-contiguous int32 with exactly
        ``vocab.words`` columns)."""
        arr = check_bitmask_row(bitmask, row, self.vocab.words)
        view = None
        if (arr.dtype == np.int32 and arr.ndim == 2 and arr.shape[1] == self.vocab.words
                and arr.flags.c_contiguous and arr.flags.writeable):
            view = memoryview(arr).cast("B")
        dst = (bitmask, view, arr)
        self._dst = dst
        return dst

    def precompute(self) -> None:
        """Build every state's row now (one numba call)."""
        todo = np.asarray([s for s in range(self.n_states) if self._rows[s] is None], dtype=np.int64)
        if len(todo):
            rows = self._build(todo)
            for k, s in enumerate(todo.tolist()):
                self._store(s, rows[k])

    @property
    def rows_built(self) -> int:
        return sum(r is not None for r in self._rows[: self.n_states])

    def memory_bytes(self) -> int:
        """Bytes held by the DFA and the built rows."""
        return int(self.transitions.nbytes + self.accepting.nbytes
                   + sum(r.nbytes for r in self._rows if r is not None))

    def step(self, state: int, token_id: int) -> int:
        """Next state after ``token_id`` from ``state``, or -1 if the token is not allowed."""
        if state == self._done_state:
            return state if token_id in self._eos else -1
        if token_id in self._eos:
            return self._done_state if self.accepting[state] else -1
        if not 0 <= token_id < self.vocab.size:
            return -1
        data = self._token_bytes[token_id]
        if not data:
            return -1
        trans = self.transitions
        for b in data:
            state = trans[state, b]
            if state < 0:
                return -1
        return int(state)

    def matcher(self) -> "RegexMatcher":
        return RegexMatcher(self)


def _bfs_order(trans: np.ndarray) -> list[int]:
    seen = np.zeros(trans.shape[0], dtype=bool)
    seen[0] = True
    order = [0]
    k = 0
    while k < len(order):
        for t in np.unique(trans[order[k]]).tolist():
            if t >= 0 and not seen[t]:
                seen[t] = True
                order.append(t)
        k += 1
    return order


class RegexMatcher(StateStackMatcher):
    """Per-sequence DFA state with a history stack for ``rollback``."""

    byte_prefix_closed = True
    validates_arguments = True  # inline: a type test per token id, `destination` per bitmask

    def allows(self, token_id: int) -> bool:
        if type(token_id) is not int:
            token_id = as_token_id(token_id)
        c = self._c
        s = self._states[-1]
        r = c._rows[s]
        if r is not None:
            if not 0 <= token_id < c.vocab.size:
                return False
            return bool((int(r[token_id >> 5]) >> (token_id & 31)) & 1)
        return c.step(s, token_id) >= 0

    def fill_mask(self, bitmask, row: int = 0) -> None:
        c = self._c
        s = self._states[-1]
        src = c._row_views[s]
        if src is None:
            c.row(s)
            src = c._row_views[s]
        dst = c._dst
        if dst is None or dst[0] is not bitmask or type(row) is not int \
                or not 0 <= row < dst[2].shape[0]:
            dst = c.destination(bitmask, row)
            row = operator.index(row)
        view = dst[1]
        if view is not None:
            nb = c._row_nbytes
            view[row * nb:(row + 1) * nb] = src
        else:
            arr, w = dst[2], c.vocab.words
            arr[row, :w] = c._rows[s]
            arr[row, w:] = 0  # ids beyond the vocabulary are never allowed

    def advance(self, token_id: int) -> None:
        if type(token_id) is not int:
            token_id = as_token_id(token_id)
        nxt = self._c.step(self._states[-1], token_id)
        if nxt < 0:
            raise TokenRejected(
                f"token {token_id} ({self._c.vocab.token_bytes[token_id] if 0 <= token_id < self._c.vocab.size else None!r}) "
                f"is not allowed by {self._c.regex!r} after {self.num_tokens} tokens")
        self._states.append(nxt)

    def forced_bytes(self, max_bytes: int = 256) -> bytes:
        """DFA walk while the state is not accepting and has exactly one live byte."""
        c = self._c
        s = self._states[-1]
        out = bytearray()
        if s == c._done_state:
            return b""
        while len(out) < max_bytes and not c.accepting[s]:
            live = np.flatnonzero(c.transitions[s] >= 0)
            if len(live) != 1:
                break
            out.append(int(live[0]))
            s = int(c.transitions[s, live[0]])
        return bytes(out)

    def is_accepting(self) -> bool:
        s = self._states[-1]
        return s == self._c._done_state or bool(self._c.accepting[s])

    def is_terminated(self) -> bool:
        s = self._states[-1]
        return s == self._c._done_state or bool(self._c._terminal[s])
