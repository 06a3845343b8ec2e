"""Completability checks and a token checker for infilling and diffusion decoders.

``completable(constraint, partial)`` and ``example_completion(constraint, partial)`` accept a
`constrain.Grammar`, a compiled grammar, a `constrain.Regex` (a one-terminal grammar), a compiled
regex, a `constrain.grammar.ir.CFG`, or an `InfillGrammar`. The normalised grammar is built once
per constraint object and cached.

`InfillChecker` keeps a token canvas (a diffusion model's sequence, or any token positions) and
answers ``allows(position, token_id)`` / ``commit(position, token_id)``; results are cached per
normalised partial output, so a commit after an ``allows`` of the same token costs nothing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from ..errors import LimitExceeded, TokenRejected
from ..grammar.ir import CFG, Rule, Terminal
from .emptiness import InfillGrammar, InfillLimits
from .partial import END, Hole, Partial

__all__ = ["completable", "example_completion", "infill_grammar", "InfillChecker"]

_CACHE: "OrderedDict[int, tuple[object, InfillGrammar]]" = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 32


def infill_grammar(constraint, limits: InfillLimits | None = None) -> InfillGrammar:
    """The normalised grammar of ``constraint`` (cached per constraint object)."""
    if isinstance(constraint, InfillGrammar):
        return constraint
    key = id(constraint)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None and hit[0] is constraint:
            _CACHE.move_to_end(key)
            return hit[1]
    ig = _build(constraint, limits)
    with _CACHE_LOCK:
        _CACHE[key] = (constraint, ig)  # keeps the object alive, so the id stays valid
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return ig


def _build(c, limits) -> InfillGrammar:
    from ..grammar.api import CompiledGrammar, Grammar
    from ..regex.api import CompiledRegex, Regex

    if isinstance(c, CompiledGrammar):
        c = c.grammar
    if not isinstance(c, (Grammar, Regex)) and isinstance(getattr(c, "grammar", None), Grammar):
        c = c.grammar  # JsonSchema and other constraints that compile to a grammar
    if isinstance(c, CompiledRegex):
        c = c.regex
    if isinstance(c, Grammar):
        return InfillGrammar(c.cfg, limits=limits)
    if isinstance(c, Regex):
        cfg = CFG(start="S", rules=(Rule("S", ("R",)),),
                  terminals={"R": Terminal("R", c.pattern, c.flags)})
        return InfillGrammar(cfg, {"R": c.dfa}, limits=limits)
    if isinstance(c, CFG):
        return InfillGrammar(c, limits=limits)
    raise TypeError(f"cannot check completability against {type(c).__name__} "
                    "(expected Grammar, Regex, their compiled forms, or a CFG)")


def _as_partial(partial) -> Partial:
    if isinstance(partial, Partial):
        return partial
    if isinstance(partial, (str, bytes)):
        return Partial([partial])
    return Partial(partial)


def completable(constraint, partial, *, limits: InfillLimits | None = None) -> bool:
    """Whether some completion of ``partial`` (a `Partial`, or its element list) satisfies
    ``constraint``. Sound and, for bounded holes, exact; raises `constrain.LimitExceeded` when a
    bound of ``limits`` is hit."""
    return infill_grammar(constraint).check(_as_partial(partial), limits).ok


def example_completion(constraint, partial, *, limits: InfillLimits | None = None) -> bytes | None:
    """One completion of ``partial`` that satisfies ``constraint`` (UTF-8 bytes), or None."""
    return infill_grammar(constraint).example(_as_partial(partial), limits)


class InfillChecker:
    """Token-level checks on a canvas of ``length`` positions (all masked at first).

    Parameters
    ----------
    constraint
        Anything `completable` accepts.
    vocab : Vocabulary
        Token bytes and EOS ids.
    length : int
        Canvas positions (the generated part only; a prompt is not part of the output).
    closed : bool
        The output ends by the end of the canvas (True, a diffusion canvas), or may continue.
    max_hole_states : int
        See `Partial.from_tokens`: mask runs whose byte bounds exceed it are relaxed (sound).
    limits : InfillLimits, optional

    Notes
    -----
    ``allows(position, token_id)``: the canvas with that token placed is still completable.
    Committing an EOS ends the output there (later positions count as EOS). Results are cached
    per normalised partial output (LRU); ``stats`` counts checks, cache hits and limit errors.
    """

    def __init__(self, constraint, vocab, length: int, *, closed: bool = True,
                 max_hole_states: int = 32, limits: InfillLimits | None = None, cache_size: int = 4096):
        self.grammar = infill_grammar(constraint)
        self.vocab = vocab
        self.length = int(length)
        self.closed = closed
        self.max_hole_states = max_hole_states
        self.limits = limits
        self.canvas: list[int | None] = [None] * self.length
        self.end = self.length  # first EOS position
        self._eos = frozenset(int(e) for e in vocab.eos_ids)
        self._tb = vocab.token_bytes
        self._maxlen = max((len(b) for b in self._tb if b), default=1)
        self._cache: "OrderedDict[tuple, bool]" = OrderedDict()
        self._cache_size = cache_size
        self.stats = {"checks": 0, "cache_hits": 0, "limit_errors": 0, "seconds": 0.0}

    # -- partial outputs -------------------------------------------------------------------------
    def partial(self, position: int | None = None, token_id: int | None = None) -> Partial:
        """The current partial output, or the one with ``token_id`` placed at ``position``."""
        canvas = self.canvas
        end = self.end
        if position is not None:
            if token_id in self._eos:
                end = min(end, position)
            else:
                canvas = canvas.copy()
                canvas[position] = token_id
        last = -1
        for i in range(end - 1, -1, -1):
            if canvas[i] is not None:
                last = i
                break
        elems: list = []
        i = 0
        tb = self._tb
        cap = self.max_hole_states
        while i < end:
            t = canvas[i]
            if t is None:
                j = i
                while j < end and canvas[j] is None:
                    j += 1
                k = j - i
                lo = 0 if i > last else k
                hi = k * self._maxlen
                elems.append(Hole(max_bytes=hi if hi <= cap else None, min_bytes=min(lo, cap)))
                i = j
            else:
                elems.append(tb[t])
                i += 1
        if self.closed or end < self.length:
            elems.append(END)
        return Partial(elems)

    def _check(self, partial: Partial) -> bool:
        key = partial.key
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            self.stats["cache_hits"] += 1
            return hit
        self.stats["checks"] += 1
        try:
            res = self.grammar.check(partial, self.limits)
        except LimitExceeded:
            self.stats["limit_errors"] += 1
            raise
        self.stats["seconds"] += res.seconds
        self._cache[key] = res.ok
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return res.ok

    # -- decoder interface -----------------------------------------------------------------------
    def allows(self, position: int, token_id: int) -> bool:
        """Whether placing ``token_id`` at ``position`` keeps the canvas completable."""
        position, token_id = int(position), int(token_id)
        if not 0 <= position < self.length:
            raise IndexError(f"position {position} outside the canvas of {self.length}")
        if position >= self.end:
            return token_id in self._eos
        if token_id not in self._eos:
            b = self._tb[token_id] if 0 <= token_id < len(self._tb) else None
            if not b:
                return False
        if self.canvas[position] is not None:
            return self.canvas[position] == token_id
        return self._check(self.partial(position, token_id))

    def commit(self, position: int, token_id: int, *, check: bool = True) -> None:
        """Place ``token_id`` at ``position`` (raises `TokenRejected` when not allowed)."""
        position, token_id = int(position), int(token_id)
        if check and not self.allows(position, token_id):
            raise TokenRejected(f"token {token_id} at position {position} makes the output uncompletable")
        if position >= self.end:
            return
        if token_id in self._eos:
            self.end = position
            for j in range(position, self.length):
                self.canvas[j] = None
        else:
            self.canvas[position] = token_id

    def completable(self) -> bool:
        return self._check(self.partial())

    def example_completion(self) -> bytes | None:
        """One completion of the current canvas (bytes), or None."""
        return self.grammar.example(self.partial(), self.limits)

    def text(self) -> bytes:
        """The committed bytes (masks skipped) up to the end."""
        return b"".join(self._tb[t] for t in self.canvas[: self.end] if t is not None)

    def is_complete(self) -> bool:
        """No mask before the end."""
        return all(t is not None for t in self.canvas[: self.end])
