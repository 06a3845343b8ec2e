"""Grammars shipped with constrain (the repository's ``grammars/`` folder, installed as the
package ``constrain.grammars``)."""

from __future__ import annotations

from importlib import resources

from ..errors import ConstraintError
from .ir import CFG

__all__ = ["UnknownGrammar", "available", "load", "load_text"]


class UnknownGrammar(ConstraintError, KeyError, ValueError):
    """No grammar of that name is shipped (a `KeyError` too, for code written against the old
    behaviour)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""

_SUFFIXES = (".lark", ".gbnf")


def available() -> list[str]:
    """Names of the shipped grammars (file names without suffix), sorted."""
    root = resources.files("constrain.grammars")
    return sorted(p.name.rsplit(".", 1)[0] for p in root.iterdir()
                  if p.name.endswith(_SUFFIXES))


def _find(name: str):
    if not isinstance(name, str):
        raise TypeError(f"a shipped grammar's name is a str, not {type(name).__name__}")
    root = resources.files("constrain.grammars")
    for cand in ([name] if name.endswith(_SUFFIXES) else [name + s for s in _SUFFIXES]):
        p = root.joinpath(cand)
        if p.is_file():
            return p
    raise UnknownGrammar(f"no shipped grammar {name[:80]!r}; available: {', '.join(available())}")


def load_text(name: str) -> str:
    """The text of the shipped grammar ``name`` (``"json"``, ``"sqlite"``; a ``.lark`` or
    ``.gbnf`` suffix may be given).

    Raises
    ------
    UnknownGrammar
        No such grammar (a `ConstraintError`, also a `KeyError`).
    TypeError
        ``name`` is not a str.
    """
    return _find(name).read_text(encoding="utf-8")


def load(name: str, start: str | None = None) -> CFG:
    """The shipped grammar ``name`` as a `CFG` (Lark files with `lark_to_cfg`, start rule
    ``start`` by default; GBNF files with `gbnf_to_cfg`, start rule ``root``).

    Raises
    ------
    UnknownGrammar
        No such grammar (a `ConstraintError`, also a `KeyError`).
    TypeError
        ``name`` is not a str.
    """
    p = _find(name)
    text = p.read_text(encoding="utf-8")
    if p.name.endswith(".gbnf"):
        from .gbnf import gbnf_to_cfg

        return gbnf_to_cfg(text, start=start or "root")
    from .lark_frontend import lark_to_cfg

    return lark_to_cfg(text, start or "start")
