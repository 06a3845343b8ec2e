"""grammars/sqlite.lark and `sql_grammar`: Spider's gold queries parse, other databases' names
do not.

lark's Earley parser (``dynamic_complete``) takes ~140-220 ms per Spider query on this grammar,
so the test parses a fixed sample (every 4th query, ~200); the full check of all 802 queries
(100% accepted at the time of writing) is ``benchmarks/check_spider_grammar.py``.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

import constrain as cn
from constrain.grammar.lark_frontend import lark_to_cfg
from constrain.grammar.loader import load, load_text
from constrain.grammar.sql import KEYWORDS, identifier_regex, name_regex, sql_grammar
from constrain.grammar.testing import lark_accepts, lark_parser

SPIDER = Path(__file__).resolve().parents[2] / "shared" / "data" / "spider"
needs_spider = pytest.mark.skipif(not SPIDER.exists(), reason="Spider data (../shared/data/spider) not present")
ROWS = [json.loads(line) for line in (SPIDER / "dev.jsonl").read_text().splitlines()] if SPIDER.exists() else []
TABLES = {t["db_id"]: t for t in json.loads((SPIDER / "tables.json").read_text())} if SPIDER.exists() else {}


@pytest.fixture(scope="module")
def sqlite_parser():
    return lark_parser(load("sqlite"))


@needs_spider
def test_spider_sample_accepted(sqlite_parser):
    """lark's Earley parser (the grammar without word boundaries) and our engine (with them)."""
    sample = ROWS[::4]
    g = cn.Grammar(load_text("sqlite"))
    for accepts in (lambda q: lark_accepts(sqlite_parser, q), g.accepts):
        refused = [r["query"] for r in sample if not accepts(r["query"])]
        assert len(refused) <= 0.02 * len(sample), refused


def test_sqlite_language_details(sqlite_parser):
    good = [
        "select a from t",
        "SELECT DISTINCT T1.name, count(*) AS c FROM t1 AS T1 JOIN t2 T2 ON T1.id = T2.id "
        "WHERE T1.x LIKE '%a''b%' AND T2.y NOT IN (SELECT y FROM t3) GROUP BY T1.name "
        "HAVING count(*) >= 2 ORDER BY c DESC, T1.name LIMIT 5 OFFSET 2;",
        'SELECT "weird col", `t`.[x y] FROM "my table" WHERE a BETWEEN 1 AND 2 AND b != "s"',
        "SELECT a FROM t UNION ALL SELECT b FROM u EXCEPT SELECT c FROM v INTERSECT SELECT d FROM w",
        "SELECT * FROM t WHERE NOT EXISTS (SELECT 1 FROM u WHERE u.a = t.a) OR a IS NOT NULL",
        "SELECT CASE WHEN a > 1 THEN 'x' ELSE 'y' END, CAST(b AS REAL), -a * (b + 2) || 'z' FROM t",
        "SELECT t.* FROM t LEFT OUTER JOIN u USING (id) NATURAL JOIN v CROSS JOIN w, z",
        "SELECT max(a), min(b), avg(c), sum(DISTINCT d) FROM (SELECT * FROM t) AS s",
        "sElEcT a fRoM t wHeRe b = 1e3 limit 1, 2",
    ]
    bad = [
        "SELECT a FROM t WHERE",  # WHERE is no alias
        "SELECT a FROM t AS select",
        "SELECT FROM t",
        "SELECT a FROM t WHERE a = 'unterminated",
        "SELECT a FROM t LIMIT",
        "SELECT a FROM t GROUP a",
        "SELECT a FROM t ORDER BY",
        "SELECT a FROM t; SELECT b FROM u",
        "DELETE FROM t",
        "SELECT a FROM t JOIN ON x = y",
    ]
    for q in good:
        assert lark_accepts(sqlite_parser, q), q
    for q in bad:
        assert not lark_accepts(sqlite_parser, q), q


def _sqlite_parses(db, q: str) -> bool:
    """Whether SQLite itself parses ``q`` (errors other than syntax, e.g. unknown columns, pass)."""
    try:
        db.execute("EXPLAIN " + q)
        return True
    except sqlite3.Error as e:
        return not any(m in str(e) for m in ("syntax error", "unrecognized token", "incomplete input"))


def test_word_boundaries_agree_with_sqlite3():
    """No token boundary between two word characters (``_WORD_CHARS``): keywords, identifiers and
    numbers that touch are one word, as in SQLite's tokenizer; punctuation and quotes separate."""
    g = cn.Grammar(load_text("sqlite"))
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t(a, b, x)")
    db.execute("CREATE TABLE u(a, c)")
    queries = {
        "SELECTa FROM t": False, "SELECT a FROMt": True, "SELECT 1AS x FROM t": False,
        "SELECT a FROM t WHERE a=1AND b=2": False, "SELECT a FROM t ORDER BY a DESC LIMIT5": False,
        "SELECT a FROM t LIMIT 1OFFSET 2": False, "SELECT a FROM t UNIONSELECT b FROM t": False,
        "SELECT a FROM t AS T1JOIN u": False, "SELECTx'00' FROM t": False, "SELECT -1FROM t": False,
        "SELECT a FROM t WHERE b ISNOT NULL": False, "SELECT 1e FROM t": False,
        "SELECT a FROM t WHERE a='x'AND b=2": True, "SELECT count(*)AS c FROM t": True,
        "SELECT a FROM t WHERE b ISNULL": True, "SELECT a FROM t WHERE bISNULL": True,
        "SELECT t.a FROM t JOIN u ON t.a=u.a": True, "SELECT a FROM t WHERE a IN(1,2)": True,
        "SELECT x'00'FROM t": True, 'SELECT "a"FROM t': True, 'SELECT a FROM"t"': True,
        "SELECT CAST(a AS INTEGER)FROM t": True, "SELECT DISTINCTa FROM t": True,
        "SELECT a FROM t GROUP BY a HAVING count(*)>1": True, "SELECT 1.5e3 FROM t": True,
        # keywords fold ASCII letters only (SQLite's sqlite3UpperToLower), not U+017F or U+212A
        "\u017fELECT a FROM t": False, "SELECT a FROM t ORDER BY a DES\u212a": False,
        "sElEcT a FrOm t": True,
    }
    for q, ok in queries.items():
        assert _sqlite_parses(db, q) == ok, q
        assert g.accepts(q) == ok, q


def test_ident_terminal_is_the_generated_keyword_free_regex():
    cfg = load("sqlite")
    assert cfg.terminals["IDENT"].pattern == identifier_regex()
    rx = re.compile(identifier_regex())
    for k in KEYWORDS:
        for w in (k, k.lower(), k.title()):
            assert not rx.fullmatch(w)
        assert rx.fullmatch(k + "s") and rx.fullmatch(k[:-1] + "_")
    for w in ("T1", "count", "Name", "_x", "year", "o", "i", "isnt"):
        assert rx.fullmatch(w)
    for w in ("1a", "", "a b", "a-b"):
        assert not rx.fullmatch(w)
    cn.Regex(identifier_regex())  # lookaround-free, our engine takes it


def test_name_regex_quoting_and_case():
    rx = re.compile(name_regex(["Official_ratings_(millions)", "Name", "order", "Ärger"]))
    for s in ['"Official_ratings_(millions)"', "`official_ratings_(MILLIONS)`",
              "[Official_ratings_(millions)]", "name", "NAME", '"Name"', '"order"']:
        assert rx.fullmatch(s), s
    assert rx.fullmatch('"Ärger"') and not rx.fullmatch('"äRGER"')  # SQLite folds ASCII only
    for s in ["Official_ratings_(millions)", "order", "Names", '"Name']:
        assert not rx.fullmatch(s), s


@pytest.fixture(scope="module")
def schema_parsers():
    return {db: lark_parser(lark_to_cfg(sql_grammar(entry))) for db, entry in TABLES.items()}


def _columns(entry) -> set[str]:
    return {c.lower() for ti, c in entry["column_names_original"] if ti >= 0}


@needs_spider
def test_sql_grammar_accepts_each_databases_gold_queries(schema_parsers):
    for db, parser in schema_parsers.items():
        rows = [r for r in ROWS if r["db_id"] == db][::10][:4]
        for r in rows:
            assert lark_accepts(parser, r["query"]), (db, r["query"])


@needs_spider
def test_sql_grammar_refuses_other_databases_names(schema_parsers):
    dbs = sorted(TABLES)
    for k, db in enumerate(dbs):
        entry = TABLES[db]
        parser = schema_parsers[db]
        table = entry["table_names_original"][0]
        own = [c for ti, c in entry["column_names_original"] if ti == 0][0]
        other_entry = TABLES[dbs[(k + 1) % len(dbs)]]
        foreign = next(c for ti, c in other_entry["column_names_original"]
                       if ti >= 0 and c.lower() not in _columns(entry)
                       and re.fullmatch(r"[A-Za-z_]\w*", c) and c.upper() not in KEYWORDS)
        foreign_table = next(t for t in other_entry["table_names_original"]
                             if t.lower() not in {x.lower() for x in entry["table_names_original"]})
        q = f"SELECT {_quote(own)} FROM {_quote(table)}"
        assert lark_accepts(parser, q), q
        assert lark_accepts(parser, f"SELECT T1.{_quote(own)} FROM {_quote(table).upper()} AS T1")
        assert not lark_accepts(parser, f"SELECT {foreign} FROM {_quote(table)}"), (db, foreign)
        assert not lark_accepts(parser, f"SELECT T1.{foreign} FROM {_quote(table)} AS T1")
        assert not lark_accepts(parser, f"SELECT {_quote(own)} FROM {foreign_table}")


def _quote(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z_]\w*", name) and name.upper() not in KEYWORDS \
        else f'"{name}"'


@needs_spider
def test_sql_grammar_is_lark_text_with_overrides():
    text = sql_grammar(TABLES["singer"])
    assert text.startswith(load_text("sqlite"))
    assert "%override table_name" in text and "%override column_name" in text
