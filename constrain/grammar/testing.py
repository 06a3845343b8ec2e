"""Test support for grammars: a `CFG` back to Lark text (to run lark's Earley parser on it as an
oracle), random sentences derived from a `CFG`, and mutations of them.

Nothing here is used at generation time; front-end and engine tests share it.

Example
-------
>>> cfg = lark_to_cfg(text)                                      # doctest: +SKIP
>>> oracle = lark_parser(cfg)                                    # doctest: +SKIP
>>> for s in random_sentences(cfg, 50, seed=1):                  # doctest: +SKIP
...     assert lark_accepts(oracle, s) == engine_accepts(s)
"""

from __future__ import annotations

import random
import re
from typing import Iterable

from .ir import CFG

try:  # Python >= 3.11
    from re import _constants as _C, _parser as _sre_parse
except ImportError:  # pragma: no cover
    import sre_constants as _C  # type: ignore[no-redef]
    import sre_parse as _sre_parse  # type: ignore[no-redef]

__all__ = ["cfg_to_lark", "lark_parser", "lark_accepts", "AllSplitsRecognizer", "random_sentences", "random_lexeme",
           "mutate", "min_heights"]

_REGEX_SPECIAL = set(".^$*+?{}[]\\|()-/#&~ \t\n\r\f\v")
_FLAG_LETTERS = ((re.IGNORECASE, "i"), (re.DOTALL, "s"), (re.MULTILINE, "m"), (re.VERBOSE, "x"))


def _lark_regex_body(pattern: str) -> str:
    """``pattern`` written inside a Lark ``/.../`` literal so that lark's unescaping gives back
    a regex with the same meaning."""
    out = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            d = pattern[i + 1]
            width = {"x": 2, "u": 4, "U": 8}.get(d)
            if width and re.fullmatch(r"[0-9a-fA-F]{%d}" % width, pattern[i + 2:i + 2 + width]):
                ch = chr(int(pattern[i + 2:i + 2 + width], 16))
                out.append(_lark_char(ch))
                i += 2 + width
                continue
            out.append(_lark_char(d) if ord(d) < 0x20 or ord(d) == 0x7F else c + d)
            i += 2
            continue
        out.append(_lark_char(c) if c in "/" or ord(c) < 0x20 or ord(c) == 0x7F else c)
        i += 1
    return "".join(out)


def _lark_char(ch: str) -> str:
    if ch == "/":
        return "\\/"
    if ord(ch) < 0x20 or ord(ch) == 0x7F:
        return "\\x%02x" % ord(ch)
    if ch in _REGEX_SPECIAL:
        return "\\" + ch
    return ch


def cfg_to_lark(cfg: CFG) -> str:
    """Lark text with the language of `cfg` (start rule ``start``).

    Nonterminals become ``n<k>`` (``start`` derives the CFG's start symbol), terminals ``T<k>``,
    each a ``/regex/flags`` literal; ``%ignore`` is kept. Parse it with
    ``Lark(text, parser="earley", lexer="dynamic_complete")`` (see `lark_parser`).
    ``CFG.word_chars`` is not kept (lark has no equivalent): lark then accepts a superset.
    """
    nts = {nt: f"n{k}" for k, nt in enumerate(cfg.nonterminals)}
    ts = {t: f"T{k}" for k, t in enumerate(cfg.terminals)}
    name = {**nts, **ts}
    lines = [f"start: {nts[cfg.start]}"]
    by_lhs: dict[str, list[str]] = {}
    for r in cfg.rules:
        by_lhs.setdefault(r.lhs, []).append(" ".join(name[s] for s in r.rhs))
    for lhs, alts in by_lhs.items():
        lines.append(f"{nts[lhs]}: " + "\n    | ".join(alts))
    for t in cfg.terminals.values():
        flags = "".join(letter for bit, letter in _FLAG_LETTERS if t.flags & bit)
        lines.append(f"{ts[t.name]}: /{_lark_regex_body(t.pattern)}/{flags}")
    for t in cfg.ignore:
        lines.append(f"%ignore {ts[t]}")
    return "\n".join(lines) + "\n"


def lark_parser(cfg_or_text: CFG | str, start: str = "start", **kw):
    """lark's Earley parser with the ``dynamic_complete`` lexer, for a `CFG` (via `cfg_to_lark`)
    or for Lark text as given."""
    from lark import Lark

    text = cfg_to_lark(cfg_or_text) if isinstance(cfg_or_text, CFG) else cfg_or_text
    if isinstance(cfg_or_text, CFG):
        start = "start"
    return Lark(text, parser="earley", lexer="dynamic_complete", start=start, **kw)


def lark_accepts(parser, text: str) -> bool:
    """Whether lark's `parser` accepts ``text`` (any lark parse error counts as a refusal; lark's
    "multiple start symbol items" RuntimeError, raised after a successful parse of an ambiguous
    text, counts as acceptance)."""
    from lark.exceptions import LarkError

    try:
        parser.parse(text)
        return True
    except LarkError:
        return False
    except RuntimeError as e:  # lark bug: several complete start items, i.e. accepted anyway
        if "multiple start symbol" in str(e):
            return True
        raise


# -- random lexemes --------------------------------------------------------------------------

_POOL = (list("abcxyzABCXYZ019_ -+*/.,;:'\"\\()[]{}<>=!?#@$%&|^~`\t\n")
         + ["é", "ß", "Ω", "日", "本", "😀", "\r", "\x00", "\x7f", "\u00a0", "\u2028"])


def _in_set(ch: str, items, flags: int) -> bool:
    cands = ({c for c in (ch, ch.lower(), ch.upper()) if len(c) == 1}  # 'ß'.upper() == 'SS'
             if flags & re.IGNORECASE else {ch})
    for op, av in items:
        if op is _C.LITERAL and any(ord(c) == av for c in cands):
            return True
        if op is _C.RANGE and any(av[0] <= ord(c) <= av[1] for c in cands):
            return True
        if op is _C.CATEGORY:
            rx = {_C.CATEGORY_DIGIT: r"\d", _C.CATEGORY_NOT_DIGIT: r"\D",
                  _C.CATEGORY_SPACE: r"\s", _C.CATEGORY_NOT_SPACE: r"\S",
                  _C.CATEGORY_WORD: r"\w", _C.CATEGORY_NOT_WORD: r"\W"}.get(av)
            if rx and re.fullmatch(rx, ch):
                return True
    return False


def _sample_char_from(items, negate: bool, flags: int, rng: random.Random) -> str:
    if not negate:
        pos = [(op, av) for op, av in items if op is not _C.NEGATE]
        op, av = rng.choice(pos)
        if op is _C.LITERAL:
            return chr(av)
        if op is _C.RANGE:
            lo, hi = av
            if rng.random() < 0.7:
                return chr(rng.randint(lo, min(hi, lo + 30)))
            return chr(rng.randint(lo, hi))
        if op is _C.CATEGORY:
            pool = [c for c in _POOL if _in_set(c, [(op, av)], 0)]
            return rng.choice(pool or ["a"])
        raise ValueError(op)
    for _ in range(200):
        ch = rng.choice(_POOL)
        if not _in_set(ch, items, flags):
            return ch
    return "\U0001F600"


def _sample(tree, flags: int, rng: random.Random, max_repeat: int) -> str:
    out = []
    for op, av in tree:
        if op is _C.LITERAL:
            ch = chr(av)
            out.append(ch.swapcase() if flags & re.IGNORECASE and rng.random() < 0.3 else ch)
        elif op is _C.NOT_LITERAL:
            out.append(_sample_char_from([(_C.LITERAL, av)], True, flags, rng))
        elif op is _C.ANY:
            ch = rng.choice(_POOL)
            out.append(ch if ch != "\n" or flags & re.DOTALL else "a")
        elif op is _C.IN:
            negate = any(o is _C.NEGATE for o, _ in av)
            out.append(_sample_char_from([x for x in av if x[0] is not _C.NEGATE], negate,
                                         flags, rng))
        elif op is _C.BRANCH:
            out.append(_sample(rng.choice(av[1]), flags, rng, max_repeat))
        elif op is _C.SUBPATTERN:
            add, remove = av[1], av[2]
            out.append(_sample(av[3], (flags | add) & ~remove, rng, max_repeat))
        elif op in (_C.MAX_REPEAT, _C.MIN_REPEAT) or op is getattr(_C, "POSSESSIVE_REPEAT", None):
            lo, hi, sub = av
            hi = lo + max_repeat if hi is _C.MAXREPEAT else min(hi, lo + max_repeat)
            k = rng.randint(lo, hi) if rng.random() < 0.8 else lo
            out.extend(_sample(sub, flags, rng, max_repeat) for _ in range(k))
        elif op is _C.AT:
            pass
        elif op is _C.CATEGORY:
            out.append(_sample_char_from([(op, av)], False, flags, rng))
        else:
            raise ValueError(f"cannot sample regex op {op}")
    return "".join(out)


def random_lexeme(pattern: str, flags: int, rng: random.Random, *, max_repeat: int = 4,
                  tries: int = 50) -> str | None:
    """A random string that ``re.fullmatch(pattern, s, flags)`` accepts (None if none found)."""
    tree = _sre_parse.parse(pattern, flags)
    full_flags = flags | tree.state.flags
    for _ in range(tries):
        try:
            s = _sample(tree, full_flags, rng, max_repeat)
        except ValueError:
            return None
        if s and re.fullmatch(pattern, s, flags):
            return s
    return None


# -- random sentences ------------------------------------------------------------------------

def min_heights(cfg: CFG) -> dict[str, int]:
    """For each productive nonterminal, the least height of a derivation tree (terminals: 0)."""
    h: dict[str, int] = {t: 0 for t in cfg.terminals}
    changed = True
    while changed:
        changed = False
        for r in cfg.rules:
            if all(s in h for s in r.rhs):
                v = 1 + max((h[s] for s in r.rhs), default=0)
                if v < h.get(r.lhs, 1 << 30):
                    h[r.lhs] = v
                    changed = True
    return h


def random_sentences(cfg: CFG, n: int, *, seed: int = 0, max_depth: int = 10,
                     max_len: int = 300, ignore_prob: float | None = None,
                     max_repeat: int = 3) -> list[str]:
    """``n`` random sentences of `cfg` (fewer if the grammar has few short ones; duplicates are
    dropped).

    A sentence is the text of a random derivation from the start symbol: productions are chosen
    uniformly while the depth is below ``max_depth``, then only those of least height, so every
    derivation ends. Each terminal becomes a random lexeme of its regex (`random_lexeme`); an
    ``%ignore`` lexeme is put between two lexemes with probability ``ignore_prob`` (default 0.7
    when the grammar has ignore terminals) and, more rarely, at both ends. Sentences longer than
    ``max_len`` characters are dropped. Sentences are in the grammar's all-splits language by
    construction; lark's shortest-first lexing may still refuse a few.
    """
    rng = random.Random(seed)
    heights = min_heights(cfg)
    by_lhs: dict[str, list] = {}
    for r in cfg.rules:
        if all(s in heights for s in r.rhs):
            by_lhs.setdefault(r.lhs, []).append(
                (1 + max((heights[s] for s in r.rhs), default=0), r.rhs))
    if ignore_prob is None:
        ignore_prob = 0.7 if cfg.ignore else 0.0
    out: list[str] = []
    seen: set[str] = set()

    def derive(sym: str, depth: int, acc: list[str]) -> None:
        if sym in cfg.terminals:
            t = cfg.terminals[sym]
            lex = random_lexeme(t.pattern, t.flags, rng, max_repeat=max_repeat)
            if lex is None:
                raise _Abort
            acc.append(lex)
            return
        prods = by_lhs[sym]
        if depth >= max_depth:
            least = min(h for h, _ in prods)
            prods = [p for p in prods if p[0] == least]
        _, rhs = rng.choice(prods)
        for s in rhs:
            derive(s, depth + 1, acc)
            if sum(map(len, acc)) > max_len:
                raise _Abort

    attempts = 0
    while len(out) < n and attempts < 20 * n:
        attempts += 1
        lexemes: list[str] = []
        try:
            derive(cfg.start, 0, lexemes)
        except (_Abort, RecursionError):
            continue
        parts = []
        ign = [cfg.terminals[t] for t in cfg.ignore]
        for k, lex in enumerate(lexemes):
            if ign and (rng.random() < ignore_prob * (0.3 if k == 0 else 1.0)):
                t = rng.choice(ign)
                parts.append(random_lexeme(t.pattern, t.flags, rng, max_repeat=2) or "")
            parts.append(lex)
        if ign and rng.random() < 0.2 * ignore_prob:
            t = rng.choice(ign)
            parts.append(random_lexeme(t.pattern, t.flags, rng, max_repeat=2) or "")
        s = "".join(parts)
        if len(s) <= max_len and s not in seen:
            seen.add(s)
            out.append(s)
    return out


class _Abort(Exception):
    pass


def mutate(text: str, rng: random.Random, *, alphabet: Iterable[str] | None = None) -> str:
    """A small random edit of ``text``: delete, insert, replace or duplicate a character or a
    short span, or swap two adjacent spans. Inserted characters come from ``alphabet`` (default:
    the characters of ``text`` and a few others)."""
    chars = list(alphabet) if alphabet is not None else sorted(set(text)) + list(" (),;\"'0aZ")
    n = len(text)
    op = rng.randrange(5)
    i = rng.randrange(n + 1) if n else 0
    if op == 0 and n:
        j = min(n, i + rng.randint(1, 3))
        return text[:i] + text[j:]
    if op == 1 or not n:
        return text[:i] + rng.choice(chars) + text[i:]
    if op == 2:
        i = min(i, n - 1)
        return text[:i] + rng.choice(chars) + text[i + 1:]
    if op == 3:
        j = min(n, i + rng.randint(1, 6))
        return text[:j] + text[i:j] + text[j:]
    i = min(i, n - 1)
    j = min(n, i + rng.randint(1, 4))
    k = min(n, j + rng.randint(1, 4))
    return text[:i] + text[j:k] + text[i:j] + text[k:]


# -- an exact all-splits recognizer (slow, for short texts) ----------------------------------

class AllSplitsRecognizer:
    """Earley recognizer over characters with the lexing semantics of `constrain.grammar.ir`:
    every split of the text into lexemes (each ``re.fullmatch``-ing a terminal, ignore
    terminals allowed between lexemes and at both ends) is considered.

    Independent of lark (whose Earley lexer takes the *first* regex match at a position, then
    its truncations, so it can miss lexemes such as the ``75`` of ``/[0-9]|[1-9][0-9]*/``), and
    honours ``CFG.word_chars``, which `cfg_to_lark` cannot express (lark's oracle ignores it).
    Cost grows like ``len(text)**2`` regex calls per expected terminal: for tests only.
    """

    def __init__(self, cfg: CFG):
        self.cfg = cfg
        self.rules = list(cfg.rules)
        self.by_lhs: dict[str, list[int]] = {}
        for k, r in enumerate(self.rules):
            self.by_lhs.setdefault(r.lhs, []).append(k)
        self.rx = {n: re.compile(t.pattern, t.flags) for n, t in cfg.terminals.items()}
        self.word = re.compile(cfg.word_chars) if cfg.word_chars else None
        from .normalize import nullable_symbols

        self.nullable = nullable_symbols([(r.lhs, r.rhs) for r in self.rules])

    def _ends(self, term: str, text: str, i: int) -> list[int]:
        if 0 < i < len(text) and self.word and self.word.fullmatch(text, i - 1, i) \
                and self.word.fullmatch(text, i, i + 1):
            return []  # no lexeme boundary between two word characters (CFG.word_chars)
        rx = self.rx[term]
        return [j for j in range(i + 1, len(text) + 1) if rx.fullmatch(text, i, j)]

    def accepts(self, text: str) -> bool:
        n = len(text)
        chart: list[set] = [set() for _ in range(n + 1)]
        start_rules = self.by_lhs.get(self.cfg.start, [])
        chart[0].update((k, 0, 0) for k in start_rules)
        for i in range(n + 1):
            items = chart[i]
            agenda = list(items)
            while agenda:
                k, dot, org = agenda.pop()
                rhs = self.rules[k].rhs
                if dot == len(rhs):  # complete
                    lhs = self.rules[k].lhs
                    for k2, d2, o2 in list(chart[org]):
                        r2 = self.rules[k2].rhs
                        if d2 < len(r2) and r2[d2] == lhs:
                            it = (k2, d2 + 1, o2)
                            if it not in items:
                                items.add(it)
                                agenda.append(it)
                    continue
                sym = rhs[dot]
                if sym in self.rx:
                    for j in self._ends(sym, text, i):
                        chart[j].add((k, dot + 1, org))
                    continue
                for k2 in self.by_lhs.get(sym, ()):
                    it = (k2, 0, i)
                    if it not in items:
                        items.add(it)
                        agenda.append(it)
                if sym in self.nullable:
                    it = (k, dot + 1, org)
                    if it not in items:
                        items.add(it)
                        agenda.append(it)
            for ig in self.cfg.ignore:  # skip an ignored lexeme: every item moves on
                for j in self._ends(ig, text, i):
                    chart[j].update(items)
        return any(self.rules[k].lhs == self.cfg.start and dot == len(self.rules[k].rhs)
                   and org == 0 for k, dot, org in chart[n])
