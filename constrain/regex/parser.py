"""Regex text → a small regular-expression tree over code-point sets, with ``re.fullmatch`` semantics.

Syntax is read by CPython's own ``re`` parser, so what parses, and how, is exactly what ``re`` does
(escapes, classes, ``{m,n}``, inline and scoped flags, verbose mode). interegular, the designated
parser, differs from ``re`` in ways a user would notice (``\\d \\w \\s`` are ASCII-only there,
``\\u``/``\\N`` escapes and scoped flags are refused, case folding is simplified, and classes are
held as explicit character sets, so ``[^a]`` enumerates 1.1 M characters); the contract is ``re``'s
language, so ``re``'s parser is the reference and interegular is not used here.

Features that are not regular, or whose meaning depends on a match position (lookaround,
backreferences, conditionals, ``\\b``, atomic groups and possessive repeats, anchors anywhere but
at the ends) raise `UnsupportedFeature` with the feature's position. Malformed patterns raise
`InvalidSyntax` with ``re``'s message and position.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from ..errors import InvalidSyntax, LimitExceeded, UnsupportedFeature
from . import charset as cs

try:
    from re import _constants as C
    from re import _parser as sre_parse
except ImportError:  # pragma: no cover - Python < 3.11
    import sre_constants as C  # type: ignore
    import sre_parse  # type: ignore


# --- the tree ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Chars:
    set: tuple  # CharSet


@dataclass(frozen=True)
class Concat:
    parts: tuple


@dataclass(frozen=True)
class Alt:
    options: tuple


@dataclass(frozen=True)
class Repeat:
    node: object
    min: int
    max: int | None  # None = unbounded


EPSILON = Concat(())
NOTHING = Alt(())


# --- locating features in the source (re's parser keeps no positions) --------------------------
_FEATURE_PATTERNS = {
    "lookahead": r"\(\?[=!]",
    "lookbehind": r"\(\?<[=!]",
    "backreference": r"\\[1-9]|\(\?P=|\\g<",
    "conditional group": r"\(\?\(",
    "word boundary (\\b, \\B)": r"\\[bB]",
    "atomic group": r"\(\?>",
    "possessive quantifier": r"[*+?}]\+",
    "anchor": r"[\^$]|\\[AZz]",
}


def _locate(pattern: str, feature: str) -> int | None:
    """Offset of the first occurrence of ``feature`` outside character classes and escapes."""
    rx = re.compile(_FEATURE_PATTERNS.get(feature, r"(?!)"))
    i, n, in_class = 0, len(pattern), False
    while i < n:
        ch = pattern[i]
        if not in_class and rx.match(pattern, i):
            return i
        if ch == "\\":
            i += 2
            continue
        if in_class:
            if ch == "]":
                in_class = False
        elif ch == "[":
            in_class = True
            if pattern.startswith("[^]", i) or pattern.startswith("[]", i):
                i += 2 if pattern[i + 1] == "]" else 3
                continue
        i += 1
    return None


def _unsupported(pattern: str, feature: str, detail: str = "") -> UnsupportedFeature:
    return UnsupportedFeature(feature, source=pattern, position=_locate(pattern, feature),
                              detail=detail)


# --- conversion ---------------------------------------------------------------------------------
def parse(pattern: str, flags: int = 0, max_seconds: float | None = None) -> object:
    """Parse ``pattern`` into the tree above. See the module docstring for errors.

    Cost: linear in the pattern's length (``re``'s parser, then one pass over its items).
    ``max_seconds``: wall-clock budget; `LimitExceeded` once spent (checked after ``re``'s
    parser, which is linear, and every 1024 items of the conversion)."""
    if not isinstance(pattern, str):
        raise TypeError(f"regex pattern must be str, not {type(pattern).__name__}")
    deadline = None if max_seconds is None else time.perf_counter() + max_seconds
    try:
        parsed = sre_parse.parse(pattern, flags)
    except re.error as e:
        raise InvalidSyntax(f"invalid regex: {e.msg}", source=pattern, position=e.pos) from None
    except (OverflowError, RecursionError) as e:
        raise InvalidSyntax(f"invalid regex: {e}", source=pattern) from None
    if parsed.state.flags & re.MULTILINE:
        pass  # only affects anchors, which are accepted solely at the ends
    if parsed.state.flags & re.LOCALE:
        raise _unsupported(pattern, "locale flag", "(?L) depends on the runtime locale")
    conv = _Converter(pattern, deadline, max_seconds)
    conv.tick(0)
    return conv.seq(list(parsed), parsed.state.flags, top=True)


class _Converter:
    def __init__(self, pattern: str, deadline: float | None = None, budget: float | None = None):
        self.pattern = pattern
        self.deadline = deadline
        self.budget = budget
        self.count = 0

    def tick(self, n: int) -> None:
        """Count ``n`` converted items; raise `LimitExceeded` once the time budget is spent."""
        self.count += n
        if self.deadline is not None and (n == 0 or self.count >= 1024):
            self.count = 0
            if time.perf_counter() > self.deadline:
                raise LimitExceeded("max_seconds", self.budget, "parsing the regex")

    def seq(self, items: list, flags: int, top: bool = False, at_start: bool = True,
            at_end: bool = True) -> object:
        parts = []
        n = len(items)
        # last[i]: every item after i is a zero-width end anchor (one backward pass: linear)
        last = [False] * n
        ok = at_end
        for i in range(n - 1, -1, -1):
            last[i] = ok
            ok = ok and _is_zero_width_end(items[i])
        first = at_start  # every item before i is a zero-width start anchor
        for i, (op, av) in enumerate(items):
            parts.append(self.item(op, av, flags, first, last[i]))
            first = first and _is_zero_width_start(items[i])
        self.tick(n)
        if len(parts) == 1:
            return parts[0]
        return Concat(tuple(p for p in parts if p != EPSILON))

    def item(self, op, av, flags: int, at_start: bool, at_end: bool) -> object:
        ic = bool(flags & re.IGNORECASE)
        ascii_only = bool(flags & re.ASCII)
        if op is C.LITERAL:
            s = ((av, av),)
            return Chars(cs.fold(cs.normalize(s), ascii_only=ascii_only) if ic else cs.normalize(s))
        if op is C.NOT_LITERAL:
            s = cs.fold(((av, av),), ascii_only=ascii_only) if ic else ((av, av),)
            return Chars(cs.negate(s))
        if op is C.ANY:
            return Chars(cs.ALL if flags & re.DOTALL else cs.negate(((10, 10),)))
        if op is C.IN:
            return Chars(self.charclass(av, flags))
        if op is C.BRANCH:
            return Alt(tuple(self.seq(list(b), flags, at_start=at_start, at_end=at_end)
                             for b in av[1]))
        if op is C.SUBPATTERN:
            _group, add, remove, sub = av
            return self.seq(list(sub), (flags | add) & ~remove, at_start=at_start, at_end=at_end)
        if op in (C.MAX_REPEAT, C.MIN_REPEAT):  # laziness does not change fullmatch's language
            lo, hi, sub = av
            node = self.seq(list(sub), flags, at_start=False, at_end=False)
            return Repeat(node, lo, None if hi is C.MAXREPEAT else hi)
        if op is getattr(C, "POSSESSIVE_REPEAT", object()):
            raise _unsupported(self.pattern, "possessive quantifier",
                               "it changes the language in ways a DFA does not follow")
        if op is getattr(C, "ATOMIC_GROUP", object()):
            raise _unsupported(self.pattern, "atomic group")
        if op is C.AT:
            if av in (C.AT_BOUNDARY, C.AT_NON_BOUNDARY):
                raise _unsupported(self.pattern, "word boundary (\\b, \\B)")
            if av in (C.AT_BEGINNING, C.AT_BEGINNING_STRING) and at_start:
                return EPSILON
            if av in (C.AT_END, C.AT_END_STRING) and at_end:
                return EPSILON
            raise _unsupported(self.pattern, "anchor",
                               "anchors are supported only at the start or end of the pattern")
        if op is C.ASSERT:
            raise _unsupported(self.pattern, "lookahead" if av[0] == 1 else "lookbehind")
        if op is C.ASSERT_NOT:
            raise _unsupported(self.pattern, "lookahead" if av[0] == 1 else "lookbehind")
        if op is C.GROUPREF:
            raise _unsupported(self.pattern, "backreference")
        if op is C.GROUPREF_EXISTS:
            raise _unsupported(self.pattern, "conditional group")
        raise _unsupported(self.pattern, str(op))

    def charclass(self, items, flags: int) -> tuple:
        ascii_only = bool(flags & re.ASCII)
        negated = False
        ranges = []
        categories = []
        for op, av in items:
            if op is C.NEGATE:
                negated = True
            elif op is C.LITERAL:
                ranges.append((av, av))
            elif op is C.RANGE:
                ranges.append(av)
            elif op is C.CATEGORY:
                categories.extend(self.category(av, ascii_only))
            else:  # pragma: no cover - re's parser emits nothing else inside []
                raise _unsupported(self.pattern, f"class item {op}")
        s = cs.normalize(ranges)
        cats = cs.normalize(categories)
        # re folds a class only when its literals/ranges hold a cased character; it then lowers
        # the input character before testing both the folded members and the categories.
        if flags & re.IGNORECASE and cs.has_cased(s, ascii_only=ascii_only):
            s = cs.fold(s, ascii_only=ascii_only)
            cats = cats if ascii_only else cs.lower_preimage(cats)
        s = cs.union(s, cats)
        return cs.negate(s) if negated else s

    @staticmethod
    def category(cat, ascii_only: bool) -> tuple:
        name = {
            C.CATEGORY_DIGIT: ("digit", False), C.CATEGORY_NOT_DIGIT: ("digit", True),
            C.CATEGORY_WORD: ("word", False), C.CATEGORY_NOT_WORD: ("word", True),
            C.CATEGORY_SPACE: ("space", False), C.CATEGORY_NOT_SPACE: ("space", True),
        }[cat]
        s = cs.category(name[0], ascii_only)
        return cs.negate(s) if name[1] else s



def group_depths(pattern: str):
    """``(index, char, depth)`` for each character of ``pattern`` outside escapes and character
    classes, ``depth`` being the group nesting before it. A text-level scan (no parsing, no
    validation) for callers that cut or inspect pattern text. Cost O(len(pattern))."""
    depth, i, n = 0, 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            i += 1
            if pattern[i:i + 1] == "^":
                i += 1
            if pattern[i:i + 1] == "]":
                i += 1
            while i < n and pattern[i] != "]":
                i += 2 if pattern[i] == "\\" else 1
            i += 1
            continue
        yield i, c, depth
        depth += (c == "(") - (c == ")")
        i += 1

def _is_zero_width_start(item) -> bool:
    op, av = item
    return op is C.AT and av in (C.AT_BEGINNING, C.AT_BEGINNING_STRING)


def _is_zero_width_end(item) -> bool:
    op, av = item
    return op is C.AT and av in (C.AT_END, C.AT_END_STRING)
