"""The one grammar normal form: what every consumer of a `CFG` (the Earley engine, infilling, the
front ends' checks, the testing helpers, the schema compiler) derives from it, written once.

`normal_form(cfg, limits)` gives a `NormalForm`:

* the terminal table: one minimal byte DFA per used terminal, concatenated into one transition
  table (``trans``, ``acc``, ``term_of``, start states ``q0``); a terminal whose first byte may be
  a word character (`CFG.word_chars`) gets a second start state without those bytes (``q0w``),
  used where the previous byte is a word character (so no lexeme boundary falls between two word
  characters: a property of the position, exact);
* the ``%ignore`` transform, in one convention: every terminal ``t`` in a rule becomes
  ``_W_t -> IGS t`` and the start ``_S' -> start IGS``. ``IGS`` is one nullable terminal whose
  language is ``(I1 | I2 | ...)*`` (all splits of a run of ignored lexemes are one lexeme, so a
  run of n ignored bytes costs O(1) Earley items per byte, not O(n)) when no ignored terminal may
  start with a word byte (then no split inside a run is forbidden, so the star is exact);
  otherwise ``IGS -> ε | IGS I`` as rules;
* runs of a repeated terminal: a nonterminal whose rules are exactly ``R -> R t | t`` (or
  ``R -> t R | t``; lark's ``t+``) with ``T·T ⊆ T`` (``T·IGS·T ⊆ T`` under ``%ignore``; checked on
  the DFAs) derives exactly ``T``: its rules become ``R -> t``, one lexeme per run;
* productive / reachable pruning (linear worklists), symbol numbering (terminals first), and
  nullable symbols.

Everything is plain containers and numpy arrays (picklable). Costs: one regex→DFA per terminal
(process-wide cache), the rest linear in the grammar size.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidSyntax, LimitExceeded
from .ir import CFG

__all__ = ["NormalForm", "normal_form", "productive_symbols", "reachable_symbols",
           "nullable_symbols", "word_bytes", "literal_dfa", "START", "IGS"]

START = "\x00S'"
IGS = "\x00IGS"  # the ignore run (a terminal when the star is exact, else a nonterminal)
_FLAG_LETTERS = ((re.IGNORECASE, "i"), (re.MULTILINE, "m"), (re.DOTALL, "s"), (re.VERBOSE, "x"),
                 (re.ASCII, "a"))


# ------------------------------------------------------------------ generic fixpoints (linear)
def productive_symbols(rules, is_terminal) -> set:
    """Nonterminals deriving some terminal string. ``rules``: ``(lhs, rhs)`` pairs. O(size)."""
    missing = []
    users: dict = {}
    prod: set = set()
    ready = []
    for k, (lhs, rhs) in enumerate(rules):
        need = 0
        for s in set(rhs):
            if not is_terminal(s):
                need += 1
                users.setdefault(s, []).append(k)
        missing.append(need)
        if need == 0:
            ready.append(k)
    while ready:
        a = rules[ready.pop()][0]
        if a in prod:
            continue
        prod.add(a)
        for k in users.get(a, ()):
            missing[k] -= 1
            if missing[k] == 0:
                ready.append(k)
    return prod


def nullable_symbols(rules, nullable_terminals=()) -> set:
    """Symbols deriving the empty string (``nullable_terminals`` seed it). O(grammar size)."""
    base = set(nullable_terminals)
    missing = []
    users: dict = {}
    ready = []
    for k, (lhs, rhs) in enumerate(rules):
        need = 0
        for s in set(rhs):
            if s not in base:
                need += 1
                users.setdefault(s, []).append(k)
        missing.append(need)
        if need == 0:
            ready.append(k)
    out = set(base)
    while ready:
        a = rules[ready.pop()][0]
        if a in out:
            continue
        out.add(a)
        for k in users.get(a, ()):
            missing[k] -= 1
            if missing[k] == 0:
                ready.append(k)
    return out


def reachable_symbols(rules, start) -> set:
    """Symbols reachable from ``start`` (terminals included). O(size)."""
    by_lhs: dict = {}
    for lhs, rhs in rules:
        by_lhs.setdefault(lhs, []).append(rhs)
    seen = {start}
    stack = [start]
    while stack:
        for rhs in by_lhs.get(stack.pop(), ()):
            for s in rhs:
                if s not in seen:
                    seen.add(s)
                    stack.append(s)
    return seen


# ------------------------------------------------------------------ terminals
class _ChainDFA:
    """A literal's DFA (same interface as `constrain.regex.automata.ByteDFA`)."""

    __slots__ = ("transitions", "accepting")

    def __init__(self, transitions, accepting):
        self.transitions = transitions
        self.accepting = accepting

    @property
    def n_states(self) -> int:
        return int(self.transitions.shape[0])


_CHAR_DFAS: dict = {}  # (char, flags) -> (transitions, accepting-state index): tiny, bounded


def literal_dfa(lit: str, flags: int, rl):
    """The minimal DFA of a literal, glued from the (cached) DFAs of its characters: each is the
    regex engine's own DFA of that escaped character (so case folding is exactly the regex
    engine's), a prefix-free language with one final state without transitions, which becomes the
    start of the next character's. O(len(lit)) regex-free work after the first use of a
    character. None when the flags are not 0 / IGNORECASE (the caller uses the regex engine)."""
    from ..regex import Regex

    if flags & ~re.IGNORECASE:
        return None
    parts = []
    for ch in lit:
        key = (ch, flags)
        d = _CHAR_DFAS.get(key)
        if d is None:
            dfa = Regex(re.escape(ch), flags=flags, limits=rl).dfa
            tr = dfa.transitions
            fin = np.flatnonzero(dfa.accepting)
            if len(fin) != 1 or (tr[fin[0]] >= 0).any() or dfa.accepting[0]:
                return None
            nonfin = [s for s in range(tr.shape[0]) if s != fin[0]]
            d = (tr[nonfin], np.asarray(nonfin), int(fin[0]), tr.shape[0])
            if len(_CHAR_DFAS) < 4096:
                _CHAR_DFAS[key] = d
        parts.append(d)
    n = sum(k - 1 for _, _, _, k in parts) + 1
    trans = np.full((n, 256), -1, dtype=np.int32)
    off = 0
    for sub, nonfin, fin, k in parts:
        # local state s -> off + rank of s among the non-final states; the final -> next start
        loc = np.empty(k, dtype=np.int32)
        loc[nonfin] = off + np.arange(k - 1, dtype=np.int32)
        loc[fin] = off + k - 1
        trans[off:off + k - 1] = np.where(sub >= 0, loc[np.maximum(sub, 0)], -1)
        off += k - 1
    acc = np.zeros(n, dtype=np.bool_)
    acc[n - 1] = True
    return _ChainDFA(trans, acc)


def word_bytes(word_chars: str, rl=None) -> np.ndarray:
    """bool[256]: the bytes of `CFG.word_chars` (empty: none). The class must match single ASCII
    characters only (then a byte decides it exactly); else `InvalidSyntax`."""
    word = np.zeros(256, dtype=np.bool_)
    if not word_chars:
        return word
    from ..regex.api import regex_dfa

    dfa = regex_dfa(word_chars, 0, rl)
    nxt = dfa.transitions[0]
    ok = nxt[128:].max() < 0 and all(dfa.accepting[q] and dfa.transitions[q].max() < 0
                                      for q in nxt[:128] if q >= 0)
    if not ok or not (nxt >= 0).any():
        raise InvalidSyntax(f"word characters {word_chars!r} must be one class of ASCII characters")
    word[:128] = nxt[:128] >= 0
    return word


def _scoped(pattern: str, flags: int) -> str | None:
    """``pattern`` with its flags inlined as a scoped group, or None for flags that cannot be."""
    letters = ""
    rest = flags
    for bit, ch in _FLAG_LETTERS:
        if flags & bit:
            letters += ch
            rest &= ~bit
    if rest & ~re.UNICODE:
        return None
    return f"(?{letters}:{pattern})" if letters else f"(?:{pattern})"


def _terminal_dfa(name: str, t, rl):
    from ..regex.api import regex_dfa

    if getattr(t, "dfa", None) is not None:
        return t.dfa
    dfa = literal_dfa(t.literal, t.flags, rl) if t.literal and t.pattern == re.escape(t.literal) else None
    if dfa is None:
        try:
            dfa = regex_dfa(t.pattern, t.flags, rl)
        except InvalidSyntax as e:
            raise InvalidSyntax(f"terminal {name!r}: {e}") from e
    return dfa


def _includes(tr_a, acc_a, a0: int, tr_b, acc_b, b0: int) -> bool:
    """Whether L(A from a0) ⊆ L(B from b0); A trimmed (every state co-reachable). O(|A|·|B|·256)."""
    seen = {(a0, b0)}
    stack = [(a0, b0)]
    while stack:
        a, b = stack.pop()
        if acc_a[a] and not acc_b[b]:
            return False
        ta = tr_a[a]
        m = ta >= 0
        tb = tr_b[b]
        if (tb[m] < 0).any():
            return False
        for pair in set(zip(ta[m].tolist(), tb[m].tolist())):
            if pair not in seen:
                seen.add(pair)
                stack.append(pair)
    return True


def _closed_under_concat(dfa, between=None) -> bool:
    """``T·T ⊆ T`` (``T·X·T ⊆ T`` when ``between``, the DFA of X·T, is given)."""
    tr, acc = dfa.transitions, dfa.accepting
    a = between if between is not None else dfa
    return all(_includes(a.transitions, a.accepting, 0, tr, acc, int(f)) for f in np.flatnonzero(acc))


# ------------------------------------------------------------------ the normal form
@dataclass
class NormalForm:
    """A `CFG` normalised (see the module docstring). Symbols are numbered terminals first
    (``0 .. n_terms-1``, in ``names`` order), then nonterminals; ``rules`` are ``(lhs, rhs)``
    id tuples, the start rule first (lhs ``start``). DFA arrays: ``trans`` int32 [G, 256] (-1
    dead), ``acc`` bool [G], ``term_of`` int32 [G], ``q0`` / ``q0w`` int32 [n_terms] (start state;
    start state after a word byte), ``word`` bool [256]."""

    names: list
    n_terms: int
    rules: list
    start: int
    nullable: list
    trans: np.ndarray
    acc: np.ndarray
    term_of: np.ndarray
    q0: np.ndarray
    q0w: np.ndarray
    word: np.ndarray
    dfas: list = None  # per terminal (names order): its minimal byte DFA (transitions, accepting)
    ignore_terminal: int = -1  # id of the IGS star terminal, -1 when ignores are rules (or none)
    collapsed: tuple = ()  # nonterminals whose run rules became one lexeme

    @property
    def n_syms(self) -> int:
        return len(self.names)


def _check_symbols(cfg: CFG) -> None:
    terms = cfg.terminals
    for name in cfg.ignore:
        if name not in terms:
            raise InvalidSyntax(f"%ignore names an undefined terminal {name!r}")
    nts = {r.lhs for r in cfg.rules}
    if cfg.start not in nts:
        raise InvalidSyntax(f"start symbol {cfg.start!r} has no rule")
    for r in cfg.rules:
        for s in r.rhs:
            if s not in nts and s not in terms:
                raise InvalidSyntax(f"rule {r.lhs!r} uses undefined symbol {s!r}"
                                    + (f" (from {r.origin!r})" if r.origin else ""))


def _ignore_star(cfg: CFG, dfas: dict, word, rl):
    """The DFA of ``(I1|I2|...)*`` when exact (no ignored terminal may start with a word byte),
    else None."""
    from ..regex.api import regex_dfa

    parts = []
    for name in cfg.ignore:
        if word[dfas[name].transitions[0] >= 0].any():
            return None
        t = cfg.terminals[name]
        p = _scoped(t.pattern, t.flags)
        if p is None:
            return None
        parts.append(p)
    try:
        return regex_dfa(f"(?:{'|'.join(parts)})*", 0, rl)
    except (InvalidSyntax, LimitExceeded):
        return None


def _collapse_runs(rules: list, dfas: dict, star, rl) -> tuple[list, tuple]:
    """Rules ``R -> R t | t`` / ``R -> t R | t`` with ``T·T ⊆ T`` (under ignores, ``T·IGS·T ⊆ T``)
    become ``R -> t``. ``rules``: ``(lhs, rhs, origin)`` triples."""
    by_lhs: dict = {}
    for lhs, rhs, _ in rules:
        by_lhs.setdefault(lhs, []).append(rhs)
    done = {}
    for lhs, alts in by_lhs.items():
        if len(alts) != 2:
            continue
        one = [a for a in alts if len(a) == 1]
        two = [a for a in alts if len(a) == 2]
        if len(one) != 1 or len(two) != 1:
            continue
        t = one[0][0]
        if t not in dfas or two[0] not in ((lhs, t), (t, lhs)):
            continue
        between = None
        if star is not None:
            between = _concat_dfa(star, dfas[t])
            if between is None:
                continue
        if _closed_under_concat(dfas[t], between):
            done[lhs] = t
    if not done:
        return rules, ()
    out = [r for r in rules if r[0] not in done]
    out += [(lhs, (t,), None) for lhs, t in done.items()]
    return out, tuple(sorted(done))


def _concat_dfa(a, b):
    """A trimmed DFA-like object for L(a)·L(b) by product with subset tracking, or None if large."""
    ta, aa, tb, ab = a.transitions, a.accepting, b.transitions, b.accepting
    states: dict = {}
    order = []

    def sid(x, ys):
        key = (x, ys)
        s = states.get(key)
        if s is None:
            if len(states) > 4096:
                raise OverflowError
            s = states[key] = len(order)
            order.append(key)
        return s

    def with_start(x, ys):
        return tuple(sorted(set(ys) | {0})) if x >= 0 and aa[x] else ys

    try:
        sid(0, with_start(0, ()))
        rows = []
        i = 0
        while i < len(order):
            x, ys = order[i]
            i += 1
            row = np.full(256, -1, dtype=np.int32)
            for c in range(256):
                x2 = int(ta[x, c]) if x >= 0 else -1
                ys2 = tuple(sorted({int(tb[y, c]) for y in ys if tb[y, c] >= 0}))
                if x2 < 0 and not ys2:
                    continue
                row[c] = sid(x2, with_start(x2, ys2))
            rows.append(row)
    except OverflowError:
        return None
    trans = np.stack(rows)
    acc = np.array([any(ab[y] for y in ys) for _, ys in order], dtype=np.bool_)
    return _ChainDFA(trans, acc)


def _terminal_table(tnames: list, dfas: list, word: np.ndarray, limits):
    """The terminals' DFAs in one table (vectorised: one concatenation and offset for all), then
    per terminal whose start state reads a word byte a copy of that start without them."""
    sizes = np.fromiter((d.n_states for d in dfas), dtype=np.int64, count=len(dfas))
    total = int(sizes.sum())
    if total > limits.max_dfa_states:
        raise LimitExceeded("max_dfa_states", limits.max_dfa_states,
                            f"the terminals need {total} DFA states")
    if not dfas:
        z = np.zeros(0, dtype=np.int32)
        return np.full((1, 256), -1, dtype=np.int32), np.zeros(1, dtype=np.bool_), np.zeros(1, dtype=np.int32), z, z.copy()
    q0 = np.zeros(len(dfas), dtype=np.int64)
    np.cumsum(sizes[:-1], out=q0[1:])
    starts = np.stack([d.transitions[0] for d in dfas])
    sw = np.flatnonzero(((starts >= 0) & word[None, :]).any(axis=1))
    trans = np.empty((total + len(sw), 256), dtype=np.int32)
    base = trans[:total]
    np.concatenate([d.transitions for d in dfas], out=base)
    dead = base < 0
    base += np.repeat(q0.astype(np.int32), sizes)[:, None]
    base[dead] = -1
    trans[total:] = np.where(word[None, :], np.int32(-1), base[q0[sw]])
    acc = np.concatenate([d.accepting for d in dfas] + [np.zeros(len(sw), dtype=np.bool_)]).astype(np.bool_, copy=False)
    acc[total:] = acc[q0[sw]]
    term_of = np.concatenate([np.repeat(np.arange(len(dfas), dtype=np.int32), sizes), sw.astype(np.int32)])
    q0w = q0.copy()
    q0w[sw] = total + np.arange(len(sw))
    return trans, acc, term_of, q0.astype(np.int32), q0w.astype(np.int32)


def normal_form(cfg: CFG, limits=None, dfas: dict | None = None, allow_empty: bool = False) -> NormalForm:
    """Normalise ``cfg`` (see the module docstring). ``limits``: a `GrammarLimits` (DFA state
    bounds; ``compile_max_seconds`` is checked between terminals); ``dfas``: terminal name ->
    DFA to use instead of building one from its pattern; ``allow_empty``: an empty language gives
    a start without rules instead of an error. Raises `InvalidSyntax` for undefined symbols, invalid terminals and an
    empty language."""
    from ..regex.automata import RegexLimits
    from .limits import GrammarLimits

    limits = limits or GrammarLimits()
    _check_symbols(cfg)
    terms = cfg.terminals
    rl = RegexLimits(max_dfa_states=limits.regex_max_dfa_states, max_seconds=limits.compile_max_seconds)
    used = sorted({s for r in cfg.rules for s in r.rhs if s in terms} | set(cfg.ignore))
    given = dfas or {}
    dfas = {}
    deadline = time.perf_counter() + limits.compile_max_seconds
    for n in used:
        dfas[n] = given[n] if n in given else _terminal_dfa(n, terms[n], rl)
        if time.perf_counter() > deadline:
            raise LimitExceeded("compile_max_seconds", limits.compile_max_seconds,
                                f"building the grammar's terminal DFAs (at {n!r})")
    word = word_bytes(cfg.word_chars, rl)
    star = _ignore_star(cfg, dfas, word, rl) if cfg.ignore else None
    rules = [(r.lhs, tuple(r.rhs), r.origin) for r in cfg.rules]
    rules, collapsed = _collapse_runs(rules, dfas, star if cfg.ignore else None, rl) \
        if (star is not None or not cfg.ignore) else (rules, ())
    is_term = dfas.__contains__
    # --- ignore transform: t -> _W_t -> IGS t; start -> start IGS
    if cfg.ignore:
        out = []
        wrapped: dict = {}
        for lhs, rhs, origin in rules:
            out.append((lhs, tuple(wrapped.setdefault(s, f"\x00W:{s}") if is_term(s) else s
                                   for s in rhs)))
        out += [(w, (IGS, s)) for s, w in wrapped.items()]
        if star is not None:
            dfas = {n: d for n, d in dfas.items() if n not in cfg.ignore or n in wrapped}
            dfas[IGS] = star
        else:
            out.append((IGS, ()))
            out += [(IGS, (IGS, s)) for s in cfg.ignore]
        rules = [(START, (cfg.start, IGS))] + out
    else:
        rules = [(START, (cfg.start,))] + [(lhs, rhs) for lhs, rhs, _ in rules]
    is_term = dfas.__contains__
    # --- productive, reachable
    prod = productive_symbols(rules, is_term)
    if START not in prod and not allow_empty:
        raise InvalidSyntax(f"the grammar's language is empty (start {cfg.start!r} derives no string)")
    rules = [r for r in rules if r[0] in prod and all(is_term(s) or s in prod for s in r[1])]
    reach = reachable_symbols(rules, START)
    rules = [r for r in rules if r[0] in reach]
    if not rules:  # the empty language (allow_empty): the start alone
        reach = {START}
    # --- numbering
    tnames = sorted(n for n in dfas if n in reach)
    ntnames = list(dict.fromkeys([START] + [lhs for lhs, _ in rules]))
    sid = {n: i for i, n in enumerate(tnames + ntnames)}
    dlist = [dfas[n] for n in tnames]
    trans, acc, term_of, q0, q0w = _terminal_table(tnames, dlist, word, limits)
    num_rules = [(sid[lhs], tuple(sid[s] for s in rhs)) for lhs, rhs in rules]
    null_t = [i for i, d in enumerate(dlist) if d.accepting[0]]
    nullable_set = nullable_symbols(num_rules, null_t)
    nullable = [i in nullable_set for i in range(len(sid))]
    return NormalForm(names=tnames + ntnames, n_terms=len(tnames), rules=num_rules,
                      start=sid[START], nullable=nullable, trans=trans, acc=acc, term_of=term_of,
                      q0=q0, q0w=q0w, word=word, dfas=dlist,
                      ignore_terminal=sid.get(IGS, -1) if star is not None else -1,
                      collapsed=collapsed)
