"""Boolean combinations of byte DFAs (`regex.automata.ByteDFA`) by product construction, and
the JSON string literal DFA of a value DFA.

``product(dfas, accept)`` walks the reachable tuples of component states (-1: that component
is dead) over the byte classes the components distinguish; ``accept`` maps the tuple's
per-component acceptance to the product's. The result is minimised and trimmed. More than
``max_states`` reachable tuples raises `TooLarge` (callers refuse rather than approximate).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ..regex.automata import ByteDFA, minimal
from .lengths import TooLarge, json_text_dfa

PRODUCT_STATES_MAX = 20_000


class StringLang:
    """A string language carried in a merged schema (``_string_langs``): ``body`` (a regex over
    the JSON text between the quotes, which determines the language) and ``dfa`` (the value's
    byte DFA). Unpacks as ``(body, dfa)``; equal when the bodies are (schemas holding one can
    be compared by the ``allOf`` merge without comparing arrays)."""

    __slots__ = ("body", "dfa")

    def __init__(self, body: str, dfa: ByteDFA):
        self.body, self.dfa = body, dfa

    def __iter__(self):
        return iter((self.body, self.dfa))

    def __eq__(self, other) -> bool:
        return isinstance(other, StringLang) and other.body == self.body

    def __hash__(self) -> int:
        return hash(self.body)


def _byte_classes(dfas: Sequence[ByteDFA]) -> tuple[np.ndarray, np.ndarray]:
    """(representative byte per class, class of each byte): bytes no component tells apart."""
    cols = np.concatenate([d.transitions.T for d in dfas if d.n_states], axis=1)  # [256, sum n]
    _, first, inverse = np.unique(cols, axis=0, return_index=True, return_inverse=True)
    return first, inverse.reshape(-1)


def product(dfas: Sequence[ByteDFA], accept: Callable[[tuple], bool], *, need_all: bool = False,
            max_states: int = PRODUCT_STATES_MAX) -> ByteDFA:
    """The minimal DFA of the texts whose tuple of component acceptances satisfies ``accept``.
    ``need_all``: a tuple with a dead component is dead (intersections; prunes the walk).
    Cost: O(reachable tuples x byte classes x len(dfas))."""
    if not dfas:
        raise ValueError("product of no DFA")
    start = tuple(0 if d.n_states else -1 for d in dfas)
    if (need_all and -1 in start) or all(s < 0 for s in start):
        return ByteDFA(np.full((0, 256), -1, np.int32), np.zeros(0, bool))
    reps, byte_class = _byte_classes(dfas)
    tables = [d.transitions[:, reps].astype(np.int64) if d.n_states else None for d in dfas]
    ids = {start: 0}
    order = [start]
    rows: list[list[int]] = []
    n_cls = len(reps)
    i = 0
    while i < len(order):
        tup = order[i]
        nxt = np.stack([tables[j][s] if s >= 0 else np.full(n_cls, -1, np.int64)
                        for j, s in enumerate(tup)], axis=1)  # [n_cls, k]
        row = []
        for c in range(n_cls):
            t = tuple(nxt[c].tolist())
            if (need_all and -1 in t) or all(x < 0 for x in t):
                row.append(-1)
                continue
            j = ids.get(t)
            if j is None:
                if len(order) >= max_states:
                    raise TooLarge()
                j = ids[t] = len(order)
                order.append(t)
            row.append(j)
        rows.append(row)
        i += 1
    cls_trans = np.asarray(rows, dtype=np.int64)
    trans = cls_trans[:, byte_class]
    acc = np.fromiter((bool(accept(tuple(s >= 0 and bool(d.accepting[s]) for s, d in zip(t, dfas))))
                       for t in order), dtype=bool, count=len(order))
    return minimal(ByteDFA(np.ascontiguousarray(trans.astype(np.int32)), acc))


def intersect(dfas: Sequence[ByteDFA], max_states: int = PRODUCT_STATES_MAX) -> ByteDFA:
    """The texts every DFA accepts."""
    if len(dfas) == 1:
        return dfas[0]
    return product(dfas, all, need_all=True, max_states=max_states)


def exactly_one(dfas: Sequence[ByteDFA], max_states: int = PRODUCT_STATES_MAX) -> ByteDFA:
    """The texts exactly one DFA accepts."""
    return product(dfas, lambda acc: sum(acc) == 1, max_states=max_states)


def json_string_dfa(value: ByteDFA) -> ByteDFA | None:
    """The JSON string literals (quotes included, escapes as `lengths.json_text_dfa` reads them)
    whose decoded value (UTF-8) ``value`` accepts; None when it accepts nothing."""
    if value.n_states == 0:
        return None
    trans, _inc, acc = json_text_dfa(value)
    m = trans.shape[0]
    out = np.full((m + 2, 256), -1, dtype=np.int64)
    out[0, 0x22] = 1  # the opening quote; J's states are shifted by one
    out[1:m + 1] = np.where(trans >= 0, trans + 1, -1)
    out[1:m + 1][acc, 0x22] = m + 1  # J has no raw quote edge: the closing quote
    accepting = np.zeros(m + 2, dtype=bool)
    accepting[m + 1] = True
    dfa = minimal(ByteDFA(np.ascontiguousarray(out.astype(np.int32)), accepting))
    return dfa if dfa.n_states else None
