"""Regular languages of free text around fixed markers, written as regex text for the grammar IR.

Two languages over Unicode text, for a set of non-empty trigger strings ``T``:

* ``avoid_pattern(T)``: strings that contain no trigger;
* ``until_pattern(T, i)``: strings whose *first* trigger occurrence (by end position) ends at
  the very end of the string and is ``T[i]`` (``"...text...</think>"``: free text up to and
  including the first end marker).

Both are built from the Aho–Corasick automaton of ``T`` (states = trigger prefixes) by state
elimination into Python ``re`` syntax, so they become ordinary IR terminals: the grammar engine
turns each into one minimal byte DFA and a whole stretch of free text is one lexeme (one DFA step
per byte, no parser work). The pattern text grows with the triggers' length and self-overlap
(a few hundred characters for ``</think>`` or ``<tool_call>``); ``max_chars`` bounds it.
"""

from __future__ import annotations

from collections import deque

from .errors import InvalidSyntax, LimitExceeded

__all__ = ["avoid_pattern", "until_pattern", "class_char"]

_MAX_CHARS = 200_000


def class_char(ch: str) -> str:
    """``ch`` escaped for use inside a ``[...]`` class or as a one-character pattern."""
    if ch in "\\]^-[.*+?{}()|$/":
        return "\\" + ch
    o = ord(ch)
    if o < 0x20 or o == 0x7F or ch.isspace():
        return f"\\x{o:02x}" if o <= 0xFF else f"\\u{o:04x}" if o <= 0xFFFF else f"\\U{o:08x}"
    return ch


class _Automaton:
    """Aho–Corasick automaton over characters: ``delta(state, ch)``; ``hits[state]`` is the set
    of trigger indices that end at a state (empty for live states)."""

    def __init__(self, words: list[str]):
        if not words:
            raise InvalidSyntax("at least one trigger string is needed")
        for w in words:
            if not isinstance(w, str) or not w:
                raise InvalidSyntax(f"trigger strings must be non-empty str, got {w!r}")
        self.words = words
        goto: list[dict[str, int]] = [{}]
        depth = [0]
        ends: list[set[int]] = [set()]
        for i, w in enumerate(words):
            s = 0
            for ch in w:
                nxt = goto[s].get(ch)
                if nxt is None:
                    nxt = len(goto)
                    goto[s][ch] = nxt
                    goto.append({})
                    depth.append(depth[s] + 1)
                    ends.append(set())
                s = nxt
            ends[s].add(i)
        fail = [0] * len(goto)
        order = []
        q = deque(goto[0].values())
        while q:
            s = q.popleft()
            order.append(s)
            for ch, t in goto[s].items():
                f = fail[s]
                while f and ch not in goto[f]:
                    f = fail[f]
                fail[t] = goto[f].get(ch, 0) if goto[f].get(ch, 0) != t else 0
                q.append(t)
        for s in order:  # BFS order: a state's fail target is final already
            ends[s] |= ends[fail[s]]
        self.goto, self.fail, self.depth, self.hits = goto, fail, depth, ends
        self.alphabet = sorted({ch for w in words for ch in w})

    def delta(self, s: int, ch: str) -> int:
        while s and ch not in self.goto[s]:
            s = self.fail[s]
        return self.goto[s].get(ch, 0)


def _label(chars: set[str], other: bool, alphabet: list[str]) -> str:
    """A character class for ``chars`` (plus every character outside ``alphabet`` if ``other``)."""
    if other:
        excluded = [c for c in alphabet if c not in chars]
        return "[^" + "".join(class_char(c) for c in excluded) + "]" if excluded else r"[\s\S]"
    if len(chars) == 1:
        return class_char(next(iter(chars)))
    return "[" + "".join(class_char(c) for c in sorted(chars)) + "]"


def _alt(a: str | None, b: str | None) -> str | None:
    if a is None:
        return b
    if b is None or a == b:
        return a
    return f"(?:{a}|{b})"


def _star(a: str | None) -> str:
    if a is None or a == "":
        return ""
    return f"(?:{a})*"


def _eliminate(edges: dict, states: list[int], start, final, max_chars: int) -> str | None:
    """State elimination: ``edges[(i, j)]`` is a regex (``""`` = epsilon); returns the regex of
    paths from ``start`` to ``final`` or None when there is none."""
    out: dict = {}
    inn: dict = {}
    for (i, j), r in edges.items():
        out.setdefault(i, {})[j] = r
        inn.setdefault(j, {})[i] = r
    for k in states:  # deepest first: few predecessors, short patterns
        loop = out.get(k, {}).pop(k, None)
        inn.get(k, {}).pop(k, None)
        preds = inn.pop(k, {})
        succs = out.pop(k, {})
        mid = _star(loop)
        for i, ri in preds.items():
            out[i].pop(k, None)
            for j, rj in succs.items():
                inn[j].pop(k, None)
                new = _alt(out[i].get(j), ri + mid + rj)
                if len(new) > max_chars:
                    raise LimitExceeded("trigger_pattern_chars", max_chars,
                                        "the free-text pattern for these triggers is too large")
                out[i][j] = new
                inn[j][i] = new
        for j in succs:
            inn.get(j, {}).pop(k, None)
    return out.get(start, {}).get(final)


def _build(words: list[str], accept_index: int | None, max_chars: int) -> str:
    A = _Automaton(list(words))
    live = [s for s in range(len(A.goto)) if not A.hits[s]]
    START, FINAL = "S", "F"
    edges: dict = {(START, 0): ""}
    for s in live:
        targets: dict = {}
        for ch in A.alphabet:
            t = A.delta(s, ch)
            if A.hits[t]:
                if accept_index is None or accept_index not in A.hits[t]:
                    continue
                t = FINAL
            targets.setdefault(t, (set(), [False]))[0].add(ch)
        targets.setdefault(0, (set(), [False]))[1][0] = True  # characters outside every trigger
        for t, (chars, other) in targets.items():
            edges[(s, t)] = _label(chars, other[0], A.alphabet)
        if accept_index is None:
            edges[(s, FINAL)] = ""
    order = sorted(live, key=lambda s: -A.depth[s])
    pat = _eliminate(edges, order, START, FINAL, max_chars)
    if pat is None:
        raise InvalidSyntax(f"no text reaches trigger {words[accept_index]!r} first "
                            "(another trigger always occurs before it)")
    return pat


def avoid_pattern(triggers: list[str] | tuple[str, ...], *, max_chars: int = _MAX_CHARS) -> str:
    """Regex (Python ``re`` syntax) of the strings containing none of ``triggers`` (the empty
    string included)."""
    return _build(list(triggers), None, max_chars)


def until_pattern(triggers: list[str] | tuple[str, ...], index: int = 0, *,
                  max_chars: int = _MAX_CHARS) -> str:
    """Regex of the strings whose first trigger occurrence ends at their end and is
    ``triggers[index]`` (free text, then that trigger)."""
    if not 0 <= index < len(triggers):
        raise IndexError(f"trigger index {index} out of range for {len(triggers)} triggers")
    return _build(list(triggers), index, max_chars)
