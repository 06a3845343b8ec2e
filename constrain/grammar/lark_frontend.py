"""Lark grammar text → `CFG` (the grammar IR of `constrain.grammar.ir`).

Lark's own grammar loader does the parsing and the EBNF → BNF expansion (``?``, ``*``, ``+``,
``[...]``, ``~ n``, groups, inline alternations, terminal composition); this module checks what
lark does not (undefined / unreachable symbols with their line and column, empty languages,
terminals our regex engine cannot enforce exactly) and maps lark's rules and terminal patterns
to `ir.Rule` and `ir.Terminal`. ``%import common.X`` resolves to `COMMON_LARK`, our
lookaround-free copy of lark's ``common.lark``.

Tree-shaping features have no effect on the language and are accepted: aliases (``-> name``),
``?rule``, ``!rule``, ``_rule``, ``_TERMINAL``, rule priorities. Terminal priorities are accepted
and kept in `ir.Terminal.priority`: under all-splits lexing (lark's Earley with
``lexer="dynamic_complete"``, and our engine) a priority only chooses between parse trees, never
whether a text is accepted. Templates and ``%declare`` are refused with `UnsupportedFeature`.
A terminal named ``_WORD_CHARS`` is no lexeme: its class becomes `CFG.word_chars` (no lexeme
boundary between two word characters). See ``docs/grammar-syntax.md``.
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

from ..errors import InvalidSyntax, LimitExceeded, UnsupportedFeature
from .ir import CFG, Rule, Terminal
from .lark_patterns import lark_lexeme_pattern

__all__ = ["lark_to_cfg", "COMMON_LARK", "terminal_regex", "WORD_CHARS"]

#: The terminal that declares `CFG.word_chars` (a single ASCII character class) instead of a lexeme.
WORD_CHARS = "_WORD_CHARS"

COMMON_LARK = r"""// constrain's `common` library: what `%import common.X` resolves to in grammars given to
// `constrain.Grammar` (Lark syntax).
//
// Same names and the same definitions as lark's own `lark/grammars/common.lark` (MIT, Lark
// contributors), except that every terminal is lookaround-free and has no lazy quantifier, so
// that its *language* (the strings it fully matches) is exactly the set of lexemes lark's Earley
// parser (lexer="dynamic_complete") produces for it:
//
// * ESCAPED_STRING: lark writes "\"" /.*?/ /(?<!\\)(\\\\)*?/ "\"" (lazy, with a lookbehind); its
//   shortest match is a double-quoted string without newlines whose every inner quote is escaped.
//   Here: the same set, written as /"(?:[^"\\\n]|\\[^\n])*"/.
// * C_COMMENT: lark writes "/*" /(.|\n)*?/ "*/" (lazy; its shortest match stops at the first
//   "*/"). Here: the same set, written without laziness.
// * _STRING_INNER and _STRING_ESC_INNER are helpers of ESCAPED_STRING; importing them directly
//   gives their regular language (lark's lazy versions only ever match the empty string).

//
// Numbers
//

DIGIT: "0".."9"
HEXDIGIT: "a".."f"|"A".."F"|DIGIT

INT: DIGIT+
SIGNED_INT: ["+"|"-"] INT
DECIMAL: INT "." INT? | "." INT

// float = /-?\d+(\.\d+)?([eE][+-]?\d+)?/
_EXP: ("e"|"E") SIGNED_INT
FLOAT: INT _EXP | DECIMAL _EXP?
SIGNED_FLOAT: ["+"|"-"] FLOAT

NUMBER: FLOAT | INT
SIGNED_NUMBER: ["+"|"-"] NUMBER

//
// Strings
//
_STRING_INNER: /[^\n]*/
_STRING_ESC_INNER: /(?:[^"\\\n]|\\[^\n])*/

ESCAPED_STRING : "\"" _STRING_ESC_INNER "\""


//
// Names (Variables)
//
LCASE_LETTER: "a".."z"
UCASE_LETTER: "A".."Z"

LETTER: UCASE_LETTER | LCASE_LETTER
WORD: LETTER+

CNAME: ("_"|LETTER) ("_"|LETTER|DIGIT)*


//
// Whitespace
//
WS_INLINE: (" "|/\t/)+
WS: /[ \t\f\r\n]/+

CR : /\r/
LF : /\n/
NEWLINE: (CR? LF)+


// Comments
SH_COMMENT: /#[^\n]*/
CPP_COMMENT: /\/\/[^\n]*/
C_COMMENT: /\/\*[^*]*\*+(?:[^\/*][^*]*\*+)*\//
SQL_COMMENT: /--[^\n]*/
"""

# lark's regex flag letters → Python ``re`` flags ('u' is a no-op for str patterns).
_LARK_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE, "u": 0}

def terminal_regex(pattern: str, flags: int = 0):
    """The `constrain.Regex` of a terminal pattern; its DFA comes from the process-wide
    `constrain.regex.api.regex_dfa` cache, which the grammar engine and infilling share.

    Raises
    ------
    InvalidSyntax, UnsupportedFeature, LimitExceeded
        As `constrain.Regex`.
    """
    from ..regex.api import Regex

    return Regex.cached(pattern, flags=flags, eager=False)


def validate_terminal(term: Terminal, where: str, *, source: str | None = None,
                      line: int | None = None, column: int | None = None) -> None:
    """Check that `term` is enforceable: a regex `constrain.Regex` accepts, whose language is
    non-empty and does not contain the empty string. ``where`` describes the terminal's origin
    for error messages (``"terminal NUMBER"``, ``"the literal '\\"x\\"'"``).

    Raises
    ------
    UnsupportedFeature
        The pattern uses a feature the regex engine refuses (lookaround, backreference, ...);
        the detail names the terminal and its line and column.
    InvalidSyntax
        The pattern is malformed, matches nothing, or matches the empty string.
    LimitExceeded
        The pattern's DFA exceeds the regex limits.
    """
    loc = f" at line {line}, column {column}" if line is not None else ""
    if term.literal and term.pattern == re.escape(term.literal):
        from .normalize import literal_dfa

        if literal_dfa(term.literal, term.flags, None) is not None:
            return  # a non-empty literal: valid, its DFA glued per character in linear time
    try:
        rx = terminal_regex(term.pattern, term.flags)
    except UnsupportedFeature as e:
        raise UnsupportedFeature(e.feature, source=term.pattern, position=e.position,
                                 detail=f"in {where}{loc}") from None
    except InvalidSyntax as e:
        raise InvalidSyntax(f"bad regex in {where}: {e.args[0].splitlines()[0]}", source=source,
                            line=line, column=column) from None
    except LimitExceeded as e:
        raise LimitExceeded(e.limit, e.value, f"regex of {where}{loc}") from None
    if rx.fullmatch(""):
        raise InvalidSyntax(f"{where} matches the empty string (a terminal must consume text; "
                            "make it optional in the rules instead)", source=source, line=line,
                            column=column)


def _common_loader(base_path, grammar_path):
    """lark import hook: ``%import common.X`` (a library import) reads `COMMON_LARK`."""
    if base_path is None and grammar_path == "common.lark":
        return "<constrain:common.lark>", COMMON_LARK
    raise IOError(grammar_path)


def _tok_pos(tok) -> tuple[int | None, int | None]:
    return getattr(tok, "line", None), getattr(tok, "column", None)


class _Scan:
    """What the raw parse tree of the user's text says, with positions."""

    def __init__(self):
        self.defs: dict[str, tuple[str, object]] = {}  # name -> (kind, name token)
        self.term_refs: dict[str, set[str]] = {}  # terminal -> terminals its definition uses
        self.refs: list[object] = []  # symbol tokens referenced in rules / terminals / %ignore
        self.literals: dict[str, object] = {}  # raw literal text -> first token
        self.declared: dict[str, object] = {}
        self.imported: dict[str, object] = {}  # local name -> token of the import


def _syntax_error(msg, text, tok=None, line=None, column=None):
    if tok is not None:
        line, column = _tok_pos(tok)
    return InvalidSyntax(msg, source=text, line=line, column=column)


def _meta_parser():
    """lark's parser of grammar files (``lark.load_grammar._get_parser``, cached by lark), built
    the first time with ``skip_validation``: lark would otherwise check its own fixed
    meta-grammar's terminals for regex collisions (interegular), ~0.2 s of CPU at the first
    grammar of every process. Falls back to lark's own constructor if its internals differ."""
    from lark import load_grammar as lg

    cached = getattr(lg._get_parser, "cache", None)
    if cached is not None:
        return cached
    try:
        import re as re_module

        terminals = [lg.TerminalDef(name, lg.PatternRE(value)) for name, value in lg.TERMINALS.items()]
        rules = [(name.lstrip("?"), x, lg.RuleOptions(expand1=name.startswith("?")))
                 for name, x in lg.RULES.items()]
        rules = [lg.Rule(lg.NonTerminal(r), [lg.symbol_from_strcase(s) for s in x.split()], i, None, o)
                 for r, xs, o in rules for i, x in enumerate(xs)]
        callback = lg.ParseTreeBuilder(rules, lg.ST).create_callback()
        lexer_conf = lg.LexerConf(terminals, re_module, ["WS", "COMMENT", "BACKSLASH"], skip_validation=True)
        parser_conf = lg.ParserConf(rules, callback, ["start"])
        lexer_conf.lexer_type = "basic"
        parser_conf.parser_type = "lalr"
        parser = lg.ParsingFrontend(lexer_conf, parser_conf, None)
    except Exception:  # pragma: no cover - lark's internals changed: its own (validating) path
        return lg._get_parser()
    lg._get_parser.cache = parser  # what lark's _get_parser stores and returns from then on
    return parser


def _raw_tree(text: str):
    from lark.exceptions import UnexpectedInput

    _get_parser = _meta_parser
    try:
        return _get_parser().parse(text + "\n", "start")
    except UnexpectedInput as e:
        msg = None
        try:
            from lark.load_grammar import _translate_parser_exception
            msg = _translate_parser_exception(_get_parser().parse, e)
        except Exception:  # pragma: no cover - private lark API changed
            pass
        if not msg:
            tok = getattr(e, "token", None)
            msg = f"unexpected {tok!r}" if tok is not None else "unexpected input"
        raise InvalidSyntax(f"invalid Lark grammar: {msg}", source=text,
                            line=getattr(e, "line", None), column=getattr(e, "column", None)
                            ) from None


def _scan(text: str, tree) -> _Scan:
    from lark import Token, Tree

    sc = _Scan()

    def walk_exp(node, owner_term: str | None):
        """Collect symbol references and literals of an expansions subtree."""
        if isinstance(node, Token):
            return
        if node.data == "template_usage":
            tok = node.children[0].children[0] if isinstance(node.children[0], Tree) else node.children[0]
            line, col = _tok_pos(tok)
            raise UnsupportedFeature("template", detail=f"use of template '{tok}' at line {line}, "
                                     f"column {col}; write the rule out instead")
        if node.data in ("nonterminal", "terminal"):
            tok = node.children[0]
            sc.refs.append(tok)
            if owner_term is not None and node.data == "terminal":
                sc.term_refs[owner_term].add(str(tok))
            return
        if node.data == "literal":
            tok = node.children[0]
            sc.literals.setdefault(str(tok), tok)
            return
        children = node.children
        if node.data == "alias":  # expansion, alias name: the name is no reference
            children = children[:1]
        for ch in children:
            walk_exp(ch, owner_term)

    def define(kind, tok, exp, *, extend=False):
        name = str(tok)
        if name not in sc.defs and not extend:
            sc.defs[name] = (kind, tok)
        if kind == "term":
            sc.term_refs.setdefault(name, set())
        walk_exp(exp, name if kind == "term" else None)

    def definition(stmt, extend=False):
        if stmt.data == "rule":
            mods, name_tok, params, _prio, exp = stmt.children
            if params is not None and getattr(params, "children", None):
                line, col = _tok_pos(name_tok)
                raise UnsupportedFeature("template", detail=f"rule template '{name_tok}' at line "
                                         f"{line}, column {col}; write the rule out instead")
            define("rule", name_tok, exp, extend=extend)
        else:  # term
            define("term", stmt.children[0], stmt.children[-1], extend=extend)

    for stmt in tree.children:
        kind = stmt.data
        if kind in ("rule", "term"):
            definition(stmt)
        elif kind in ("override", "extend"):
            definition(stmt.children[0], extend=(kind == "extend"))
        elif kind == "ignore":
            for ch in stmt.children:
                walk_exp(ch, None)
        elif kind == "declare":
            for ch in stmt.children:
                tok = ch.children[0] if isinstance(ch, Tree) else ch
                sc.declared.setdefault(str(tok), tok)
        elif kind == "import":
            path_node = stmt.children[0]
            arg = stmt.children[1] if len(stmt.children) > 1 else None
            if isinstance(arg, Tree):  # %import lib (A, B)
                for tok in arg.children:
                    sc.imported.setdefault(str(tok), tok)
            else:
                name_tok = path_node.children[-1]
                alias = arg.children[0] if isinstance(arg, Tree) else arg
                local = alias if alias is not None else name_tok
                sc.imported.setdefault(str(local), name_tok)
    return sc


def _origin(name: str, user_rules: Iterable[str]) -> str:
    """The user rule a lark helper rule (``__expr_star_3``) was made from."""
    if not name.startswith("__"):
        return str(name)
    best = name
    for r in user_rules:
        if name.startswith("__" + r + "_") and (best == name or len(r) > len(best)):
            best = r
    return str(best)


def _pattern_to_terminal(td) -> Terminal:
    from lark.lexer import PatternStr

    p = td.pattern
    flags = 0
    for f in p.flags:
        if f not in _LARK_FLAGS:
            raise UnsupportedFeature(f"regex flag '{f}'", detail=f"in terminal {td.name}")
        flags |= _LARK_FLAGS[f]
    if isinstance(p, PatternStr):
        return Terminal(str(td.name), re.escape(p.value), flags, literal=str(p.value),
                        priority=int(td.priority))
    return Terminal(str(td.name), str(p.value), flags, literal=None, priority=int(td.priority))


def lark_to_cfg(text: str, start: str = "start", *, path: str | None = None,
                import_paths: Sequence[str] = (), allow_unreachable: bool = False) -> CFG:
    """Convert a grammar in Lark syntax to a `CFG`.

    Parameters
    ----------
    text : str
        The grammar, as for ``lark.Lark(text)``.
    start : str
        The start rule.
    path : str, optional
        The grammar file's path, for relative imports (``%import .other.rule``).
    import_paths : sequence of str
        Extra folders searched by ``%import``, before lark's standard library; ``common`` is
        always our lookaround-free `COMMON_LARK`.
    allow_unreachable : bool
        Drop rules and terminals that ``start`` cannot reach (as lark does) instead of raising;
        for grammars with several entry points or unused definitions.

    Returns
    -------
    CFG
        Rules as lark expands them into BNF (helper rules named ``__<rule>_<op>_<n>`` with
        ``origin`` the user rule), the terminals the rules reachable from ``start`` use, and the
        ``%ignore`` terminals. Literals are ``re.escape``d with ``literal`` set; ``"..."i`` and
        ``/.../flags`` become ``re`` flags.

    Raises
    ------
    InvalidSyntax
        Malformed grammar text; an undefined or unreachable rule or terminal; a start rule that
        is not defined; a rule that derives no finite string (empty language); a terminal whose
        regex is malformed, matches nothing, or matches the empty string. ``line``/``column``
        locate the offending symbol when it is in ``text``.
    UnsupportedFeature
        Templates; ``%declare``d symbols reachable from ``start``; a terminal regex with a
        lookaround, backreference or other feature `constrain.Regex` refuses (the message names
        the terminal and its line).
    LimitExceeded
        A terminal's DFA exceeds the default `RegexLimits`.
    """
    sc = _scan(text, _raw_tree(text))
    _check_references(sc, text, start)
    lterms, lrules, ignore = _lark_compile(text, start, path, import_paths)
    _check_reachable(sc, lrules, ignore, text, start, allow_unreachable)
    tdefs = {td.name: td for td in lterms}
    terminals = _terminals(sc, tdefs, lterms, lrules, ignore, text)
    rules = _rules(sc, lrules, terminals)
    cfg = CFG(start=start, rules=tuple(rules), terminals=terminals,
              ignore=tuple(str(i) for i in ignore), word_chars=_word_chars(tdefs))
    _check_productive(cfg, text, lambda name: sc.defs.get(name, (None, None))[1])
    return cfg


def _check_references(sc: _Scan, text: str, start: str) -> None:
    """Undefined symbols and an undefined start rule: `InvalidSyntax` with their position."""
    known = set(sc.defs) | set(sc.imported) | set(sc.declared)
    for tok in sc.refs:
        if str(tok) not in known:
            kind = "terminal" if str(tok).lstrip("_")[:1].isupper() else "rule"
            raise _syntax_error(f"undefined {kind} '{tok}'", text, tok)
    if start not in sc.defs and start not in sc.imported:
        raise InvalidSyntax(f"the start rule '{start}' is not defined", source=text)


def _lark_compile(text: str, start: str, path: str | None, import_paths: Sequence[str]):
    """lark's loader and EBNF → BNF expansion: (terminal defs, rules, ignored names)."""
    from lark.exceptions import GrammarError
    from lark.load_grammar import GrammarBuilder

    gb = GrammarBuilder(False, [_common_loader, *import_paths])
    try:
        gb.load_grammar(text, path or "<string>")
        grammar = gb.build()
        return grammar.compile([start], "*")
    except GrammarError as e:
        raise InvalidSyntax(f"invalid Lark grammar: {e}", source=text) from None
    except OSError as e:
        name = getattr(e, "filename", None) or str(e)
        raise InvalidSyntax(f"invalid Lark grammar: cannot import {name!r}", source=text) from None


def _check_reachable(sc: _Scan, lrules, ignore, text: str, start: str,
                     allow_unreachable: bool) -> None:
    """Every user rule and terminal is reachable from ``start`` (or `InvalidSyntax` at it),
    unless ``allow_unreachable``."""
    used_terms: set[str] = set(ignore)
    reach_rules: set[str] = set()
    for r in lrules:
        reach_rules.add(r.origin.name)
        used_terms.update(s.name for s in r.expansion if s.is_term)
    stack = list(used_terms)
    while stack:  # terminals used inside reachable terminals' definitions
        for t in sc.term_refs.get(stack.pop(), ()):
            if t not in used_terms:
                used_terms.add(t)
                stack.append(t)
    for name, (kind, tok) in sc.defs.items():
        if name in reach_rules or name in used_terms or allow_unreachable or name == WORD_CHARS:
            continue
        what = "rule" if kind == "rule" else "terminal"
        raise _syntax_error(f"{what} '{name}' is unreachable from the start rule '{start}' "
                            "(remove it, or pass allow_unreachable=True)", text, tok)


def _terminals(sc: _Scan, tdefs: dict, lterms, lrules, ignore, text: str) -> dict[str, Terminal]:
    """The IR terminals the rules and ``%ignore`` use, validated (with their position);
    `UnsupportedFeature` for a ``%declare``d terminal (no pattern)."""
    for r in lrules:
        for s in r.expansion:
            if s.is_term and s.name not in tdefs:
                tok = sc.declared.get(s.name)
                line, col = _tok_pos(tok)
                raise UnsupportedFeature("%declare", detail=f"terminal {s.name} (line {line}, "
                                         f"column {col}) has no pattern: lark fills declared "
                                         "terminals from a post-lexer, which has no equivalent here")
    terminals: dict[str, Terminal] = {}
    emitted = set(ignore) | {s.name for r in lrules for s in r.expansion if s.is_term}
    for td in lterms:
        if td.name not in emitted:
            continue
        term = _pattern_to_terminal(td)
        if td.name in sc.defs:
            tok = sc.defs[td.name][1]
            where = f"terminal {td.name}"
        elif td.name in sc.imported:
            tok = sc.imported[td.name]
            where = f"imported terminal {td.name}"
        else:
            raw = getattr(td.pattern, "raw", None)
            tok = sc.literals.get(raw) if raw else None
            where = f"the literal {raw}" if raw else f"terminal {td.name}"
        line, col = _tok_pos(tok)
        if term.literal is None:
            new = lark_lexeme_pattern(term.pattern, term.flags, where)
            if new != term.pattern:
                term = Terminal(term.name, new, term.flags, None, term.priority)
        validate_terminal(term, where, source=text, line=line, column=col)
        terminals[term.name] = term
    return terminals


def _rules(sc: _Scan, lrules, terminals: dict) -> list[Rule]:
    """The IR rules (duplicates dropped, ``origin`` the user rule); `UnsupportedFeature` for a
    ``%declare``d rule (no definition)."""
    user_rules = [n for n, (k, _) in sc.defs.items() if k == "rule"]
    rules: list[Rule] = []
    seen: set[tuple[str, tuple[str, ...]]] = set()
    for r in lrules:
        lhs = str(r.origin.name)
        rhs = tuple(str(s.name) for s in r.expansion)
        if (lhs, rhs) in seen:
            continue
        seen.add((lhs, rhs))
        rules.append(Rule(lhs, rhs, _origin(lhs, user_rules)))
    lhs_set = {r.lhs for r in rules}
    for r in rules:
        for s in r.rhs:
            if s not in terminals and s not in lhs_set:
                tok = sc.declared.get(s)
                line, col = _tok_pos(tok)
                raise UnsupportedFeature("%declare", detail=f"rule {s} (line {line}, column {col}) "
                                         "has no definition")
    return rules


def _word_chars(tdefs: dict) -> str:
    """`CFG.word_chars` from the grammar's ``_WORD_CHARS`` terminal (flags inlined), or ""."""
    td = tdefs.get(WORD_CHARS)
    if td is None:
        return ""
    term = _pattern_to_terminal(td)
    letters = "".join(letter for letter, bit in _LARK_FLAGS.items() if bit and term.flags & bit)
    return f"(?{letters}:{term.pattern})" if letters else term.pattern


def productive_nonterminals(cfg: CFG) -> set[str]:
    """The nonterminals of `cfg` that derive at least one finite terminal string."""
    from .normalize import productive_symbols

    return productive_symbols([(r.lhs, r.rhs) for r in cfg.rules], cfg.terminals.__contains__)


def _check_productive(cfg: CFG, text: str | None, locate) -> None:
    """Raise `InvalidSyntax` if a nonterminal of `cfg` derives no finite string."""
    prod = productive_nonterminals(cfg)
    if cfg.start not in prod:
        tok = locate(cfg.start)
        raise _syntax_error(f"the language of the grammar is empty: the start rule "
                            f"'{cfg.start}' derives no finite string", text, tok)
    bad = [r for r in cfg.rules if r.lhs not in prod]
    if bad:
        origin = bad[0].origin or bad[0].lhs
        raise _syntax_error(f"rule '{origin}' derives no finite string (its language is empty: "
                            "every alternative recurses without end)", text, locate(origin))
