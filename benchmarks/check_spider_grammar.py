"""Check grammars/sqlite.lark (and sql_grammar per database) against Spider's gold queries.

Recognizes every gold query of ``../shared/data/spider/dev.jsonl`` with our engine
(`constrain.Grammar.accepts`: the grammar's full language, word boundaries included, which lark's
Earley parser cannot express; the engine is tested against lark elsewhere), and prints the
acceptance rate, the refused queries and the timing. ``--schema`` also checks `sql_grammar(entry)`
of each query's database. Usage: ``python benchmarks/check_spider_grammar.py [--schema] [--limit N]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

SPIDER = Path(__file__).resolve().parents[2] / "shared" / "data" / "spider"


def main() -> int:
    from constrain.grammar.api import Grammar
    from constrain.grammar.loader import load_text
    from constrain.grammar.sql import sql_grammar

    ap = argparse.ArgumentParser()
    ap.add_argument("--schema", action="store_true", help="also check sql_grammar per database")
    ap.add_argument("--limit", type=int, default=0)
    args = ap.parse_args()

    rows = [json.loads(line) for line in (SPIDER / "dev.jsonl").read_text().splitlines()]
    if args.limit:
        rows = rows[:args.limit]
    t0 = time.perf_counter()
    grammar = Grammar(load_text("sqlite"))
    t1 = time.perf_counter()
    refused = [(r["id"], r["query"]) for r in rows if not grammar.accepts(r["query"])]
    t2 = time.perf_counter()
    n = len(rows)
    print(f"sqlite.lark: {n - len(refused)}/{n} accepted ({100 * (n - len(refused)) / n:.2f}%), "
          f"build {t1 - t0:.2f}s, recognize {t2 - t1:.1f}s ({1000 * (t2 - t1) / n:.1f} ms/query)")
    for qid, q in refused:
        print(f"  REFUSED {qid}: {q}")

    if args.schema:
        tables = {t["db_id"]: t for t in json.loads((SPIDER / "tables.json").read_text())}
        grammars = {}
        bad = []
        t3 = time.perf_counter()
        for r in rows:
            db = r["db_id"]
            if db not in grammars:
                grammars[db] = Grammar(sql_grammar(tables[db]))
            if not grammars[db].accepts(r["query"]):
                bad.append((r["id"], db, r["query"]))
        t4 = time.perf_counter()
        print(f"sql_grammar: {n - len(bad)}/{n} accepted ({100 * (n - len(bad)) / n:.2f}%) "
              f"over {len(grammars)} databases, {t4 - t3:.1f}s")
        for qid, db, q in bad:
            print(f"  REFUSED {qid} [{db}]: {q}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
