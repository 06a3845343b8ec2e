"""Check grammars/sqlite.lark (and sql_grammar per database) against Spider's gold queries.

Parses every gold query of ``../shared/data/spider/dev.jsonl`` with lark's Earley parser
(``lexer="dynamic_complete"``) on the CFG that `constrain.grammar.lark_frontend.lark_to_cfg`
makes of the grammar (converted back to Lark text), and prints the acceptance rate, the refused
queries with lark's error, and the timing. ``--schema`` also checks `sql_grammar(entry)` of each
query's database. Usage: ``python benchmarks/check_spider_grammar.py [--schema] [--limit N]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

SPIDER = Path(__file__).resolve().parents[2] / "shared" / "data" / "spider"


def main() -> int:
    from lark.exceptions import LarkError

    from constrain.grammar.lark_frontend import lark_to_cfg
    from constrain.grammar.loader import load_text
    from constrain.grammar.sql import sql_grammar
    from constrain.grammar.testing import lark_parser

    ap = argparse.ArgumentParser()
    ap.add_argument("--schema", action="store_true", help="also check sql_grammar per database")
    ap.add_argument("--limit", type=int, default=0)
    args = ap.parse_args()

    rows = [json.loads(line) for line in (SPIDER / "dev.jsonl").read_text().splitlines()]
    if args.limit:
        rows = rows[:args.limit]
    t0 = time.perf_counter()
    parser = lark_parser(lark_to_cfg(load_text("sqlite")))
    refused = []
    t1 = time.perf_counter()
    for r in rows:
        try:
            parser.parse(r["query"])
        except LarkError as e:
            refused.append((r["id"], r["query"], str(e).splitlines()[0]))
    t2 = time.perf_counter()
    n = len(rows)
    print(f"sqlite.lark: {n - len(refused)}/{n} accepted ({100 * (n - len(refused)) / n:.2f}%), "
          f"build {t1 - t0:.2f}s, parse {t2 - t1:.1f}s ({1000 * (t2 - t1) / n:.1f} ms/query)")
    for qid, q, err in refused:
        print(f"  REFUSED {qid}: {q}\n      {err}")

    if args.schema:
        tables = {t["db_id"]: t for t in json.loads((SPIDER / "tables.json").read_text())}
        parsers = {}
        bad = []
        t3 = time.perf_counter()
        for r in rows:
            db = r["db_id"]
            if db not in parsers:
                parsers[db] = lark_parser(lark_to_cfg(sql_grammar(tables[db])))
            try:
                parsers[db].parse(r["query"])
            except LarkError as e:
                bad.append((r["id"], db, r["query"], str(e).splitlines()[0]))
        t4 = time.perf_counter()
        print(f"sql_grammar: {n - len(bad)}/{n} accepted ({100 * (n - len(bad)) / n:.2f}%) "
              f"over {len(parsers)} databases, {t4 - t3:.1f}s")
        for qid, db, q, err in bad:
            print(f"  REFUSED {qid} [{db}]: {q}\n      {err}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
