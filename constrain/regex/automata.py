"""Regex tree → byte NFA (Thompson) → DFA (subset construction over byte classes) → minimal DFA.

The result, `ByteDFA`, is minimal and trimmed: every state can still reach an accepting state, and a
missing transition (``-1``) means the bytes so far can no longer be completed. Limits on NFA and DFA
states are explicit (`RegexLimits`); exceeding one raises `LimitExceeded`.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import numpy as np

from ..errors import LimitExceeded
from . import utf8
from .parser import Alt, Chars, Concat, Repeat


@dataclass(frozen=True)
class RegexLimits:
    """Bounds on the explosive steps of regex compilation.

    max_nfa_states: Thompson NFA size (grows with ``{m,n}`` counts times the repeated part).
    max_dfa_states: states created by subset construction before minimisation.
    max_seconds: wall-clock budget for the whole DFA construction.
    """

    max_nfa_states: int = 200_000
    max_dfa_states: int = 50_000
    max_seconds: float = 30.0


@dataclass(frozen=True)
class ByteDFA:
    """A minimal, trimmed DFA over bytes. State 0 is the start.

    transitions: int32 [n_states, 256], next state or -1.
    accepting: bool [n_states].
    """

    transitions: np.ndarray
    accepting: np.ndarray

    @property
    def n_states(self) -> int:
        return int(self.transitions.shape[0])

    def run(self, data: bytes, state: int = 0) -> int:
        """State after ``data`` from ``state``; -1 once dead."""
        t = self.transitions
        for b in data:
            state = int(t[state, b])
            if state < 0:
                return -1
        return state

    def fullmatch(self, data: bytes) -> bool:
        s = self.run(data)
        return s >= 0 and bool(self.accepting[s])


class _NFA:
    """Thompson NFA over code points: edges carry an index into ``sets`` (CharSets)."""

    def __init__(self, limits: RegexLimits):
        self.eps: list[list[int]] = []
        self.edges: list[list[tuple[int, int]]] = []
        self.sets: list[tuple] = []
        self.set_ids: dict[tuple, int] = {}
        self.limits = limits

    def state(self) -> int:
        if len(self.eps) >= self.limits.max_nfa_states:
            raise LimitExceeded("max_nfa_states", self.limits.max_nfa_states,
                                "the pattern's repetitions expand to too many NFA states")
        self.eps.append([])
        self.edges.append([])
        return len(self.eps) - 1

    def build(self, node) -> tuple[int, int]:
        """A fresh fragment (start, end) for ``node``."""
        if isinstance(node, Chars):
            s, e = self.state(), self.state()
            if node.set:
                k = self.set_ids.get(node.set)
                if k is None:
                    k = self.set_ids[node.set] = len(self.sets)
                    self.sets.append(node.set)
                self.edges[s].append((k, e))
            return s, e
        if isinstance(node, Concat):
            s = e = self.state()
            for part in node.parts:
                ps, pe = self.build(part)
                self.eps[e].append(ps)
                e = pe
            return s, e
        if isinstance(node, Alt):
            s, e = self.state(), self.state()
            for opt in node.options:
                os_, oe = self.build(opt)
                self.eps[s].append(os_)
                self.eps[oe].append(e)
            return s, e
        if isinstance(node, Repeat):
            s = e = self.state()
            for _ in range(node.min):
                ps, pe = self.build(node.node)
                self.eps[e].append(ps)
                e = pe
            if node.max is None:
                ps, pe = self.build(node.node)
                loop = self.state()
                self.eps[e].append(loop)
                self.eps[loop].append(ps)
                self.eps[pe].append(loop)
                e = loop
            else:
                end = self.state()
                for _ in range(node.max - node.min):
                    ps, pe = self.build(node.node)
                    self.eps[e].append(ps)
                    self.eps[e].append(end)
                    e = pe
                self.eps[e].append(end)
                e = end
            return s, e
        raise TypeError(f"unknown regex node {node!r}")  # pragma: no cover


def _alphabet(sets: list[tuple]) -> tuple[list[tuple], list[list[int]]]:
    """Partition code points into classes that no set distinguishes.

    Returns (class_sets, members): the CharSet of each class, and for each input set the list of
    classes it is the union of. A sweep over the range boundaries, with the sets covering each
    elementary interval as an int bitmask; cost O(R log R + intervals * sets covering them)."""
    if not sets:
        return [], []
    events: dict[int, int] = {}  # boundary -> XOR of the bits of the sets entering or leaving
    for j, s in enumerate(sets):
        bit = 1 << j
        for lo, hi in s:
            events[lo] = events.get(lo, 0) ^ bit
            events[hi + 1] = events.get(hi + 1, 0) ^ bit
    bounds = sorted(events)
    class_of: dict[int, int] = {}
    class_ranges: list[list[tuple[int, int]]] = []
    mask = 0
    for k in range(len(bounds) - 1):
        mask ^= events[bounds[k]]  # sets' ranges are disjoint, so XOR toggles membership
        if mask:
            c = class_of.get(mask)
            if c is None:
                c = class_of[mask] = len(class_ranges)
                class_ranges.append([])
            rs = class_ranges[c]
            lo, hi = bounds[k], bounds[k + 1] - 1
            if rs and rs[-1][1] == lo - 1:
                rs[-1] = (rs[-1][0], hi)
            else:
                rs.append((lo, hi))
    members: list[list[int]] = [[] for _ in sets]
    for mask, c in class_of.items():
        while mask:
            low = mask & -mask
            members[low.bit_length() - 1].append(c)
            mask ^= low
    return [tuple(r) for r in class_ranges], [sorted(m) for m in members]


def build_dfa(tree, limits: RegexLimits = RegexLimits()) -> ByteDFA:
    """Compile a regex tree (see `parser`) to a minimal trimmed `ByteDFA`.

    Determinisation happens over code-point classes (few symbols, few states); each code-point
    transition is then expanded into UTF-8 byte paths whose intermediate states are hash-consed,
    so suffixes are shared; a final minimisation runs over bytes."""
    t0 = time.perf_counter()
    nfa = _NFA(limits)
    start, final = nfa.build(tree)
    class_sets, members = _alphabet(nfa.sets)
    n_classes = len(class_sets)
    edge_classes = [[(members[k], tgt) for k, tgt in edges] for edges in nfa.edges]

    eps = nfa.eps
    closure_cache: dict[int, frozenset] = {}

    def single_closure(s: int) -> frozenset:
        c = closure_cache.get(s)
        if c is None:
            seen = {s}
            stack = [s]
            while stack:
                x = stack.pop()
                for t in eps[x]:
                    if t not in seen:
                        seen.add(t)
                        stack.append(t)
            c = closure_cache[s] = frozenset(seen)
        return c

    start_set = single_closure(start)
    ids: dict[frozenset, int] = {frozenset(): 0, start_set: 1}  # 0 = dead sink
    order = [frozenset(), start_set]
    rows: list[list[int]] = [[0] * n_classes]
    i = 1
    while i < len(order):
        if len(order) > limits.max_dfa_states:
            raise LimitExceeded("max_dfa_states", limits.max_dfa_states,
                                "subset construction created too many DFA states")
        if (i & 63) == 0 and time.perf_counter() - t0 > limits.max_seconds:
            raise LimitExceeded("max_seconds", limits.max_seconds, "regex DFA construction")
        buckets: list[set | None] = [None] * n_classes
        for s in order[i]:
            for cls_list, tgt in edge_classes[s]:
                for c in cls_list:
                    b = buckets[c]
                    if b is None:
                        buckets[c] = {tgt}
                    else:
                        b.add(tgt)
        row = [0] * n_classes
        memo: dict[frozenset, int] = {}
        for c in range(n_classes):
            b = buckets[c]
            if not b:
                continue
            key = frozenset(b)
            j = memo.get(key)
            if j is None:
                closed = frozenset().union(*(single_closure(x) for x in key))
                j = ids.get(closed)
                if j is None:
                    j = ids[closed] = len(order)
                    order.append(closed)
                memo[key] = j
            row[c] = j
        rows.append(row)
        i += 1
    trans = np.asarray(rows, dtype=np.int32).reshape(len(order), n_classes)
    accepting = np.fromiter((final in s for s in order), dtype=bool, count=len(order))
    cp_trans, cp_accept = _minimize(trans, accepting, limits, t0)
    if cp_trans.shape[0] == 0:
        return ByteDFA(np.full((0, 256), -1, np.int32), np.zeros(0, bool))
    byte_trans, byte_accept = _expand_utf8(cp_trans, cp_accept, class_sets, limits, t0)
    # No byte-level minimisation is needed: the code-point DFA is minimal and UTF-8 is an
    # injective, prefix-free code, so distinct code-point states stay distinct; intermediate
    # (mid-character) states are hash-consed by their transitions, so equal ones are built once.
    return ByteDFA(np.ascontiguousarray(byte_trans), byte_accept)


def minimal(dfa: ByteDFA, limits: RegexLimits = RegexLimits()) -> ByteDFA:
    """The minimal trimmed form of any byte DFA (state 0 the start; -1 for dead transitions),
    with no states when its language is empty. Cost: one `_minimize` over ``n + 1`` states."""
    tr = dfa.transitions
    full = np.zeros((tr.shape[0] + 1, 256), dtype=np.int64)  # state 0: the dead sink
    full[1:] = tr + 1  # -1 (dead) becomes the sink
    acc = np.concatenate([[False], dfa.accepting]).astype(bool)
    trans, accepting = _minimize(full, acc, limits, time.perf_counter())
    return ByteDFA(np.ascontiguousarray(trans, dtype=np.int32), accepting)


def same_language(a: ByteDFA, b: ByteDFA) -> bool:
    """Whether two byte DFAs accept the same strings: a walk over the reachable pairs of states
    (-1 for dead), O(reachable pairs * 256)."""
    seen = {(0 if a.n_states else -1, 0 if b.n_states else -1)}
    stack = list(seen)
    while stack:
        x, y = stack.pop()
        if (x >= 0 and bool(a.accepting[x])) != (y >= 0 and bool(b.accepting[y])):
            return False
        rx = a.transitions[x].tolist() if x >= 0 else [-1] * 256
        ry = b.transitions[y].tolist() if y >= 0 else [-1] * 256
        for pair in set(zip(rx, ry)):
            if pair != (-1, -1) and pair not in seen:
                seen.add(pair)
                stack.append(pair)
    return True


@functools.lru_cache(maxsize=1024)
def _class_sequences(charset: tuple) -> tuple:
    """UTF-8 byte-range sequences of a code-point set (cached: Unicode classes are reused)."""
    return tuple(tuple(seq) for lo, hi in charset for seq in utf8.sequences(lo, hi))


def _split_template(items: tuple, memo: dict) -> tuple:
    """Deterministic byte trie of ``items`` ((byte-range sequence, target slot), ...) as nested
    tuples ``((lo, hi, child), ...)``: ``child`` is a target slot (int) or a nested trie."""
    hit = memo.get(items)
    if hit is not None:
        return hit
    bounds = sorted({b for seq, _ in items for b in (seq[0][0], seq[0][1] + 1)})
    out = []
    for k in range(len(bounds) - 1):
        lo, hi = bounds[k], bounds[k + 1] - 1
        group = [(seq, t) for seq, t in items if seq[0][0] <= lo and hi <= seq[0][1]]
        if not group:
            continue
        if len(group[0][0]) == 1:
            child = group[0][1]  # UTF-8 is prefix-free: the whole group ends here, one target
        else:
            child = _split_template(tuple((seq[1:], t) for seq, t in group), memo)
        out.append((lo, hi, child))
    result = tuple(out)
    memo[items] = result
    return result


@functools.lru_cache(maxsize=4096)
def _template(parts: tuple) -> tuple:
    """The byte trie for a state whose code-point edges are ``parts`` = ((CharSet, slot), ...);
    targets are abstract slots, so states with the same edge shape share one template."""
    items = tuple((seq, slot) for charset, slot in parts for seq in _class_sequences(charset))
    return _split_template(items, {})


def _expand_utf8(cp_trans: np.ndarray, cp_accept: np.ndarray, class_sets: list[tuple],
                 limits: RegexLimits, t0: float) -> tuple[np.ndarray, np.ndarray]:
    """Replace code-point transitions by UTF-8 byte paths. Intermediate states are keyed by their
    outgoing transitions (hash-consing), so identical suffixes are built once; the byte trie of
    each edge shape is computed once (`_template`) and instantiated per state."""
    n_cp = cp_trans.shape[0]
    rows: list[list[int]] = [[-1] * 256 for _ in range(n_cp)]
    consed: dict[tuple, int] = {}

    def instantiate(template: tuple, targets: tuple, memo: dict) -> list[tuple[int, int, int]]:
        out: list[tuple[int, int, int]] = []
        for lo, hi, child in template:
            if type(child) is int:
                tgt = targets[child]
            else:
                tgt = memo.get(id(child))
                if tgt is None:
                    tgt = memo[id(child)] = node(instantiate(child, targets, memo))
            if out and out[-1][2] == tgt and out[-1][1] == lo - 1:
                out[-1] = (out[-1][0], hi, tgt)
            else:
                out.append((lo, hi, tgt))
        return out

    def node(trans: list[tuple[int, int, int]]) -> int:
        key = tuple(trans)
        j = consed.get(key)
        if j is None:
            j = consed[key] = len(rows)
            if len(rows) > limits.max_dfa_states:
                raise LimitExceeded("max_dfa_states", limits.max_dfa_states,
                                    "UTF-8 expansion created too many DFA states")
            row = [-1] * 256
            for lo, hi, tgt in trans:
                row[lo:hi + 1] = [tgt] * (hi - lo + 1)
            rows.append(row)
        return j

    for q in range(n_cp):
        if (q & 63) == 0 and time.perf_counter() - t0 > limits.max_seconds:
            raise LimitExceeded("max_seconds", limits.max_seconds, "regex UTF-8 expansion")
        slots: dict[int, int] = {}
        parts = []
        for c in np.flatnonzero(cp_trans[q] >= 0).tolist():
            t = int(cp_trans[q, c])
            parts.append((class_sets[c], slots.setdefault(t, len(slots))))
        if parts:
            targets = tuple(slots)
            for lo, hi, tgt in instantiate(_template(tuple(parts)), targets, {}):
                rows[q][lo:hi + 1] = [tgt] * (hi - lo + 1)
    trans = np.asarray(rows, dtype=np.int32)
    accept = np.zeros(len(rows), dtype=bool)
    accept[:n_cp] = cp_accept
    return trans, accept


_SMALL_DFA_CELLS = 4096  # below this many transitions, refinement in plain Python is faster


def _refine(trans: np.ndarray, block: np.ndarray, limits: RegexLimits,
            t0: float) -> tuple[np.ndarray, int]:
    """Moore refinement of the initial partition ``block`` (vectorised, one `np.unique` over
    the signatures per round). Returns (block of each state, number of blocks)."""
    n_blocks = int(block.max()) + 1
    while trans.shape[1]:
        if time.perf_counter() - t0 > limits.max_seconds:
            raise LimitExceeded("max_seconds", limits.max_seconds, "regex DFA minimisation")
        sig = np.concatenate([block[:, None], block[trans]], axis=1)
        _, new_block = np.unique(sig, axis=0, return_inverse=True)
        new_block = new_block.reshape(-1)
        count = int(new_block.max()) + 1
        block = new_block
        if count == n_blocks:
            break
        n_blocks = count
    return block, n_blocks


def _refine_small(trans: list[list[int]], block: list[int], limits: RegexLimits,
                  t0: float) -> tuple[np.ndarray, int]:
    """`_refine` for small DFAs, with signatures as tuples in a dict (no numpy call overhead).
    Blocks are numbered in order of first state, so the result is the same partition."""
    n_blocks = max(block) + 1
    while trans and trans[0]:
        if time.perf_counter() - t0 > limits.max_seconds:
            raise LimitExceeded("max_seconds", limits.max_seconds, "regex DFA minimisation")
        ids: dict[tuple, int] = {}
        new_block = [ids.setdefault((block[q],) + tuple([block[t] for t in row]), len(ids))
                     for q, row in enumerate(trans)]
        block = new_block
        if len(ids) == n_blocks:
            break
        n_blocks = len(ids)
    return np.asarray(block, dtype=np.int64), n_blocks


def _minimize(trans: np.ndarray, accepting: np.ndarray, limits: RegexLimits,
              t0: float) -> tuple[np.ndarray, np.ndarray]:
    """Minimise a complete DFA whose state 0 is a dead sink and state 1 the start (Moore
    refinement, vectorised). Returns (transitions, accepting) of the trimmed minimal DFA with the
    start as state 0, states in BFS order and -1 for dead transitions."""
    n = trans.shape[0]
    live = accepting.copy()
    while True:
        new_live = live | live[trans].any(axis=1) if trans.shape[1] else live
        if (new_live == live).all():
            break
        live = new_live
    block = np.where(live, np.where(accepting, 2, 1), 0).astype(np.int64)
    _, block = np.unique(block, return_inverse=True)
    block = block.reshape(-1)
    if trans.size <= _SMALL_DFA_CELLS:
        block, n_blocks = _refine_small(trans.tolist(), block.tolist(), limits, t0)
    else:
        block, n_blocks = _refine(trans, block, limits, t0)
    dead_block, start_block = int(block[0]), int(block[1])
    if start_block == dead_block:
        return np.zeros((0, trans.shape[1]), np.int32), np.zeros(0, bool)
    rep = np.zeros(n_blocks, dtype=np.int64)
    rep[block[::-1]] = np.arange(n - 1, -1, -1)
    block_trans = block[trans[rep]]
    new_id = np.full(n_blocks, -1, dtype=np.int64)
    new_id[start_block] = 0
    queue = [start_block]
    k = 0
    while k < len(queue):
        for nb in block_trans[queue[k]].tolist():
            if nb != dead_block and new_id[nb] < 0:
                new_id[nb] = len(queue)
                queue.append(nb)
        k += 1
    order = np.asarray(queue, dtype=np.int64)
    return new_id[block_trans[order]].astype(np.int32), accepting[rep[order]].astype(bool)
