"""Text-to-SQL constraints: a SQLite grammar narrowed to one database's tables and columns.

`sql_grammar(entry)` is the constraint (a `Grammar`); `sql_grammar_text(entry)` the Lark text
behind it, for inspection or editing. ``entry`` is a Spider ``tables.json`` entry (``table_names_original``,
``column_names_original``) or any mapping with those keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

if TYPE_CHECKING:
    from .grammar.api import Grammar, GrammarLimits

__all__ = ["sql_grammar", "sql_grammar_text"]


def sql_grammar_text(tables_entry: Mapping) -> str:
    """Lark text of ``grammars/sqlite.lark`` with table and column names restricted to the
    database's (ASCII case folded, as SQLite compares them)."""
    from .grammar.sql import sql_grammar as lark_text

    if not isinstance(tables_entry, Mapping):
        raise TypeError(f"tables_entry must be a mapping (a Spider tables.json entry), "
                        f"not {type(tables_entry).__name__}")
    return lark_text(tables_entry)


def sql_grammar(tables_entry: Mapping, *, limits: "GrammarLimits | None" = None) -> "Grammar":
    """The per-database SQL constraint: ``Grammar(sql_grammar_text(tables_entry))``.
    Compiling costs tens of milliseconds; compile once per (database, vocabulary)."""
    from .grammar.api import Grammar

    return Grammar(sql_grammar_text(tables_entry), limits=limits)
