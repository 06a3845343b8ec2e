"""The grammar intermediate representation shared by the front ends (Lark, GBNF) and the engine.

A `CFG` is plain BNF over named symbols: every EBNF operator (``?``, ``*``, ``+``, ``[...]``,
``{m,n}``, groups, inline alternations) is expanded by the front end into helper nonterminals, and
every terminal is a regular language given in Python ``re`` syntax (so the engine compiles it with
`constrain.regex`). Terminal and nonterminal names are disjoint; a symbol is a terminal exactly when
it is a key of ``CFG.terminals``.

Lexing semantics (what the engine implements, and what tests compare against lark's Earley parser
with ``lexer="dynamic_complete"``): the output text must split into a sequence of lexemes, each
matching one terminal (or an ``ignore`` terminal, which may appear between any two lexemes and at
both ends), such that the sequence of non-ignored terminals is derivable from ``start``. Every
split is considered (no longest-match rule), unless the grammar asks for priorities, which the
front end either honours by construction or refuses with `UnsupportedFeature`. One exception:
``CFG.word_chars`` (a regex of one ASCII character class, e.g. ``[A-Za-z0-9_$]``), when set,
forbids a split between two word characters: two lexemes may not meet where the last character
of one and the first of the next are both word characters (so ``SELECTa`` is one word, never
``SELECT`` + ``a``; adjacent word-like lexemes need a separator, as in SQL or C tokenizers).

This module is a contract: change it only on purpose, in every front end and engine at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Terminal:
    """A terminal: ``pattern`` is Python ``re`` syntax (a literal string is ``re.escape``d);
    ``flags`` are ``re`` flags (``re.IGNORECASE`` for Lark's ``"select"i``). ``literal`` keeps the
    original string for literals (None for regex terminals), for error messages and translation to
    other engines' syntaxes. ``priority`` is kept for information (the default lexing ignores it)."""

    name: str
    pattern: str
    flags: int = 0
    literal: str | None = None
    priority: int = 0
    # a prebuilt `constrain.regex.ByteDFA` of the same language as ``pattern``, used instead of
    # compiling the pattern (the JSON Schema compiler's exact products of a pattern with length
    # bounds, whose pattern text uses a lookahead only Python ``re`` reads)
    dfa: object = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Rule:
    """``lhs -> rhs``; an empty ``rhs`` derives the empty string. ``origin`` is the user-visible
    rule the production came from (for helper rules made from EBNF), for error messages."""

    lhs: str
    rhs: tuple[str, ...]
    origin: str | None = None


@dataclass(frozen=True)
class CFG:
    start: str
    rules: tuple[Rule, ...]
    terminals: dict[str, Terminal] = field(default_factory=dict)
    ignore: tuple[str, ...] = ()  # terminal names that may appear between lexemes and are skipped
    word_chars: str = ""  # one ASCII character class: no lexeme boundary between two of them

    def is_terminal(self, symbol: str) -> bool:
        return symbol in self.terminals

    def rules_for(self, lhs: str) -> list[Rule]:
        return [r for r in self.rules if r.lhs == lhs]

    @property
    def nonterminals(self) -> list[str]:
        seen: dict[str, None] = {}
        for r in self.rules:
            seen.setdefault(r.lhs, None)
        return list(seen)

    def to_text(self) -> str:
        """A readable dump (one production per line), for debugging and round-trip tests."""
        lines = [f"start: {self.start}"]
        for r in self.rules:
            lines.append(f"{r.lhs} -> {' '.join(r.rhs) if r.rhs else 'ε'}")
        for t in self.terminals.values():
            lines.append(f"{t.name} = /{t.pattern}/{'i' if t.flags & 2 else ''}")
        if self.ignore:
            lines.append(f"%ignore {' '.join(self.ignore)}")
        if self.word_chars:
            lines.append(f"word chars /{self.word_chars}/")
        return "\n".join(lines)
