"""Samplers on SmolLM2-135M-Instruct: LCD (full mask each step) vs AWRS vs AWRS-SMC, and a Spider
text-to-SQL quality harness.

    python benchmarks/bench_sampling.py                       # both parts, small defaults
    python benchmarks/bench_sampling.py --part speed --max-tokens 32 --particles 5
    python benchmarks/bench_sampling.py --part spider --n 20 --spider-max-tokens 100

Part 1 (speed), per constraint and method: constraint checks per emitted token (LCD: one mask per
token, which decides every one of the V ids, so its "checks" column is V), time inside the
matcher calls per token (``fill_mask`` for LCD; ``allows`` / ``is_accepting`` for AWRS), the
sampler's per-token work outside the model (masks, Gumbel keys, partial order), and wall time per
token. Regex constraints now; JSON and SQL grammar rows are printed as "grammar not available
yet" until ``constrain`` exports a grammar constraint (hooks: `json_constraint`, `sql_constraint`).

Part 2 (spider): questions from ``../shared/data/spider`` (spread over the databases), the schema
(``schema.sql``) in the prompt after one worked example (another schema); for each method: share of outputs that parse (sqlite3 reports no
syntax error), that execute, and execution accuracy against the gold query (result multisets;
lists when the gold query has ORDER BY). SMC's accuracy is posterior-weighted. Unconstrained
sampling runs now; LCD and AWRS-SMC rows run once `sql_constraint` returns a constraint.

Torch runs on ``--threads`` intra-op threads (default 1: on a shared 2-core machine two threads
spin-wait and can be several times slower).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sqlite3
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SPIDER = ROOT.parent / "shared" / "data" / "spider"

REGEX_TASKS = {
    "phone": ("Give a US phone number. Answer only with it.", r"\(\d{3}\) \d{3}-\d{4}"),
    "iso_date": ("When did Apollo 11 land on the Moon? Answer with an ISO date.", r"\d{4}-\d{2}-\d{2}"),
    "json_record": ("Describe a person as a JSON object with a name and an age.",
                    r'\{"name": "[A-Za-z ]{1,20}", "age": \d{1,3}\}'),
    "email": ("Give an email address for John Smith.", r"[a-z][a-z.]{0,15}@[a-z]{2,10}\.(com|org|net)"),
}

JSON_TASK = ("Describe a book as JSON with a title, an author and a year.",
             {"type": "object", "properties": {"title": {"type": "string"},
                                               "author": {"type": "string"},
                                               "year": {"type": "integer"}},
              "required": ["title", "author", "year"], "additionalProperties": False})


# ----------------------------------------------------------------------------- grammar hooks
def json_constraint(schema):
    """The JSON constraint: the schema when ``constrain`` has JSON Schema support, else the shipped
    JSON grammar (any JSON value, ``grammars/json.lark``)."""
    import constrain as cn
    try:
        return cn.JsonSchema(schema)
    except AttributeError:
        return cn.Grammar.load("json")


def sql_constraint(db_id: str | None = None):
    """The SQL grammar constraint (``grammars/sqlite.lark``), or None while ``constrain`` has no
    grammar constraint (hook). A per-database grammar (table/column names) can go here later."""
    import constrain as cn
    try:
        Grammar = cn.Grammar
    except AttributeError:
        return None
    path = ROOT / "grammars" / "sqlite.lark"
    return Grammar(path.read_text(), start="start") if path.exists() else None


# ----------------------------------------------------------------------------- part 1: speed
def run_speed(args, tok, model):
    import constrain as cn
    from constrain.sampling import HFModel, sample

    methods = [("LCD", "lcd", 1), ("AWRS", "awrs", 1), (f"AWRS-SMC x{args.particles}", "smc", args.particles)]
    rows = []
    records = []
    tasks = [(name, prompt, cn.Regex(pattern)) for name, (prompt, pattern) in REGEX_TASKS.items()
             if not args.regex or name in args.regex]
    grammar_tasks = [("json (grammar)", JSON_TASK[0], json_constraint(JSON_TASK[1])),
                     ("sql (grammar)", "Write an SQL query that counts the singers.", sql_constraint())]
    for name, prompt, constraint in tasks + grammar_tasks:
        if constraint is None:
            for label, _, _ in methods:
                rows.append([name, label] + ["grammar not available yet"] + [""] * 7)
            continue
        lm = HFModel(model, tok, prompt)
        compiled = constraint.compile(lm.vocab)
        if hasattr(compiled, "wait_ready"):
            compiled.wait_ready()
        lcd_check_us = None
        for label, method, n in methods:
            stats_list, finished, outs = [], 0, []
            for rep in range(args.reps):
                res = sample(lm, compiled, method=method, n_particles=n, max_tokens=args.max_tokens,
                             seed=args.seed + rep)
                stats_list.append(res.stats)
                finished += sum(res.finished)
                outs.append(res.best)
            st = _sum_stats(stats_list)
            tokens = max(st["tokens"], 1)
            checks = (st["masks"] * lm.vocab.size + st["constraint_checks"]) / tokens
            check_us = st["check_time_s"] / tokens * 1e6
            if method == "lcd":
                lcd_check_us = check_us
            rows.append([name, label, f"{tokens / (args.reps * n):.1f}", checks, check_us,
                         C.ratio(lcd_check_us, check_us) if method != "lcd" else 1.0,
                         st["sampler_time_s"] / tokens * 1e6, st["wall_time_s"] / tokens * 1e3,
                         st["model_calls"] / args.reps, f"{finished}/{args.reps * n}"])
            records.append({"constraint": name, "method": label, **st,
                            "outputs": [o.decode("utf-8", "replace") if o else None for o in outs]})
            print(f"  {name:12s} {label:14s} best={outs[0]!r}", flush=True)
    headers = ["constraint", "method", "tok/out", "checks/tok", "check us/tok", "LCD/this",
               "sampler us/tok", "wall ms/tok", "calls/run", "finished"]
    print()
    print(C.table(headers, rows, title=f"Samplers on SmolLM2-135M-Instruct (V={model.config.vocab_size}), "
                  f"max_tokens={args.max_tokens}, reps={args.reps}, torch threads={args.threads}"))
    return records


def _sum_stats(stats_list):
    keys = ["model_calls", "model_rows", "constraint_checks", "masks", "tokens", "resamples",
            "model_time_s", "sampler_time_s", "check_time_s", "wall_time_s"]
    return {k: sum(getattr(s, k) for s in stats_list) for k in keys}


# ----------------------------------------------------------------------------- part 2: spider
def load_spider(n: int):
    """``n`` questions with a database, spread over the databases (round robin, file order)."""
    by_db: dict[str, list[dict]] = {}
    with open(SPIDER / "dev.jsonl") as f:
        for line in f:
            q = json.loads(line)
            if q.get("db_available"):
                by_db.setdefault(q["db_id"], []).append(q)
    out, k = [], 0
    dbs = sorted(by_db)
    while len(out) < n and any(k < len(by_db[d]) for d in dbs):
        for d in dbs:
            if k < len(by_db[d]) and len(out) < n:
                out.append(by_db[d][k])
        k += 1
    return out


def spider_prompt(q: dict) -> list[dict]:
    schema = (SPIDER / "database" / q["db_id"] / "schema.sql").read_text().strip()
    system = ("You translate questions into SQLite queries. Answer with one SQL query and nothing "
              "else: no explanation, no code fence.")
    shot_q = ("Database schema:\nCREATE TABLE \"head\" (\"head_ID\" INTEGER, \"name\" TEXT, "
              "\"age\" REAL);\n\nQuestion: How many heads are older than 56?\nSQL:")
    shot_a = "SELECT count(*) FROM head WHERE age > 56;"
    user = f"Database schema:\n{schema}\n\nQuestion: {q['question']}\nSQL:"
    return [{"role": "system", "content": system}, {"role": "user", "content": shot_q},
            {"role": "assistant", "content": shot_a}, {"role": "user", "content": user}]


def extract_sql(text: str) -> str:
    """The SQL statement in a model output: inside a code fence if any, up to the first ';'."""
    m = re.search(r"```(?:sql|sqlite)?\s*(.*?)(?:```|$)", text, flags=re.S | re.I)
    if m:
        text = m.group(1)
    text = text.strip()
    i = text.find(";")
    return (text[:i] if i >= 0 else text).strip()


def _connect(db_id: str) -> sqlite3.Connection:
    path = SPIDER / "database" / db_id / f"{db_id}.sqlite"
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.text_factory = lambda b: b.decode("utf-8", "replace")
    return conn


_SYNTAX = ("syntax error", "incomplete input", "unrecognized token", "near \"")


def evaluate_sql(db_id: str, sql: str, gold: str) -> dict:
    """parse / execute / match (result multisets; ordered lists when gold has ORDER BY)."""
    out = {"parse": False, "execute": False, "match": False}
    if not sql:
        return out
    conn = _connect(db_id)
    steps = [0]

    def guard():
        steps[0] += 1
        return 1 if steps[0] > 2000 else 0  # about 2e7 VM instructions

    conn.set_progress_handler(guard, 10_000)
    try:
        try:
            conn.execute("EXPLAIN " + sql)
            out["parse"] = True
        except sqlite3.Error as e:
            out["parse"] = not any(s in str(e).lower() for s in _SYNTAX)
            return out
        try:
            steps[0] = 0
            pred = conn.execute(sql).fetchall()
            out["execute"] = True
        except sqlite3.Error:
            return out
        steps[0] = 0
        gold_rows = conn.execute(gold).fetchall()
        norm = lambda rows: [tuple(round(v, 6) if isinstance(v, float) else v for v in r) for r in rows]  # noqa: E731
        if "order by" in gold.lower():
            out["match"] = norm(pred) == norm(gold_rows)
        else:
            out["match"] = Counter(norm(pred)) == Counter(norm(gold_rows))
        return out
    finally:
        conn.close()


def run_spider(args, tok, model):
    from constrain.sampling import HFModel, sample

    questions = load_spider(args.n)
    sql = sql_constraint()
    methods = [("unconstrained", None, "awrs", 1), ("LCD", sql, "lcd", 1),
               (f"AWRS-SMC x{args.spider_particles}", sql, "smc", args.spider_particles)]
    rows, records = [], []
    for label, constraint, method, n in methods:
        if label != "unconstrained" and constraint is None:
            rows.append([label, "grammar not available yet"] + [""] * 5)
            continue
        parse = execute = match = 0.0
        calls = 0
        t0 = time.perf_counter()
        for q in questions:
            lm = HFModel(model, tok, spider_prompt(q), temperature=args.temperature)
            res = sample(lm, constraint, method=method, n_particles=n,
                         max_tokens=args.spider_max_tokens, seed=args.seed)
            calls += res.stats.model_calls
            post = res.posterior or {}
            if not post:  # nothing finished: score the first particle's text as is
                post = {res.texts[0]: 1.0}
            for text, w in post.items():
                s = extract_sql(text.decode("utf-8", "replace"))
                ev = evaluate_sql(q["db_id"], s, q["query"])
                parse += w * ev["parse"]
                execute += w * ev["execute"]
                match += w * ev["match"]
                records.append({"method": label, "id": q["id"], "sql": s, "weight": w, **ev})
        dt = time.perf_counter() - t0
        k = len(questions)
        rows.append([label, f"{k}", 100 * parse / k, 100 * execute / k, 100 * match / k,
                     calls / k, dt / k])
        print(f"  spider {label}: done in {dt:.0f} s", flush=True)
    print()
    print(C.table(["method", "questions", "parse %", "execute %", "exec acc %", "model calls/q", "s/q"],
                  rows, title=f"Spider dev (rebuilt DBs), SmolLM2-135M-Instruct, "
                              f"max_tokens={args.spider_max_tokens}, seed={args.seed}"))
    return records


# ----------------------------------------------------------------------------- main
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", choices=["speed", "spider", "all"], default="all")
    ap.add_argument("--regex", nargs="*", help=f"subset of {list(REGEX_TASKS)}")
    ap.add_argument("--max-tokens", type=int, default=24)
    ap.add_argument("--particles", type=int, default=5)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--n", type=int, default=4, help="Spider questions")
    ap.add_argument("--spider-max-tokens", type=int, default=64)
    ap.add_argument("--spider-particles", type=int, default=5)
    ap.add_argument("--temperature", type=float, default=1.0, help="Spider sampling temperature")
    ap.add_argument("--seed", type=int, default=80808)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, help="write raw records here")
    args = ap.parse_args(argv)

    import torch
    torch.set_num_threads(args.threads)
    from constrain.models import load_smollm2_model, load_smollm2_tokenizer
    tok, model = load_smollm2_tokenizer(), load_smollm2_model()
    out = {"env": {"python": sys.version.split()[0], "torch": torch.__version__,
                   "threads": args.threads}, "args": {k: str(v) for k, v in vars(args).items()}}
    if args.part in ("speed", "all"):
        out["speed"] = run_speed(args, tok, model)
    if args.part in ("spider", "all"):
        print()
        out["spider"] = run_spider(args, tok, model)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=str))
    try:
        import matplotlib  # noqa: F401  (optional; not a dependency)
    except ImportError:
        pass
    else:
        _plot(out.get("speed") or [])


def _plot(records):
    """Checks per token by constraint and method (only when matplotlib is installed)."""
    if not records:
        return
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = sorted({r["constraint"] for r in records})
    methods = sorted({r["method"] for r in records})
    fig, ax = plt.subplots(figsize=(7, 3.5))
    width = 0.8 / max(len(methods), 1)
    for j, m in enumerate(methods):
        ys = []
        for n in names:
            r = next((r for r in records if r["constraint"] == n and r["method"] == m), None)
            ys.append(r["check_time_s"] / max(r["tokens"], 1) * 1e6 if r else math.nan)
        ax.bar([i + j * width for i in range(len(names))], ys, width, label=m)
    ax.set_yscale("log")
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(names))], names)
    ax.set_ylabel("constraint time per token (us)")
    ax.legend()
    path = ROOT / "benchmarks" / "results" / "sampling_check_time.png"
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
