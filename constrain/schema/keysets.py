"""Key languages for ``patternProperties`` beside ``additionalProperties`` (or several patterns
with different schemas): the keys matching exactly a given set of patterns, and none of the
declared names, as a regex.

Each pattern's search language and the declared names become byte DFAs (`build_dfa`); their
product is explored over the printable ASCII characters a JSON key can hold without an escape
(space to ``~`` except ``"`` and ``\\``), and each region's automaton is turned back into a
regex by state elimination. Restricting extra keys to plain ASCII is an under-approximation
(such keys are never generated), never a wrong key. Sizes are bounded (`KeyRegionLimits`); a
region too large to express raises `TooLarge`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..regex import parser as rxp
from ..regex.automata import build_dfa

__all__ = ["key_regions", "TooLarge", "KeyRegionLimits"]

_ALPHABET = [b for b in range(0x20, 0x7F) if b not in (0x22, 0x5C)]


@dataclass(frozen=True)
class KeyRegionLimits:
    max_product_states: int = 400
    max_regex_chars: int = 20_000


class TooLarge(Exception):
    """The product automaton or a region's regex exceeds `KeyRegionLimits`."""


def _literal_tree(text: str):
    return rxp.Concat(tuple(rxp.Chars(((ord(c), ord(c)),)) for c in text)) if text else rxp.EPSILON


def key_regions(trees: list, names: list[str], limits: KeyRegionLimits = KeyRegionLimits()) -> dict:
    """{frozenset of pattern indices: regex of the plain-ASCII keys matching exactly those patterns
    and no name in ``names``}; regions without keys are left out. ``trees`` are search-language
    trees (`StringsMixin.search_tree`)."""
    dfas = [build_dfa(t) for t in trees]
    name_dfa = build_dfa(rxp.Alt(tuple(_literal_tree(n) for n in names))) if names else None
    machines = dfas + ([name_dfa] if name_dfa is not None else [])
    start = tuple(0 for _ in machines)
    index = {start: 0}
    order = [start]
    edges: list[dict[int, int]] = []
    i = 0
    while i < len(order):
        state = order[i]
        i += 1
        out: dict[int, int] = {}
        for b in _ALPHABET:
            nxt = tuple(-1 if s < 0 else int(m.transitions[s, b]) for m, s in zip(machines, state))
            j = index.get(nxt)
            if j is None:
                if len(order) >= limits.max_product_states:
                    raise TooLarge("product automaton")
                j = index[nxt] = len(order)
                order.append(nxt)
            out[b] = j
        edges.append(out)
    regions: dict[frozenset, set[int]] = {}
    for q, state in enumerate(order):
        if name_dfa is not None and state[-1] >= 0 and name_dfa.accepting[state[-1]]:
            continue
        hit = frozenset(k for k, (m, s) in enumerate(zip(dfas, state)) if s >= 0 and m.accepting[s])
        regions.setdefault(hit, set()).add(q)
    out = {}
    for hit, finals in regions.items():
        rx = _eliminate(edges, finals, limits)
        if rx is not None:
            out[hit] = rx
    return out


def _class(bytes_: list[int]) -> str:
    if len(bytes_) == 1:
        return re.escape(chr(bytes_[0]))
    runs, lo = [], bytes_[0]
    for a, b in zip(bytes_, bytes_[1:] + [None]):
        if b != a + 1:
            runs.append((lo, a))
            lo = b
    body = "".join(_cls_char(x) if x == y else f"{_cls_char(x)}-{_cls_char(y)}" for x, y in runs)
    return f"[{body}]"


def _cls_char(c: int) -> str:
    ch = chr(c)
    return "\\" + ch if ch in "]\\^-[" else ch


def _union(a: str | None, b: str | None) -> str | None:
    if a is None:
        return b
    if b is None or a == b:
        return a
    return f"(?:{a}|{b})"


def _eliminate(edges: list[dict[int, int]], finals: set[int], limits: KeyRegionLimits) -> str | None:
    """Regex of the words leading from state 0 to a state in ``finals`` (None: no such word):
    states that cannot reach ``finals`` are dropped, then states are eliminated fewest-edges
    first, keeping regexes as strings."""
    n = len(edges)
    rev: list[set[int]] = [set() for _ in range(n)]
    for q, out in enumerate(edges):
        for t in out.values():
            rev[t].add(q)
    live, stack = set(finals), list(finals)
    while stack:
        for p in rev[stack.pop()]:
            if p not in live:
                live.add(p)
                stack.append(p)
    if 0 not in live:
        return None
    START, END = n, n + 1
    R: dict[int, dict[int, str]] = {q: {} for q in list(live) + [START, END]}
    for q in live:
        by_target: dict[int, list[int]] = {}
        for b, t in edges[q].items():
            if t in live:
                by_target.setdefault(t, []).append(b)
        for t, bs in by_target.items():
            R[q][t] = _class(sorted(bs))
        if q in finals:
            R[q][END] = ""
    R[START][0] = ""
    for k in sorted(live, key=lambda q: len(R[q]) + sum(q in R[p] for p in R)):
        loop = R[k].pop(k, None)
        star = f"(?:{loop})*" if loop else ""
        preds = [p for p in R if p != k and k in R[p]]
        for p in preds:
            into = R[p].pop(k)
            for t, out in R[k].items():
                piece = f"{_group(into)}{star}{_group(out)}"
                R[p][t] = _union(R[p].get(t), piece)
                if len(R[p][t]) > limits.max_regex_chars:
                    raise TooLarge("region regex")
        del R[k]
    return R[START].get(END)


def _group(rx: str) -> str:
    return rx if not rx or rx.startswith("(?:") or rx.startswith("[") or len(rx) == 1 else f"(?:{rx})"
