"""A general incremental recognizer for context-free grammars over bytes, and its token masks.

`Engine` is a grammar compiled once (vocabulary independent) and shared by every compiled
grammar and matcher. It is the composition of parts with one job each:

* `constrain.grammar.normalize`: the normal form (terminal DFAs in one table, ``%ignore``,
  word boundaries, pruning, nullable);
* `constrain.grammar.earley`: `ESet` and the Earley core (`Earley`: tables, ``close``, ``step``,
  ``feed``); the engine *is* an `Earley` recognizer, so the per-byte path has no indirection;
* `constrain.grammar.signatures`: canonical ids of set futures (`Signer`, `NativeTable`: masks
  are cached per signature, and signatures propagate along bytes) and of virtual positions'
  relative content (templates);
* `constrain.grammar.walks`: token-trie walks per lexer state and the per-vocabulary caches
  (`Walker`, `VCache`);
* `constrain.grammar.masks`: mask rows from cached walks plus native closures at virtual
  positions past the chart (`MaskBuilder`);
* `constrain.grammar.limits`: `GrammarLimits` and the lock the parts share.

Lexing semantics: every split of the text into lexemes (lark Earley ``lexer="dynamic_complete"``),
any CFG (ambiguous, left/right-recursive, nullable-heavy), overlapping terminals side by side.
Ignored terminals are compiled into the grammar (`normalize`). Word boundaries (`CFG.word_chars`):
a lexeme starting after a word byte starts in a copy of its DFA's start state without the word
bytes. See ``docs/grammar-engine.md`` for costs and limits.
"""

from __future__ import annotations

from .earley import Earley, ESet
from .ir import CFG
from .limits import GrammarLimits, SharedLock
from .masks import MaskBuilder
from .normalize import literal_dfa as _literal_dfa, word_bytes  # noqa: F401  (re-exported)
from .signatures import Signer
from .walks import VCache, Walk, Walker

__all__ = ["GrammarLimits", "Engine", "ESet"]


class Engine(Earley):
    """A grammar compiled to Earley tables and terminal DFAs (vocabulary independent), with the
    mask caches its compiled grammars share.

    Parameters
    ----------
    cfg : CFG
        The grammar (IR). Validated here: undefined symbols, an empty language, terminals whose
        regex is invalid or matches nothing raise `InvalidSyntax`.
    limits : GrammarLimits

    Cost: one regex→DFA per terminal plus closures over the rules (linear in the grammar size
    times the number of nonterminals in the worst case). Pickles with its caches (the shared
    lock pickles as a fresh one).
    """

    def __init__(self, cfg: CFG, limits: GrammarLimits | None = None):
        from .normalize import normal_form

        limits = limits or GrammarLimits()
        nf = normal_form(cfg, limits)
        super().__init__(nf, limits)
        self.cfg = cfg
        self._lock = lock = SharedLock()
        self.signer = Signer(limits, lock, self._sig_trans)
        self.walker = Walker(nf, limits, lock)
        self.masks = MaskBuilder(self, self.signer, self.walker, lock)

    # ------------------------------------------------------------------ signatures
    def sig(self, chart: list, i: int = -1) -> int:
        """`Signer.sig`: a canonical id of ``chart[i]``'s future (equal ids, equal masks)."""
        return self.signer.sig(chart, i)

    # ------------------------------------------------------------------ walks and masks
    def vcache(self, vocab) -> VCache:
        """`Walker.vcache`: this engine's caches for ``vocab``."""
        return self.walker.vcache(vocab)

    def warm_single(self, vocab, vc: VCache) -> None:
        """`Walker.warm_single`: register the start states' single-state walks (made on first use)."""
        self.walker.warm_single(vocab, vc)

    def root_walk(self, vocab, L: tuple, vc: VCache | None = None) -> Walk:
        """`Walker.root_walk`: the cached whole-trie walk with lexer state ``L``."""
        return self.walker.root_walk(vocab, L, vc)

    def fill_row(self, vocab, chart: list, row, deadline: float, vc: VCache | None = None) -> None:
        """`MaskBuilder.fill_row`: the tokens whose bytes keep ``chart`` alive, into ``row``."""
        self.masks.fill_row(vocab, chart, row, deadline, vc)
