"""``Reasoning``: free thinking text until an end marker (``</think>``), then a constraint.

The language is ``[start] T end C`` where ``T`` is any text without ``end`` and ``C`` the
answer constraint; it compiles to one grammar (`constrain.compose`), the thinking part one
lexeme (a DFA of "no end marker yet", `constrain.textscan`), so whatever way the tokenizer splits
the marker (one added token, several pieces, a piece that also starts the answer), the answer
constraint starts exactly after its last byte.

Masks before the marker: every token with bytes is allowed except EOS ids and tokens that would
complete the marker and go on with bytes the answer refuses; so greedy thinking is the model's
own, and sampled thinking differs from unconstrained sampling only through the (renormalised)
mass of those tokens. With ``max_thinking_tokens``, once that many tokens are consumed without
the marker, only tokens that continue the marker are allowed (the marker is forced).
"""

from __future__ import annotations

import numpy as np

from .compose import CFGBuilder, GrammarConstraint, accepts
from .errors import InvalidSyntax, TokenRejected
from .matcher import CompiledConstraint, Matcher, as_numpy_bitmask
from .textscan import until_pattern
from .vocab import Vocabulary

__all__ = ["Reasoning", "CompiledReasoning", "ReasoningMatcher"]


class Reasoning(GrammarConstraint):
    """Free text until ``end``, then ``constraint``.

    Parameters
    ----------
    constraint
        The answer constraint (any byte-level constraint, or a str literal).
    end : str
        The end-of-thinking marker.
    start : str, optional
        A marker the output must begin with (when the prompt does not already open the thinking).
    max_thinking_tokens : int, optional
        Thinking budget in tokens (the start marker included, the end marker's tokens not).
    limits : GrammarLimits, optional

    Raises
    ------
    InvalidSyntax
        An empty ``end`` or a negative budget. UnsupportedFeature: a token-level constraint.
    """

    def __init__(self, constraint, end: str = "</think>", start: str | None = None,
                 max_thinking_tokens: int | None = None, *, limits=None):
        if not isinstance(end, str) or not end:
            raise InvalidSyntax("Reasoning needs a non-empty end marker")
        if max_thinking_tokens is not None and int(max_thinking_tokens) < 0:
            raise InvalidSyntax(f"max_thinking_tokens must be >= 0, got {max_thinking_tokens}")
        self.constraint, self.end, self.start = constraint, end, start or ""
        self.max_thinking_tokens = None if max_thinking_tokens is None else int(max_thinking_tokens)
        b = CFGBuilder()
        body = b.part(constraint)
        b.rule("~start", b.literal(self.start), b.terminal(until_pattern([end]), "think"), body)
        self._init_grammar(b.build("~start"), limits)

    def __repr__(self) -> str:
        return (f"Reasoning({self.constraint!r}, end={self.end!r}, start={self.start or None!r}, "
                f"max_thinking_tokens={self.max_thinking_tokens})")

    def cache_key(self) -> tuple:
        return super().cache_key() + (self.max_thinking_tokens,)

    def _compile(self, vocab: Vocabulary) -> CompiledConstraint:
        inner = self.grammar._compile(vocab)
        if self.max_thinking_tokens is None:
            return inner
        return CompiledReasoning(self, inner, vocab)

    def split(self, text: str | bytes) -> tuple[str, str]:
        """(thinking, answer) of an output: the text before the first end marker (start marker
        removed) and the text after it. Raises ValueError when there is no end marker."""
        text = text.decode("utf-8") if isinstance(text, bytes) else text
        if not text.startswith(self.start):
            raise ValueError(f"the output does not begin with {self.start!r}")
        i = text.find(self.end, len(self.start))
        if i < 0:
            raise ValueError(f"no end marker {self.end!r} in the output (thinking was cut short?)")
        return text[len(self.start):i], text[i + len(self.end):]

    def parse(self, text: str | bytes):
        """The answer of an output, parsed by the answer constraint's ``parse`` when it has one
        (a Pydantic instance for a `JsonSchema` of a model), else the answer text."""
        answer = self.split(text)[1]
        if not accepts(self.constraint, answer):
            raise ValueError(f"the answer {answer[:60]!r} does not match the constraint")
        p = getattr(self.constraint, "parse", None)
        return p(answer) if p is not None else answer


class CompiledReasoning(CompiledConstraint):
    """A `Reasoning` with a thinking budget: the grammar's matcher plus a token count and the
    marker's partial-match state; per-state rows of the tokens that continue the forced text are
    built on first use (one pass over the vocabulary's bytes, cached)."""

    def __init__(self, spec: Reasoning, inner, vocab: Vocabulary):
        self.spec, self.inner, self.vocab = spec, inner, vocab
        self._forced_rows: dict[bytes, np.ndarray] = {}
        marker = spec.end.encode()
        fail = [0] * (len(marker) + 1)  # KMP failure function of the marker's bytes
        k = 0
        for i in range(1, len(marker)):
            while k and marker[i] != marker[k]:
                k = fail[k]
            if marker[i] == marker[k]:
                k += 1
            fail[i + 1] = k
        self._marker, self._fail = marker, fail
        self._start = spec.start.encode()

    def matcher(self) -> "ReasoningMatcher":
        return ReasoningMatcher(self, self.inner.matcher(), [(0, 0, False)])

    def kmp(self, k: int, data: bytes) -> tuple[int, bool]:
        """Marker partial-match length after ``data`` from ``k``; True when the marker completes."""
        m, fail = self._marker, self._fail
        for byte in data:
            while k and byte != m[k]:
                k = fail[k]
            if byte == m[k]:
                k += 1
            if k == len(m):
                return k, True
        return k, False

    def forced_row(self, rest: bytes) -> np.ndarray:
        """Bitmask row of the tokens whose bytes are a prefix of ``rest`` or extend it."""
        row = self._forced_rows.get(rest)
        if row is None:
            ok = np.zeros(self.vocab.size, dtype=bool)
            for i, tb in enumerate(self.vocab.token_bytes):
                if tb and (rest.startswith(tb) or tb.startswith(rest)):
                    ok[i] = True
            from .bitmask import bool_to_bitmask

            row = bool_to_bitmask(ok).reshape(-1)
            self._forced_rows[rest] = row
        return row


class ReasoningMatcher(Matcher):
    """Grammar matcher plus, per consumed token, ``(bytes consumed, marker match, marker done)``.

    Costs: the inner grammar matcher's, plus a scan of each token's bytes while thinking and,
    once the budget is spent, an AND with a cached row per marker state."""

    byte_prefix_closed = True

    def __init__(self, compiled: CompiledReasoning, inner, hist):
        self._c, self._inner, self._hist = compiled, inner, hist
        self.vocab = compiled.vocab

    @property
    def num_tokens(self) -> int:
        return self._inner.num_tokens

    def _forced_rest(self) -> bytes | None:
        n, k, done = self._hist[-1]
        c = self._c
        if done or c.spec.max_thinking_tokens is None or len(self._hist) - 1 < c.spec.max_thinking_tokens:
            return None
        pending_start = c._start[n:] if n < len(c._start) else b""
        return pending_start + c._marker[k:]

    def allows(self, token_id: int) -> bool:
        rest = self._forced_rest()
        if rest is not None and 0 <= int(token_id) < self.vocab.size:
            row = self._c.forced_row(rest)
            t = int(token_id)
            if not (int(row[t >> 5]) >> (t & 31)) & 1:
                return False
        return self._inner.allows(token_id)

    def fill_mask(self, bitmask, row: int = 0) -> None:
        self._inner.fill_mask(bitmask, row)
        rest = self._forced_rest()
        if rest is not None:
            bm = as_numpy_bitmask(bitmask)
            bm[row] &= self._c.forced_row(rest)

    def advance(self, token_id: int) -> None:
        if self._forced_rest() is not None and not self.allows(token_id):
            raise TokenRejected(f"token {token_id} does not continue the forced end marker "
                                f"(thinking budget of {self._c.spec.max_thinking_tokens} tokens spent)")
        self._inner.advance(token_id)
        n, k, done = self._hist[-1]
        if not done:
            data = self.vocab.token_bytes[int(token_id)] or b""
            c = self._c
            skip = max(0, min(len(data), len(c._start) - n))
            k, done = c.kmp(k, data[skip:])
            n += len(data)
        self._hist.append((n, k, done))

    def rollback(self, n: int = 1) -> None:
        self._inner.rollback(n)
        if n:
            del self._hist[-n:]

    def fork(self) -> "ReasoningMatcher":
        return ReasoningMatcher(self._c, self._inner.fork(), self._hist.copy())

    def is_accepting(self) -> bool:
        return self._inner.is_accepting()

    def is_terminated(self) -> bool:
        return self._inner.is_terminated()

    @property
    def thinking_done(self) -> bool:
        """Whether the end marker has been written."""
        return self._hist[-1][2]
