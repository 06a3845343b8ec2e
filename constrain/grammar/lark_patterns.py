"""Lark terminal patterns with lazy quantifiers, made explicit for all-splits lexing.

lark's Earley (dynamic lexers) takes a terminal's regex match at a position, then its truncations:
a lazy ``".*?"`` therefore only ever lexes up to the *first* closing quote, while the language
of the regex (what all-splits lexing over `re.fullmatch` means) also contains '"a"b"'. The
common idiom "any-class, lazily, then a one- or two-character delimiter, then a nullable tail"
is rewritten into the delimiter-free form lark's lexemes have (``"[^"\n]*"``); other lazy
quantifiers are kept, silently when the terminal's language is prefix-free (then shortest-first
and all-splits lexing agree), with a warning otherwise (their full language is used).
"""

from __future__ import annotations

import re

from ..errors import InvalidSyntax, LimitExceeded, UnsupportedFeature
from ..regex.parser import group_depths

__all__ = ["lark_lexeme_pattern"]

_ANY_LAZY = re.compile(r"""(?x)
    (?P<cls> \. | \((?:\?:)?\.\|(?:\\n|\n)\) | \((?:\?:)?(?:\\n|\n)\|\.\) | \[\\s\\S\] | \[\\S\\s\]
           | \[\^(?:\\.|[^\]\\])+\] )
    (?P<q>[*+])\?""")
_DELIM_ATOM = re.compile(r"\\[^A-Za-z0-9]|[^\\.^$*+?{}\[\]|()]")


def _split_top(pattern: str, pos: int) -> int:
    """Group depth of ``pattern`` at ``pos`` (outside classes, escapes honoured)."""
    depth = 0
    for i, c, d in group_depths(pattern):
        if i >= pos:
            break
        depth = d + (c == "(") - (c == ")")
    return depth


def _delazy(pattern: str, flags: int) -> str | None:
    """The lazy-free equivalent of ``pattern`` under lark's shortest-first matching, for the
    idiom ``PREFIX (any)*? DELIM TAIL`` (DELIM one character, or two different characters with
    ``*?``; TAIL lazy-free and matching the empty string); None if ``pattern`` is not that."""
    m = None
    for m in _ANY_LAZY.finditer(pattern):
        break
    if m is None or _split_top(pattern, m.start()) != 0:
        return None
    rest = pattern[m.end():]
    atoms = []
    j = 0
    while len(atoms) < 2:
        a = _DELIM_ATOM.match(rest, j)
        if a is None:
            break
        atoms.append(a.group(0))
        j = a.end()
    cls, q = m.group("cls"), m.group("q")
    if cls.startswith("[^"):
        excluded = cls[2:-1]
    elif cls == "." and not flags & re.DOTALL:
        excluded = r"\n"
    else:
        excluded = ""
    for n in (1, 2):
        if len(atoms) < n or (n == 2 and (q == "+" or atoms[0] == atoms[1])):
            continue
        delim = atoms[:n]
        tail = rest[len("".join(delim)):]
        if re.search(r"[*+?}]\?", tail) or (flags & re.IGNORECASE and any(
                d[-1].isalpha() for d in delim)):
            continue
        try:
            if re.fullmatch(tail, "", flags) is None or _split_top(tail, len(tail)) != 0:
                continue
        except re.error:
            continue
        lit = [d[-1] for d in delim]
        if any(("\\" + ch) in excluded or ch in excluded.replace("\\\\", "") for ch in lit
               if ch != "\\"):
            return None  # the delimiter cannot occur in the class: keep the pattern as it is
        esc = ["\\" + ch if not ch.isalnum() else ch for ch in lit]
        any_ = f"[^{excluded}]" if excluded else r"[\s\S]"
        if n == 1:
            not_a = f"[^{excluded}{esc[0]}]"
            body = f"(?:{not_a})*" if q == "*" else f"{any_}(?:{not_a})*"
        else:
            not_a = f"[^{excluded}{esc[0]}]"
            not_ab = f"[^{excluded}{esc[0]}{esc[1]}]"
            body = f"{not_a}*(?:{esc[0]}+{not_ab}{not_a}*)*{esc[0]}*"
        return pattern[:m.start()] + body + "".join(delim) + tail
    return None


def lark_lexeme_pattern(pattern: str, flags: int, where: str) -> str:
    """``pattern`` with lark's shortest-first idioms made explicit (see `_delazy`)."""
    if not re.search(r"[*+?}]\?", pattern):
        return pattern
    from .lark_frontend import terminal_regex  # lazy: that module imports this one

    try:
        dfa = terminal_regex(pattern, flags).dfa
        if not (dfa.transitions[dfa.accepting] >= 0).any():
            return pattern  # prefix-free language: shortest-first and all splits agree
    except (InvalidSyntax, UnsupportedFeature, LimitExceeded):
        return pattern  # validate_terminal reports it
    new = _delazy(pattern, flags)
    if new is not None and not re.search(r"[*+?}]\?", new):
        return new
    import warnings

    warnings.warn(f"{where} has a lazy quantifier: its full regular language is used, which "
                  "can be larger than the lexemes lark's shortest-first matching produces "
                  f"(pattern {pattern!r})", stacklevel=5)
    return pattern
