"""llama.cpp GBNF grammar text → `CFG`.

Syntax (llama.cpp ``grammars/README.md``): ``name ::= alternatives``; rule names of letters,
digits, ``-`` and ``_``; string literals ``"..."`` and character classes ``[...]`` / ``[^...]``
with the escapes ``\\n \\r \\t \\\\ \\" \\[ \\] \\- \\xHH \\uHHHH \\UHHHHHHHH``; ``.`` (any character,
newline included); grouping ``( )``, alternation ``|``, ``*``, ``+``, ``?``, ``{m}``, ``{m,}``,
``{m,n}``, ``{,n}``; comments from ``#`` to the end of the line. The start rule is ``root``.
Newlines may appear anywhere between items (a rule ends where the next ``name ::=`` starts),
which accepts everything llama.cpp accepts.

Terminals are kept coarse: every maximal stretch of a sequence made only of literals, classes and
repetitions of them (no rule reference) becomes one regex terminal, unless it matches the empty
string; GBNF has no ignored terminals, so how the text is cut into lexemes does not change the
language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InvalidSyntax
from .ir import CFG, Rule, Terminal
from .lark_frontend import _check_productive, validate_terminal
from .normalize import reachable_symbols

__all__ = ["gbnf_to_cfg"]


# -- AST -------------------------------------------------------------------------------------

@dataclass
class _Node:
    kind: str  # "lit" | "cls" | "ref" | "seq" | "alt" | "rep"
    value: object = None
    items: list | None = None
    lo: int = 0
    hi: int | None = None
    pos: int = 0


_NAME = re.compile(r"[A-Za-z0-9_-]+")
_RULE_HEAD = re.compile(r"[A-Za-z0-9_-]+[ \t]*::=")


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.i = 0

    def error(self, msg: str, pos: int | None = None) -> InvalidSyntax:
        pos = self.i if pos is None else pos
        line = self.text.count("\n", 0, pos) + 1
        col = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        return InvalidSyntax(f"GBNF: {msg}", source=self.text, line=line, column=col)

    def ws(self) -> None:
        t, n = self.text, len(self.text)
        while self.i < n:
            c = t[self.i]
            if c in " \t\r\n":
                self.i += 1
            elif c == "#":
                j = t.find("\n", self.i)
                self.i = n if j < 0 else j + 1
            else:
                break

    def at_rule_head(self) -> bool:
        return bool(_RULE_HEAD.match(self.text, self.i))

    def grammar(self) -> list[tuple[str, _Node, int]]:
        rules = []
        self.ws()
        while self.i < len(self.text):
            pos = self.i
            m = _NAME.match(self.text, self.i)
            if not m:
                raise self.error("expected a rule name")
            self.i = m.end()
            while self.i < len(self.text) and self.text[self.i] in " \t":
                self.i += 1
            if not self.text.startswith("::=", self.i):
                raise self.error("expected '::='")
            self.i += 3
            self.ws()
            body = self.alternates(nested=False)
            rules.append((m.group(0), body, pos))
            self.ws()
        return rules

    def alternates(self, nested: bool) -> _Node:
        pos = self.i
        alts = [self.sequence(nested)]
        while self.i < len(self.text) and self.text[self.i] == "|":
            self.i += 1
            self.ws()
            alts.append(self.sequence(nested))
        return alts[0] if len(alts) == 1 else _Node("alt", items=alts, pos=pos)

    def sequence(self, nested: bool) -> _Node:
        pos = self.i
        items: list[_Node] = []
        t = self.text
        while True:
            self.ws()
            if self.i >= len(t):
                break
            c = t[self.i]
            if c in "|)" or (not nested and self.at_rule_head()):
                break
            start = self.i
            if c == '"':
                node = _Node("lit", self.string(), pos=start)
            elif c == "[":
                node = _Node("cls", self.char_class(), pos=start)
            elif c == ".":
                self.i += 1
                node = _Node("cls", (True, []), pos=start)  # negated empty set: any character
            elif c == "(":
                self.i += 1
                self.ws()
                node = self.alternates(nested=True)
                self.ws()
                if self.i >= len(t) or t[self.i] != ")":
                    raise self.error("expected ')'", start)
                self.i += 1
            else:
                m = _NAME.match(t, self.i)
                if not m:
                    raise self.error(f"unexpected {c!r}")
                self.i = m.end()
                node = _Node("ref", m.group(0), pos=start)
            node = self.postfix(node)
            items.append(node)
        return items[0] if len(items) == 1 else _Node("seq", items=items, pos=pos)

    def postfix(self, node: _Node) -> _Node:
        t = self.text
        while self.i < len(t):
            c = t[self.i]
            if c in "*+?":
                self.i += 1
                lo, hi = {"*": (0, None), "+": (1, None), "?": (0, 1)}[c]
                node = _Node("rep", items=[node], lo=lo, hi=hi, pos=node.pos)
            elif c == "{":
                start = self.i
                m = re.compile(r"\{\s*(\d*)\s*(,\s*(\d*)\s*)?\}").match(t, self.i)
                if not m or (not m.group(1) and not m.group(2)):
                    raise self.error("bad repetition; expected {m}, {m,}, {m,n} or {,n}")
                self.i = m.end()
                lo = int(m.group(1)) if m.group(1) else 0
                hi = (int(m.group(3)) if m.group(3) else None) if m.group(2) else lo
                if hi is not None and hi < lo:
                    raise self.error(f"bad repetition {{{lo},{hi}}}: max < min", start)
                node = _Node("rep", items=[node], lo=lo, hi=hi, pos=node.pos)
            else:
                break
        return node

    def escape(self) -> str:
        t = self.text
        self.i += 1  # the backslash
        if self.i >= len(t):
            raise self.error("unfinished escape")
        c = t[self.i]
        simple = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "[": "[", "]": "]",
                  "-": "-", "^": "^", "/": "/", "'": "'"}
        if c in simple:
            self.i += 1
            return simple[c]
        width = {"x": 2, "u": 4, "U": 8}.get(c)
        if width:
            digits = t[self.i + 1:self.i + 1 + width]
            if not re.fullmatch(r"[0-9a-fA-F]{%d}" % width, digits):
                raise self.error(f"bad \\{c} escape")
            self.i += 1 + width
            code = int(digits, 16)
            if code > 0x10FFFF:
                raise self.error(f"bad \\{c} escape: no such code point")
            return chr(code)
        raise self.error(f"unknown escape \\{c}")

    def string(self) -> str:
        t = self.text
        start = self.i
        self.i += 1
        out = []
        while True:
            if self.i >= len(t) or t[self.i] == "\n":
                raise self.error("unterminated string", start)
            c = t[self.i]
            if c == '"':
                self.i += 1
                return "".join(out)
            if c == "\\":
                out.append(self.escape())
            else:
                out.append(c)
                self.i += 1

    def char_class(self) -> tuple[bool, list[tuple[int, int]]]:
        t = self.text
        start = self.i
        self.i += 1
        negated = t.startswith("^", self.i)
        if negated:
            self.i += 1
        ranges: list[tuple[int, int]] = []
        first = True
        while True:
            if self.i >= len(t):
                raise self.error("unterminated character class", start)
            c = t[self.i]
            if c == "]" and not first:
                self.i += 1
                break
            first = False
            lo = self.escape() if c == "\\" else self._take()
            hi = lo
            if (t.startswith("-", self.i) and self.i + 1 < len(t) and t[self.i + 1] != "]"):
                self.i += 1
                hi = self.escape() if t[self.i] == "\\" else self._take()
                if ord(hi) < ord(lo):
                    raise self.error(f"bad character range {lo!r}-{hi!r}", start)
            ranges.append((ord(lo), ord(hi)))
        return negated, ranges

    def _take(self) -> str:
        c = self.text[self.i]
        self.i += 1
        return c


# -- AST → regex / CFG -----------------------------------------------------------------------

def _esc_char(code: int) -> str:
    ch = chr(code)
    if 0x20 <= code < 0x7F:
        return re.escape(ch) if ch not in "-]^\\" else "\\" + ch
    if code >= 0x80 and ch.isprintable():
        return ch
    if code < 0x100:
        return "\\x%02x" % code
    if code < 0x10000:
        return "\\u%04x" % code
    return "\\U%08x" % code


def _class_regex(negated: bool, ranges: list[tuple[int, int]]) -> str:
    if negated and not ranges:
        return r"[\s\S]"
    body = "".join(_esc_char(lo) if lo == hi else f"{_esc_char(lo)}-{_esc_char(hi)}"
                   for lo, hi in ranges)
    return f"[{'^' if negated else ''}{body}]"


def _regex(node: _Node) -> str | None:
    """The regex of a reference-free subtree (None if it references a rule)."""
    k = node.kind
    if k == "lit":
        return "".join(_esc_char(ord(c)) for c in node.value)
    if k == "cls":
        return _class_regex(*node.value)
    if k == "ref":
        return None
    if k == "rep":
        inner = _regex(node.items[0])
        if inner is None:
            return None
        if node.lo == 0 and node.hi is None:
            q = "*"
        elif node.lo == 1 and node.hi is None:
            q = "+"
        elif node.lo == 0 and node.hi == 1:
            q = "?"
        elif node.hi is None:
            q = f"{{{node.lo},}}"
        elif node.lo == node.hi:
            q = f"{{{node.lo}}}"
        else:
            q = f"{{{node.lo},{node.hi}}}"
        atom = len(inner) == 1 or re.fullmatch(r"\\.|\[(?:\\.|[^\]\\])*\]", inner)
        return f"{inner}{q}" if atom else f"(?:{inner}){q}"
    parts = [_regex(x) for x in node.items]
    if any(p is None for p in parts):
        return None
    if k == "seq":
        return "".join(parts)  # every part is a literal, a class or already a group
    return "(?:" + "|".join(parts) + ")"


def _nullable(node: _Node) -> bool:
    k = node.kind
    if k == "lit":
        return node.value == ""
    if k == "cls":
        return False
    if k == "ref":
        return False  # only asked of reference-free subtrees
    if k == "rep":
        return node.lo == 0 or _nullable(node.items[0])
    if k == "seq":
        return all(_nullable(x) for x in node.items)
    return any(_nullable(x) for x in node.items)


class _Builder:
    def __init__(self, text: str, rule_names: set[str], locate):
        self.text = text
        self.rule_names = rule_names
        self.locate = locate
        self.rules: list[Rule] = []
        self.terminals: dict[str, Terminal] = {}
        self.by_pattern: dict[str, str] = {}
        self.helper_count: dict[str, int] = {}
        self.origin = ""

    def terminal(self, node: _Node, pattern: str) -> str:
        name = self.by_pattern.get(pattern)
        if name is not None:
            return name
        literal = node.value if node.kind == "lit" else None
        name = f"LIT_{len(self.terminals)}" if literal is not None else f"RE_{len(self.terminals)}"
        while name in self.rule_names:
            name = "_" + name
        term = Terminal(name, pattern, 0, literal=literal)
        line, col = self.locate(node.pos)
        validate_terminal(term, f"the GBNF item at line {line}, column {col}", source=self.text,
                          line=line, column=col)
        self.terminals[name] = term
        self.by_pattern[pattern] = name
        return name

    def helper(self) -> str:
        k = self.helper_count.get(self.origin, 0) + 1
        while True:
            name = f"{self.origin}__{k}"
            if name not in self.rule_names:
                break
            k += 1
        self.helper_count[self.origin] = k
        self.rule_names.add(name)
        return name

    def add(self, lhs: str, rhs: tuple[str, ...]) -> None:
        self.rules.append(Rule(lhs, rhs, self.origin))

    def alternatives(self, node: _Node) -> list[tuple[str, ...]]:
        """Symbol sequences whose languages together are that of ``node``."""
        if node.kind == "alt":
            rx = _regex(node)
            if rx is not None and not _nullable(node):
                return [(self.terminal(node, rx),)]
            out: list[tuple[str, ...]] = []
            for x in node.items:
                out.extend(self.alternatives(x))
            return out
        return [self.symbols(node)]

    def symbols(self, node: _Node) -> tuple[str, ...]:
        """A symbol sequence deriving exactly the language of ``node``."""
        k = node.kind
        if k == "ref":
            if node.value not in self.rule_names:
                line, col = self.locate(node.pos)
                raise InvalidSyntax(f"GBNF: undefined rule '{node.value}'", source=self.text,
                                    line=line, column=col)
            return (node.value,)
        rx = _regex(node)
        if rx is not None:
            if not _nullable(node):
                return (self.terminal(node, rx),)
            if k == "lit":  # ""
                return ()
        if k == "seq":
            out: list[str] = []
            run: list[_Node] = []

            def flush():
                if not run:
                    return
                if len(run) > 1 and not all(_nullable(x) for x in run):
                    seq = _Node("seq", items=list(run), pos=run[0].pos)
                    out.append(self.terminal(seq, _regex(seq)))
                else:
                    for x in run:
                        out.extend(self.symbols(x))
                run.clear()

            for x in node.items:
                if _regex(x) is not None:
                    run.append(x)
                else:
                    flush()
                    out.extend(self.symbols(x))
            flush()
            return tuple(out)
        if k == "alt":
            h = self.helper()
            for alt in self.alternatives(node):
                self.add(h, alt)
            return (h,)
        if k == "rep":
            inner = node.items[0]
            if rx is not None and not _nullable(inner) and node.lo == 0:
                # e* / e? / e{0,n}: ε | (a non-nullable regex for e{1,n})
                plus = _Node("rep", items=[inner], lo=1, hi=node.hi, pos=node.pos)
                h = self.helper()
                self.add(h, ())
                self.add(h, (self.terminal(plus, _regex(plus)),))
                return (h,)
            x = self.symbols(inner)
            if len(x) != 1:
                h = self.helper()
                for alt in self.alternatives(inner):
                    self.add(h, alt)
                x = (h,)
            out = x * node.lo
            if node.hi is None:  # star: S -> ε | S x
                s = self.helper()
                self.add(s, ())
                self.add(s, (s, *x))
                return out + (s,)
            opt_chain: tuple[str, ...] = ()
            for _ in range(node.hi - node.lo):  # O -> ε | x O'
                o = self.helper()
                self.add(o, ())
                self.add(o, (*x, *opt_chain))
                opt_chain = (o,)
            return out + opt_chain
        raise AssertionError(k)


def gbnf_to_cfg(text: str, *, start: str = "root", allow_unreachable: bool = False) -> CFG:
    """Convert a llama.cpp GBNF grammar to a `CFG`.

    Parameters
    ----------
    text : str
        The grammar.
    start : str
        The start rule (``root`` in llama.cpp).
    allow_unreachable : bool
        Drop rules ``start`` cannot reach instead of raising.

    Returns
    -------
    CFG
        GBNF rules keep their names; helper rules made for groups and repetitions are named
        ``<rule>__<k>`` (``origin`` the GBNF rule); terminals are ``LIT_<k>`` (a literal,
        ``literal`` set) or ``RE_<k>`` (a regex of literals and classes). No ignore terminals.

    Raises
    ------
    InvalidSyntax
        Malformed text (with line and column); a rule defined twice; an undefined or
        unreachable rule; no ``start`` rule; a rule that derives no finite string.
    LimitExceeded
        A terminal's DFA exceeds the default `RegexLimits` (huge ``{m,n}`` counts).
    """
    parsed = _Parser(text).grammar()

    def locate(pos: int) -> tuple[int, int]:
        line = text.count("\n", 0, pos) + 1
        return line, pos - (text.rfind("\n", 0, pos) + 1) + 1

    names = _rule_positions(parsed, text, locate)
    if start not in names:
        raise InvalidSyntax(f"GBNF: no '{start}' rule (the start rule)", source=text)
    b = _Builder(text, set(names), locate)
    for name, body, _ in parsed:
        b.origin = name
        for alt in b.alternatives(body):
            b.add(name, alt)
    reach = reachable_symbols([(r.lhs, r.rhs) for r in b.rules], start)
    for name, pos in names.items():
        if name not in reach and not allow_unreachable:
            line, col = locate(pos)
            raise InvalidSyntax(f"GBNF: rule '{name}' is unreachable from '{start}' (remove it, "
                                "or pass allow_unreachable=True)", source=text, line=line,
                                column=col)
    rules = tuple(r for r in b.rules if r.lhs in reach)
    used = {s for r in rules for s in r.rhs if s in b.terminals}
    terminals = {n: t for n, t in b.terminals.items() if n in used}
    cfg = CFG(start=start, rules=rules, terminals=terminals)
    _check_productive(cfg, text, lambda name: _rule_token(names, locate, name))
    return cfg


def _rule_positions(parsed, text: str, locate) -> dict[str, int]:
    """Rule name -> offset of its definition; `InvalidSyntax` for a rule defined twice."""
    names: dict[str, int] = {}
    for name, _, pos in parsed:
        if name in names:
            line, col = locate(pos)
            raise InvalidSyntax(f"GBNF: rule '{name}' defined twice", source=text, line=line,
                                column=col)
        names[name] = pos
    return names


class _Tok:
    """A position as `lark_frontend._check_productive`'s error helper reads it."""

    def __init__(self, line: int, column: int):
        self.line, self.column = line, column


def _rule_token(names: dict, locate, name: str) -> _Tok | None:
    pos = names.get(name)
    if pos is None:
        return None
    return _Tok(*locate(pos))
