"""Partial outputs: fixed byte pieces, holes and an optional end marker.

A `Partial` stands for the regular language of its completions: ``Partial(["nu", Hole(), "ll",
END])`` is ``nu Σ* ll`` (bytes), ``Partial([Hole(max_bytes=3), "x"])`` is ``Σ^{0..3} x Σ*`` (no
`END`: the output may continue after the last piece). The output always starts at the first
element; put a `Hole` first for a free start.

Internally a partial output becomes a byte NFA without ε-moves whose edges only go forward
(state ``i`` to a larger state) apart from Σ self-loops on the states of unbounded holes (see
`PartialNFA`); the emptiness check (`constrain.infill.emptiness`) relies on that order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

__all__ = ["Hole", "END", "Partial", "PartialNFA", "ANY"]

ANY = 256  # edge label: any byte


@dataclass(frozen=True)
class Hole:
    """A gap to be filled with any bytes: at least ``min_bytes`` and, if ``max_bytes`` is not
    None, at most ``max_bytes``. Bounds are exact (the check counts bytes), at the cost of one
    automaton state per counted byte."""

    max_bytes: int | None = None
    min_bytes: int = 0

    def __post_init__(self):
        if self.min_bytes < 0 or (self.max_bytes is not None and self.max_bytes < self.min_bytes):
            raise ValueError(f"bad hole bounds: min_bytes={self.min_bytes}, max_bytes={self.max_bytes}")

    def __repr__(self) -> str:
        if self.max_bytes is None and self.min_bytes == 0:
            return "Hole()"
        if self.min_bytes == 0:
            return f"Hole(max_bytes={self.max_bytes})"
        return f"Hole(max_bytes={self.max_bytes}, min_bytes={self.min_bytes})"


class _End:
    _inst = None

    def __new__(cls):
        if cls._inst is None:
            cls._inst = super().__new__(cls)
        return cls._inst

    def __repr__(self) -> str:
        return "END"

    def __reduce__(self):
        return (_End, ())


END = _End()
"""Last element of a `Partial` when nothing may follow its last piece or hole."""


class Partial:
    """A partial output: a sequence of fixed pieces (``str`` as UTF-8, or ``bytes``), `Hole`s,
    and optionally `END` as the last element.

    The sequence is normalised on construction: adjacent pieces are joined, empty pieces
    dropped, adjacent holes merged (bounds add up). ``key`` is a hashable normal form.
    """

    __slots__ = ("elements", "closed", "key", "_nfa")

    def __init__(self, elements: Iterable = ()):
        items: list = []
        closed = False
        for e in elements:
            if closed:
                raise ValueError("END must be the last element of a Partial")
            if e is END:
                closed = True
                continue
            if isinstance(e, str):
                e = e.encode("utf-8")
            if isinstance(e, (bytes, bytearray, memoryview)):
                e = bytes(e)
                if not e:
                    continue
                if items and isinstance(items[-1], bytes):
                    items[-1] = items[-1] + e
                else:
                    items.append(e)
            elif isinstance(e, Hole):
                if items and isinstance(items[-1], Hole):
                    h = items[-1]
                    mx = None if (h.max_bytes is None or e.max_bytes is None) else h.max_bytes + e.max_bytes
                    items[-1] = Hole(max_bytes=mx, min_bytes=h.min_bytes + e.min_bytes)
                else:
                    items.append(e)
            else:
                raise TypeError(f"Partial elements are str, bytes, Hole or END, not {type(e).__name__}")
        self.elements: tuple = tuple(items)
        self.closed = closed
        self.key = (self.elements, closed)
        self._nfa = None

    # -- constructors --------------------------------------------------------------------------
    @classmethod
    def from_tokens(cls, ids: Sequence[int], mask_id: int, vocab, *, max_hole_states: int = 32,
                    closed: bool = True) -> "Partial":
        """The partial output of a token canvas (a diffusion model's sequence).

        ``ids``: token ids, ``mask_id`` at undecided positions. Everything from the first EOS of
        ``vocab`` on is cut and the output then ends there (`END`); otherwise the output ends at the
        end of the canvas when ``closed`` (default), or may continue.

        A run of ``k`` masks before a decided token must hold ``k`` real tokens, so at least ``k``
        bytes and at most ``k`` times the longest token; masks after the last decided token may
        also become EOS (at least 0 bytes). Bounds are exact but cost one automaton state per
        counted byte, so a bound above ``max_hole_states`` is relaxed (a larger maximum becomes
        unbounded, a larger minimum becomes ``max_hole_states``): the check then stays sound (never
        refuses a completable canvas) but may accept a canvas whose holes are too short.
        """
        tb = vocab.token_bytes
        eos = set(int(e) for e in vocab.eos_ids)
        maxlen = max((len(b) for b in tb if b), default=1)
        ids = [int(i) for i in ids]
        end = len(ids)
        ended = False
        for i, t in enumerate(ids):
            if t in eos:
                end, ended = i, True
                break
        ids = ids[:end]
        # index of the last decided (non-mask) token
        last = max((i for i, t in enumerate(ids) if t != mask_id), default=-1)
        elems: list = []
        i = 0
        n = len(ids)
        while i < n:
            t = ids[i]
            if t == mask_id:
                j = i
                while j < n and ids[j] == mask_id:
                    j += 1
                k = j - i
                trailing = i > last
                lo = 0 if trailing else k
                hi = k * maxlen
                lo = min(lo, max_hole_states)
                elems.append(Hole(max_bytes=hi if hi <= max_hole_states else None, min_bytes=lo))
                i = j
            else:
                b = tb[t] if 0 <= t < len(tb) else None
                if b is None:
                    raise ValueError(f"token {t} has no bytes (a control token) at position {i}")
                elems.append(b)
                i += 1
        if ended or closed:
            elems.append(END)
        return cls(elems)

    # -- views -------------------------------------------------------------------------------
    @property
    def pieces(self) -> list[bytes]:
        return [e for e in self.elements if isinstance(e, bytes)]

    @property
    def holes(self) -> list[Hole]:
        return [e for e in self.elements if isinstance(e, Hole)]

    def fill(self, fillings: Sequence[bytes | str]) -> bytes:
        """The bytes with hole ``i`` replaced by ``fillings[i]`` (no bound checks)."""
        out, k = [], 0
        for e in self.elements:
            if isinstance(e, bytes):
                out.append(e)
            else:
                f = fillings[k]
                out.append(f.encode() if isinstance(f, str) else bytes(f))
                k += 1
        return b"".join(out)

    def matches(self, data: bytes) -> bool:
        """Whether ``data`` is one of the completions (bytes only, no grammar)."""
        return self.nfa().matches(bytes(data))

    def nfa(self) -> "PartialNFA":
        if self._nfa is None:
            self._nfa = PartialNFA(self)
        return self._nfa

    def __eq__(self, other) -> bool:
        return isinstance(other, Partial) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        parts = [repr(e) for e in self.elements] + (["END"] if self.closed else [])
        return f"Partial([{', '.join(parts)}])"


class PartialNFA:
    """The completions of a `Partial` as an ε-free byte NFA with a forward state order.

    ``n`` states, start 0; edges in CSR form (``ptr``, ``dst``, ``lab``; ``lab`` a byte or `ANY`),
    every edge from ``s`` goes to a state ``> s``; ``loop[s]``: a Σ self-loop (unbounded holes);
    ``final``: accepting states.
    """

    def __init__(self, partial: Partial):
        src: list[int] = []
        dst: list[int] = []
        lab: list[int] = []
        loop: list[bool] = [False]
        n = 1
        frontier = [0]

        def new() -> int:
            nonlocal n
            loop.append(False)
            n += 1
            return n - 1

        elems = list(partial.elements)
        if not partial.closed:
            elems.append(Hole())
        # merge a trailing bounded hole with the implicit unbounded one
        merged: list = []
        for e in elems:
            if merged and isinstance(e, Hole) and isinstance(merged[-1], Hole):
                h = merged[-1]
                mx = None if (h.max_bytes is None or e.max_bytes is None) else h.max_bytes + e.max_bytes
                merged[-1] = Hole(max_bytes=mx, min_bytes=h.min_bytes + e.min_bytes)
            else:
                merged.append(e)
        for e in merged:
            if isinstance(e, bytes):
                for c in e:
                    s = new()
                    for f in frontier:
                        src.append(f); dst.append(s); lab.append(c)
                    frontier = [s]
            else:
                assert len(frontier) == 1  # a hole always follows a piece or the start
                cur = frontier[0]
                for _ in range(e.min_bytes):
                    s = new()
                    src.append(cur); dst.append(s); lab.append(ANY)
                    cur = s
                if e.max_bytes is None:
                    loop[cur] = True
                    frontier = [cur]
                else:
                    frontier = [cur]
                    for _ in range(e.max_bytes - e.min_bytes):
                        s = new()
                        src.append(cur); dst.append(s); lab.append(ANY)
                        cur = s
                        frontier.append(s)
        self.n = n
        order = np.argsort(np.asarray(src, dtype=np.int64), kind="stable")
        src_a = np.asarray(src, dtype=np.int32)[order]
        self.dst = np.asarray(dst, dtype=np.int32)[order]
        self.lab = np.asarray(lab, dtype=np.int32)[order]
        self.ptr = np.zeros(n + 1, dtype=np.int32)
        np.add.at(self.ptr, src_a + 1, 1)
        self.ptr = np.cumsum(self.ptr).astype(np.int32)
        self.loop = np.asarray(loop, dtype=np.bool_)
        self.final = np.zeros(n, dtype=np.bool_)
        self.final[frontier] = True

    def matches(self, data: bytes) -> bool:
        cur = {0}
        for c in data:
            nxt = set()
            for s in cur:
                if self.loop[s]:
                    nxt.add(s)
                for e in range(self.ptr[s], self.ptr[s + 1]):
                    if self.lab[e] == ANY or self.lab[e] == c:
                        nxt.add(int(self.dst[e]))
            if not nxt:
                return False
            cur = nxt
        return any(self.final[s] for s in cur)
