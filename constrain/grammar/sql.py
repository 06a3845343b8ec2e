"""SQL grammars: the shipped SQLite SELECT grammar (``grammars/sqlite.lark``) and its restriction
to one database's schema (`sql_grammar`).

Bare identifiers exclude the reserved words of `KEYWORDS` (case-insensitively), so that
``SELECT a FROM t WHERE`` cannot read ``WHERE`` as an alias. Without lookarounds that exclusion is
a regex of its own, made by `identifier_regex` (a trie of the keywords, complemented); the
``IDENT`` terminal of ``sqlite.lark`` is its output, and a test checks that they agree.
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping

__all__ = ["KEYWORDS", "ascii_caseless", "identifier_regex", "name_regex", "sql_grammar"]

#: Words a bare identifier cannot be (SQLite reserves them in the positions the grammar uses).
KEYWORDS: tuple[str, ...] = (
    "ALL", "AND", "AS", "ASC", "BETWEEN", "BY", "CASE", "CAST", "COLLATE", "CROSS", "DESC",
    "DISTINCT", "ELSE", "END", "ESCAPE", "EXCEPT", "EXISTS", "FROM", "GLOB", "GROUP", "HAVING",
    "IN", "INNER", "INTERSECT", "IS", "ISNULL", "JOIN", "LEFT", "LIKE", "LIMIT", "NATURAL", "NOT",
    "NOTNULL", "NULL", "OFFSET", "ON", "OR", "ORDER", "OUTER", "REGEXP", "SELECT", "THEN",
    "UNION", "USING", "WHEN", "WHERE",
)

_WORD_START = "A-Za-z_"
_WORD = "A-Za-z0-9_"


def ascii_caseless(text: str) -> str:
    """A regex for ``text`` with ASCII letters in either case (``[Ss]``) and everything else,
    non-ASCII letters included, literal: SQLite's case folding, which is ASCII-only (a regex
    ``i`` flag would also fold e.g. U+017F to ``s``), in a form every regex dialect reads."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isascii() and c.isalpha() else re.escape(c)
                   for c in text)


def identifier_regex(exclude: Iterable[str] = KEYWORDS) -> str:
    """A lookaround-free regex for ``[A-Za-z_][A-Za-z0-9_]*`` minus the words of ``exclude``
    (compared case-insensitively).

    Built from the trie of the excluded words: at each trie node the identifier may go on with a
    character that leaves the trie (then anything), follow a trie edge (either case), or stop
    (unless the prefix is an excluded word). Stopping is the last alternative, so that
    ``re.match`` (which lark's Earley lexer uses) finds the longest identifier first.
    """
    trie: dict = {}
    for w in exclude:
        node = trie
        for ch in w.upper():
            node = node.setdefault(ch, {})
        node["$"] = True

    def rx(node: dict, first: bool) -> str:
        alts = []
        letters = sorted(k for k in node if k != "$")
        word_class = _WORD_START if first else _WORD
        excluded = "".join(c + c.lower() if c.isalpha() else re.escape(c) for c in letters)
        others = f"[{word_class}]" if not excluded else _class_minus(word_class, excluded)
        alts.append(f"{others}[{_WORD}]*")
        for c in letters:
            alts.append(ascii_caseless(c) + rx(node[c], False))
        if not node.get("$") and not first:
            alts.append("")  # last: lark's re.match takes the first alternative that matches
        body = "|".join(alts)
        return f"(?:{body})"

    return rx(trie, True)


def _class_minus(word_class: str, excluded: str) -> str:
    chars = set()
    for lo, hi in re.findall(r"(.)-(.)", word_class):
        chars.update(chr(c) for c in range(ord(lo), ord(hi) + 1))
    chars.update(c for c in re.sub(r".-.", "", word_class))
    chars -= set(excluded)
    # compress into ranges
    codes = sorted(map(ord, chars))
    parts, i = [], 0
    while i < len(codes):
        j = i
        while j + 1 < len(codes) and codes[j + 1] == codes[j] + 1:
            j += 1
        lo, hi = chr(codes[i]), chr(codes[j])
        parts.append(lo if i == j else f"{lo}{hi}" if j == i + 1 else f"{lo}-{hi}")
        i = j + 1
    return "[" + "".join(parts) + "]"


def name_regex(names: Iterable[str]) -> str:
    """A regex, case-insensitive over ASCII letters (`ascii_caseless`), for any of ``names``
    written bare (when a valid, non-reserved bare identifier), or quoted as ``"name"``,
    ``\\`name\\```` or ``[name]``."""
    names = sorted(set(names), key=lambda s: (-len(s), s.lower()))
    reserved = {k.lower() for k in KEYWORDS}
    bare = [n for n in names if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", n)
            and n.lower() not in reserved]
    alts = [ascii_caseless(n) for n in bare]
    for n in names:
        alts.append('"' + ascii_caseless(n.replace('"', '""')) + '"')
        alts.append("`" + ascii_caseless(n.replace("`", "``")) + "`")
        if "]" not in n:
            alts.append(r"\[" + ascii_caseless(n) + r"\]")
    return "(?:" + "|".join(alts) + ")"


def sql_grammar(tables_entry: Mapping) -> str:
    """Lark text for SQLite SELECT queries over one database: ``grammars/sqlite.lark`` with
    table names restricted to the database's tables and column names to its columns.

    Parameters
    ----------
    tables_entry : mapping
        One entry of Spider's ``tables.json``: uses ``table_names_original`` and
        ``column_names_original`` (``[table_index, name]`` pairs; index -1 is ``*``).

    Returns
    -------
    str
        Lark text (start rule ``start``). Names match case-insensitively, bare (when a valid bare
        identifier that is not a keyword) or quoted with ``"..."``, backquotes or ``[...]``.
        A qualifier before ``.`` may be a table name or any alias (aliases are declared by the
        query); a column after ``.`` or standing alone must be one of the database's columns.
    """
    from .loader import load_text

    tables = [str(t) for t in tables_entry["table_names_original"]]
    columns = [str(c) for ti, c in tables_entry["column_names_original"] if ti >= 0 and c != "*"]
    if not tables:
        raise ValueError("tables_entry has no tables")
    base = load_text("sqlite")
    extra = [
        "",
        f"// Schema of database {tables_entry.get('db_id', '?')}",
        "%override table_name: SCHEMA_TABLE",
        "%override column_name: SCHEMA_COLUMN" if columns else "",
        f"SCHEMA_TABLE: /{_lark_escape(name_regex(tables))}/",
        f"SCHEMA_COLUMN: /{_lark_escape(name_regex(columns))}/" if columns else "",
    ]
    return base + "\n".join(x for x in extra if x or x == "") + "\n"


def _lark_escape(pattern: str) -> str:
    """``pattern`` inside a Lark ``/.../`` literal (unescaped slashes escaped)."""
    return re.sub(r"(?<!\\)((?:\\\\)*)/", r"\1\\/", pattern)
