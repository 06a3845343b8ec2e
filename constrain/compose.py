"""Composition of constraints through the grammar IR: ``Sequence``, ``OneOf``, ``Literal``.

Every byte-level constraint (``Regex``, ``JsonSchema``, ``Grammar``, ``Choice``, ``Literal`` and
the composites here, `Tagged` and `Reasoning` included) converts to a `constrain.grammar.ir.CFG`
with `to_cfg`; a composite renames each part's symbols apart, joins them with a few rules and
compiles the result with ``Grammar.from_cfg``, so masks, ``accepts``, infilling and every
sampler work on it unchanged. A part's ``%ignore`` terminals stay local to it (they are
compiled into its rules, as the engine does for a whole grammar). Token-level constraints
(``Items``) have no byte language and are refused with `UnsupportedFeature`.
"""

from __future__ import annotations

import re

from .errors import UnsupportedFeature
from .grammar.ir import CFG, Rule, Terminal
from .matcher import CompiledConstraint, Completable, Constraint
from .vocab import Vocabulary

__all__ = ["Literal", "Sequence", "OneOf", "GrammarConstraint", "to_cfg", "accepts"]


# -- conversion to the IR ---------------------------------------------------------------------------

def _literal_cfg(text: str) -> CFG:
    if not text:
        return CFG("s", (Rule("s", ()),), {})
    return CFG("s", (Rule("s", ("L",)),), {"L": Terminal("L", re.escape(text), literal=text)})


def _regex_cfg(pattern: str, flags: int) -> CFG:
    return CFG("s", (Rule("s", ("R",)),), {"R": Terminal("R", pattern, flags)})


def to_cfg(part) -> CFG:
    """The IR of a byte-level constraint (see the module docstring); a ``str`` is a literal.

    Raises
    ------
    UnsupportedFeature
        ``part`` is token-level (``Items``) or has no byte language.
    TypeError
        ``part`` is not a constraint.
    """
    if isinstance(part, str):
        return _literal_cfg(part)
    cfg = getattr(part, "cfg", None)
    if isinstance(cfg, CFG):  # Grammar, JsonSchema, the composites
        return cfg
    from .choice import Choice
    from .regex.api import Regex

    if isinstance(part, (Regex, Choice)):
        return _regex_cfg(part.pattern, part.flags)
    if hasattr(part, "compile") and hasattr(part, "cache_key"):
        raise UnsupportedFeature(f"composing a {type(part).__name__}",
                                 detail="only byte-level constraints (Regex, JsonSchema, Grammar, "
                                        "Choice, Literal and their composites) compose")
    raise TypeError(f"cannot compose {type(part).__name__}: expected a constraint or a str")


def _embed(cfg: CFG, prefix: str) -> tuple[CFG, str]:
    """``cfg`` with every symbol renamed ``prefix + name`` and its ``%ignore`` terminals compiled
    into its rules (each terminal ``t`` becomes ``IG t`` and the start ``start IG``, with
    ``IG -> ε | IG ignored``), so the result has no ``ignore``. Returns (cfg, start symbol)."""
    ren = {n: prefix + n for n in cfg.nonterminals}
    ren.update({n: prefix + n for n in cfg.terminals})
    terms = {ren[n]: Terminal(ren[n], t.pattern, t.flags, t.literal, t.priority, t.dfa)
             for n, t in cfg.terminals.items()}
    rules = []
    if cfg.ignore:
        ig = prefix + "~ig"
        rules.append(Rule(ig, ()))
        rules.extend(Rule(ig, (ig, ren[t])) for t in cfg.ignore)
        wrapped = {}
        for n in cfg.terminals:
            if n not in cfg.ignore:
                wrapped[n] = prefix + "~w" + n
                rules.append(Rule(wrapped[n], (ig, ren[n])))
        for r in cfg.rules:
            rules.append(Rule(ren[r.lhs], tuple(wrapped.get(s, ren[s]) for s in r.rhs), r.origin))
        start = prefix + "~start"
        rules.append(Rule(start, (ren[cfg.start], ig)))
    else:
        rules.extend(Rule(ren[r.lhs], tuple(ren[s] for s in r.rhs), r.origin) for r in cfg.rules)
        start = ren[cfg.start]
    return CFG(start, tuple(rules), terms), start


def _word_chars(cfgs) -> str:
    found = {c.word_chars for c in cfgs if c.word_chars}
    if len(found) > 1:
        raise UnsupportedFeature("composing grammars with different word_chars",
                                 detail=", ".join(sorted(found)))
    return found.pop() if found else ""


class CFGBuilder:
    """Accumulates embedded parts and glue rules into one `CFG` (symbol names never collide)."""

    def __init__(self):
        self.rules: list[Rule] = []
        self.terminals: dict[str, Terminal] = {}
        self.parts: list[CFG] = []
        self._n = 0

    def fresh(self, hint: str = "n") -> str:
        self._n += 1
        return f"~{hint}{self._n}"

    def part(self, constraint) -> str:
        """Embed a constraint; returns the nonterminal deriving its language."""
        cfg = to_cfg(constraint)
        self.parts.append(cfg)
        sub, start = _embed(cfg, f"p{len(self.parts)}.")
        self.rules.extend(sub.rules)
        self.terminals.update(sub.terminals)
        return start

    def terminal(self, pattern: str, hint: str = "t", *, literal: str | None = None) -> str:
        name = self.fresh(hint)
        self.terminals[name] = Terminal(name, pattern, 0, literal)
        return name

    def literal(self, text: str) -> str | None:
        """A terminal for a non-empty literal (None for the empty string: use nothing)."""
        return self.terminal(re.escape(text), "lit", literal=text) if text else None

    def rule(self, lhs: str, *rhs: str | None) -> None:
        self.rules.append(Rule(lhs, tuple(s for s in rhs if s is not None)))

    def build(self, start: str) -> CFG:
        return CFG(start, tuple(self.rules), dict(self.terminals),
                   word_chars=_word_chars(self.parts))


# -- constraints ------------------------------------------------------------------------------------

class GrammarConstraint(Completable, Constraint):
    """Base of constraints defined by a `CFG` they build in ``_make_cfg``: compiled with
    ``Grammar.from_cfg`` (``limits`` are `GrammarLimits`), cached by the CFG's text."""

    def _init_grammar(self, cfg: CFG, limits=None) -> None:
        from .grammar.api import Grammar

        self.cfg = cfg
        self.grammar = Grammar.from_cfg(cfg, limits=limits)
        self._key = cfg.to_text()

    def cache_key(self) -> tuple:
        return (type(self).__name__, self._key, self.grammar.limits)

    def _compile(self, vocab: Vocabulary) -> CompiledConstraint:
        return self.grammar._compile(vocab)

    def accepts(self, text: str | bytes) -> bool:
        """Whether ``text`` (UTF-8 when str) is in the language (no vocabulary needed)."""
        return self.grammar.accepts(text)


class Literal(GrammarConstraint):
    """Exactly the string ``text``."""

    def __init__(self, text: str):
        if not isinstance(text, str):
            raise TypeError(f"Literal takes a str, not {type(text).__name__}")
        self.text = text
        self._init_grammar(_literal_cfg(text))

    def __repr__(self) -> str:
        return f"Literal({self.text!r})"


class Sequence(GrammarConstraint):
    """The concatenation of the parts' languages (``str`` parts are literals).

    Examples
    --------
    >>> c = Sequence("Answer: ", Choice(["yes", "no"]), Regex(r"\\. [A-Z][a-z ]{0,40}\\."))
    """

    def __init__(self, *parts, limits=None):
        if not parts:
            raise ValueError("Sequence needs at least one part")
        self.parts = parts
        b = CFGBuilder()
        syms = [b.part(p) for p in parts]
        b.rule("~start", *syms)
        self._init_grammar(b.build("~start"), limits)

    def __repr__(self) -> str:
        return f"Sequence({', '.join(map(repr, self.parts))})"


class OneOf(GrammarConstraint):
    """The union of the parts' languages (``str`` parts are literals)."""

    def __init__(self, *parts, limits=None):
        if not parts:
            raise ValueError("OneOf needs at least one part")
        self.parts = parts
        b = CFGBuilder()
        for p in parts:
            b.rule("~start", b.part(p))
        self._init_grammar(b.build("~start"), limits)

    def __repr__(self) -> str:
        return f"OneOf({', '.join(map(repr, self.parts))})"


def accepts(constraint, text: str | bytes) -> bool:
    """Whether ``text`` is in a byte-level constraint's language (``accepts`` or ``fullmatch``)."""
    if isinstance(constraint, str):
        return (text.decode("utf-8", "replace") if isinstance(text, bytes) else text) == constraint
    for name in ("accepts", "fullmatch"):
        f = getattr(constraint, name, None)
        if f is not None:
            return bool(f(text))
    raise TypeError(f"{type(constraint).__name__} cannot check a text")
