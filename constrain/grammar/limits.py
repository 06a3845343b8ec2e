"""`GrammarLimits`: the explicit bounds of a compiled grammar, and the lock its caches share."""

from __future__ import annotations

import _thread
from dataclasses import dataclass

__all__ = ["GrammarLimits", "SharedLock"]


@dataclass(frozen=True)
class GrammarLimits:
    """Explicit bounds; exceeding one raises `constrain.LimitExceeded` (never a hang).

    Attributes
    ----------
    max_dfa_states : int
        Total states of all terminal DFAs together (checked at compile time).
    max_lexer_states : int
        Distinct lexer states (sets of live terminal-DFA states) a compiled grammar may cache token
        walks for, over its lifetime.
    max_items_per_position : int
        Earley items (explicit + predicted nonterminals + scan items) in one byte position's set.
    max_items_total : int
        Earley items in one matcher's whole chart.
    mask_time_budget_s : float
        Wall-clock budget of one ``fill_mask`` (checked between parser steps) and one ``allows``.
    regex_max_dfa_states : int
        Per-terminal DFA construction bound (passed to `constrain.regex.RegexLimits`).
    max_signatures : int
        Size of the table interning chart-set signatures (cleared when full; ids stay unique).
    mask_cache_bytes : int
        Memory for whole masks cached per chart signature, per vocabulary (cleared when full).
    compile_max_seconds : float
        Wall-clock budget of building the terminal DFAs (regex parsing included), per terminal
        and for all of them together.
    parse_time_budget_s : float
        Wall-clock budget of one ``Grammar.accepts`` (``advance`` uses ``mask_time_budget_s``).
    """

    max_dfa_states: int = 200_000
    max_lexer_states: int = 20_000
    max_items_per_position: int = 200_000
    max_items_total: int = 20_000_000
    mask_time_budget_s: float = 2.0
    regex_max_dfa_states: int = 50_000
    max_signatures: int = 1_000_000
    mask_cache_bytes: int = 64 << 20
    compile_max_seconds: float = 30.0
    parse_time_budget_s: float = 60.0


class SharedLock(_thread.RLock):
    """The lock an engine's parts share for their cache updates. Pickles as a fresh lock (one per
    pickled engine: the parts holding it unpickle holding one lock again); re-entrant."""

    __slots__ = ()

    def __reduce__(self):
        return (SharedLock, ())
