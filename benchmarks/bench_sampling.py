"""Samplers on SmolLM2-135M-Instruct: LCD (full mask each step) vs AWRS vs AWRS-SMC, and a Spider
text-to-SQL quality harness at equal model calls.

    python benchmarks/bench_sampling.py                       # both parts, small defaults
    python benchmarks/bench_sampling.py --part speed --reps 4
    python benchmarks/bench_sampling.py --part spider --n 40

Part 1 (speed), per constraint and method: constraint checks per emitted token (LCD: one mask per
token, which decides every one of the V ids, so its "checks" column is V), time inside the
matcher calls per token (``fill_mask`` for LCD; ``allows`` / ``is_accepting`` for AWRS), the
sampler's per-token work outside the model (masks, Gumbel keys, partial order), and wall time per
token. Constraints: the regexes of ``REGEX_TASKS``, a JSON Schema (compact JSON) and SQL (the
generic ``grammars/sqlite.lark`` and the per-database grammar `constrain.sql_grammar`), each with
a realistic chat prompt (a system instruction and one worked example in the expected format).
Every method gets its own freshly compiled constraint, so no method reuses masks or walks cached
by another (the reps of one method share them, as sequences of one deployment would).

Part 2 (spider): questions from ``../shared/data/spider`` (round robin over the databases), the
schema (``schema.sql``) in the prompt after one worked example (another schema), the per-database
grammar as the constraint. Methods at *equal model calls*: every method draws ``K`` outputs
(``--spider-particles``, default 5) with one batched forward per step: unconstrained sampling and
LCD as ``K`` independent samples (equal weights), AWRS-SMC with ``K`` particles (its posterior
weights). Each method answers with the *execution result of highest total weight*: the finished
outputs are run on the database, grouped by result, and the group with the largest summed weight
wins (outputs that fail to run only count when none runs). Rows "x1" score the first sample
alone (one sample's worth of calls). Reported: shares of questions whose answer parses (sqlite3
reports no syntax error), executes, and matches the gold result (multisets; lists when the gold
query has ORDER BY), with counts and a Wilson 95% interval, and a paired count of questions one
method gets right and the other wrong.

Plots (``benchmarks/results/sampling_*.png``) are written when matplotlib is installed; the tables
are printed either way. Torch runs on ``--threads`` intra-op threads (default 1: on a shared
2-core machine two threads spin-wait and can be several times slower).
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

JSON_SCHEMA = {"type": "object", "properties": {"title": {"type": "string"},
                                                "author": {"type": "string"},
                                                "year": {"type": "integer"}},
               "required": ["title", "author", "year"], "additionalProperties": False}
JSON_PROMPT = [
    {"role": "system", "content": "You answer with one JSON object on a single line and nothing else."},
    {"role": "user", "content": "Describe a film as JSON with a title, a director and a year."},
    {"role": "assistant", "content": '{"title":"Casablanca","director":"Michael Curtiz","year":1942}'},
    {"role": "user", "content": "Describe a book as JSON with a title, an author and a year."},
]
SQL_SPEED_QUESTION = ("singer", "What is the name of the singer with the largest net worth?")


# ----------------------------------------------------------------------------- constraints
def json_constraint(schema):
    """The JSON Schema constraint (compact JSON, the `JsonSchema` default)."""
    import constrain as cn
    return cn.JsonSchema(schema)


def _tables() -> dict:
    return {e["db_id"]: e for e in json.loads((SPIDER / "tables.json").read_text())}


def sql_constraint(db_id: str | None = None):
    """SQL grammar: the generic ``grammars/sqlite.lark``, or with ``db_id`` the per-database
    grammar `constrain.sql_grammar` (table and column names of that database only)."""
    import constrain as cn
    if db_id is None:
        return cn.Grammar((ROOT / "grammars" / "sqlite.lark").read_text(), start="start")
    return cn.sql_grammar(_tables()[db_id])


# ----------------------------------------------------------------------------- part 1: speed
def speed_tasks(args):
    """[(name, prompt, constraint, max_tokens)] of part 1."""
    import constrain as cn
    tasks = [(name, prompt, cn.Regex(pattern), args.max_tokens)
             for name, (prompt, pattern) in REGEX_TASKS.items() if args.regex is None or name in args.regex]
    db, question = SQL_SPEED_QUESTION
    sql_prompt = spider_prompt({"db_id": db, "question": question})
    return tasks + [("json (schema)", JSON_PROMPT, json_constraint(JSON_SCHEMA), args.max_tokens),
                    ("sql (sqlite.lark)", sql_prompt, sql_constraint(), args.max_tokens),
                    (f"sql ({db} schema)", sql_prompt, sql_constraint(db), args.max_tokens)]


def run_speed(args, tok, model):
    from constrain.sampling import HFModel, sample

    methods = [("LCD", "lcd", 1), ("AWRS", "awrs", 1), (f"AWRS-SMC x{args.particles}", "smc", args.particles)]
    rows = []
    records = []
    for name, prompt, constraint, max_tokens in speed_tasks(args):
        lm = HFModel(model, tok, prompt)
        lcd_check_us = None
        for label, method, n in methods:
            compiled = constraint.compile(lm.vocab, cache=False)  # no masks cached by another method
            if hasattr(compiled, "wait_ready"):
                compiled.wait_ready()
            stats_list, finished, outs = [], 0, []
            for rep in range(args.reps):
                res = sample(lm, compiled, method=method, n_particles=n, max_tokens=max_tokens,
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
            records.append({"constraint": name, "method": label, "checks_per_token": checks,
                            "check_us_per_token": check_us, **st,
                            "outputs": [o.decode("utf-8", "replace") if o else None for o in outs]})
            print(f"  {name:18s} {label:14s} best={outs[0]!r}", flush=True)
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


def run_sql(db_id: str, sql: str) -> dict:
    """``{"parse", "execute", "rows"}`` of one query (rows: None unless it executed; floats
    rounded to 6 digits). Execution is cut after about 2e7 SQLite VM instructions."""
    out = {"parse": False, "execute": False, "rows": None}
    if not sql:
        return out
    conn = _connect(db_id)
    steps = [0]

    def guard():
        steps[0] += 1
        return 1 if steps[0] > 2000 else 0

    conn.set_progress_handler(guard, 10_000)
    try:
        try:
            conn.execute("EXPLAIN " + sql)
            out["parse"] = True
        except sqlite3.Error as e:
            out["parse"] = not any(s in str(e).lower() for s in _SYNTAX)
            return out
        try:
            rows = conn.execute(sql).fetchall()
        except sqlite3.Error:
            return out
        out["execute"] = True
        out["rows"] = [tuple(round(v, 6) if isinstance(v, float) else v for v in r) for r in rows]
        return out
    finally:
        conn.close()


def result_key(rows: list, ordered: bool):
    """A hashable key equal for two results the evaluation counts as the same."""
    if ordered:
        return tuple(rows)
    return tuple(sorted(Counter(rows).items(), key=repr))


def choose_answer(candidates: list[tuple[dict, float]], ordered: bool) -> dict:
    """The candidate (a `run_sql` dict plus ``"sql"``) whose execution result has the largest total
    weight; outputs that did not execute compete (by their own weight) only when none executed."""
    groups: dict = {}
    for ev, w in candidates:
        key = ("ok", result_key(ev["rows"], ordered)) if ev["execute"] else ("fail", ev["sql"])
        g = groups.setdefault(key, [0.0, ev])
        g[0] += w
    ran = {k: g for k, g in groups.items() if k[0] == "ok"} or groups
    return max(ran.values(), key=lambda g: g[0])[1]


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a binomial share ``k / n``."""
    if n == 0:
        return math.nan, math.nan
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return c - h, c + h


def _score(ans: dict, gold: dict, ordered: bool) -> dict:
    match = bool(ans["execute"] and gold["execute"]
                 and result_key(ans["rows"], ordered) == result_key(gold["rows"], ordered))
    return {"parse": ans["parse"], "execute": ans["execute"], "match": match, "sql": ans["sql"]}


def run_spider(args, tok, model):
    """Part 2; returns per-method summaries and per-question records."""
    from constrain.sampling import HFModel, sample

    questions = load_spider(args.n)
    k = args.spider_particles
    methods = [(f"unconstrained x{k}", False, "awrs"), (f"LCD x{k}", True, "lcd"),
               (f"AWRS-SMC x{k}", True, "smc")]
    compiled: dict[str, object] = {}
    per: dict[str, list[dict]] = {}
    calls: Counter = Counter()
    seconds: Counter = Counter()
    t_all = time.perf_counter()
    for i, q in enumerate(questions):
        lm = HFModel(model, tok, spider_prompt(q), temperature=args.temperature)
        ordered = "order by" in q["query"].lower()
        gold = run_sql(q["db_id"], q["query"])
        if q["db_id"] not in compiled:
            compiled[q["db_id"]] = sql_constraint(q["db_id"]).compile(lm.vocab)
        for label, constrained, method in methods:
            t0 = time.perf_counter()
            res = sample(lm, compiled[q["db_id"]] if constrained else None, method=method,
                         n_particles=k, max_tokens=args.spider_max_tokens, seed=args.seed + i)
            seconds[label] += time.perf_counter() - t0
            calls[label] += res.stats.model_calls
            # finished outputs with their weights; when none finished, every text as is, equally
            post = res.posterior or {t: 1.0 for t in res.texts}
            evals = {}
            for text in set(post) | {res.texts[0]}:
                s = extract_sql(text.decode("utf-8", "replace"))
                evals[text] = {**run_sql(q["db_id"], s), "sql": s}
            ans = choose_answer([(evals[t], w) for t, w in post.items()], ordered)
            per.setdefault(label, []).append({"id": q["id"], **_score(ans, gold, ordered)})
            if method != "smc":  # one independent sample alone (an SMC particle alone is not one)
                name = label.replace(f"x{k}", "x1") + " (1st sample)"
                per.setdefault(name, []).append({"id": q["id"], **_score(evals[res.texts[0]], gold, ordered)})
        if (i + 1) % 10 == 0:
            print(f"  spider: {i + 1}/{len(questions)} questions, {time.perf_counter() - t_all:.0f} s",
                  flush=True)
    n = len(questions)
    rows, summary = [], []
    for name, res in per.items():
        kp, ke, km = (sum(r[f] for r in res) for f in ("parse", "execute", "match"))
        lo, hi = wilson(km, n)
        rows.append([name, f"{kp}/{n} ({100 * kp / n:.0f}%)", f"{ke}/{n} ({100 * ke / n:.0f}%)",
                     f"{km}/{n} ({100 * km / n:.1f}%)", f"{100 * lo:.0f}-{100 * hi:.0f}",
                     calls[name] / n if name in calls else "(x{k} run)".format(k=k),
                     seconds[name] / n if name in seconds else ""])
        summary.append({"method": name, "n": n, "parse": kp, "execute": ke, "match": km,
                        "ci95": [lo, hi]})
    print()
    print(C.table(["method", "parse", "execute", "exec acc", "95% CI %", "model calls/q", "s/q"],
                  rows, title=f"Spider dev (rebuilt DBs, per-database grammar), SmolLM2-135M-Instruct, "
                              f"{n} questions, max_tokens={args.spider_max_tokens}, "
                              f"T={args.temperature}, seed={args.seed}"))
    a, b = per[f"AWRS-SMC x{k}"], per[f"LCD x{k}"]
    only_a = sum(x["match"] and not y["match"] for x, y in zip(a, b))
    only_b = sum(y["match"] and not x["match"] for x, y in zip(a, b))
    print(f"paired: AWRS-SMC x{k} right and LCD x{k} wrong on {only_a} questions, the reverse on {only_b}")
    return {"questions": n, "summary": summary, "per_question": per}


# ----------------------------------------------------------------------------- plots
def plot_speed(records, path: Path) -> None:
    """Two log-scale panels: checks per token and constraint time per token, by constraint and
    method (grouped bars)."""
    import matplotlib.pyplot as plt
    names = list(dict.fromkeys(r["constraint"] for r in records))
    methods = list(dict.fromkeys(r["method"] for r in records))
    by = {(r["constraint"], r["method"]): r for r in records}
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    width = 0.8 / len(methods)
    for ax, key, label in ((axes[0], "checks_per_token", "constraint checks per token (LCD: V per mask)"),
                           (axes[1], "check_us_per_token", "constraint time per token (us)")):
        for j, m in enumerate(methods):
            ys = [by[(n, m)][key] if (n, m) in by else math.nan for n in names]
            ax.bar([i + (j - (len(methods) - 1) / 2) * width for i in range(len(names))], ys, width, label=m)
        ax.set_yscale("log")
        ax.set_xticks(range(len(names)), names, rotation=25, ha="right")
        ax.set_ylabel(label)
        ax.grid(axis="y", which="major", alpha=0.3)
    axes[0].axhline(3, color="k", lw=0.8, ls="--")
    axes[0].legend(fontsize=8)
    fig.suptitle("LCD vs AWRS on SmolLM2-135M-Instruct (log scale; lower is better)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_spider(summary, path: Path) -> None:
    """Execution accuracy by method with Wilson 95% intervals, parse / execute shares beside it."""
    import matplotlib.pyplot as plt
    names = [s["method"] for s in summary]
    fig, ax = plt.subplots(figsize=(8, 3.8))
    width = 0.27
    for j, (f, label) in enumerate((("parse", "parses"), ("execute", "executes"), ("match", "exec. accuracy"))):
        ys = [100 * s[f] / s["n"] for s in summary]
        xs = [i + (j - 1) * width for i in range(len(names))]
        err = None
        if f == "match":
            err = [[ys[i] - 100 * s["ci95"][0] for i, s in enumerate(summary)],
                   [100 * s["ci95"][1] - ys[i] for i, s in enumerate(summary)]]
        ax.bar(xs, ys, width, label=label, yerr=err, capsize=3)
    ax.set_xticks(range(len(names)), names, rotation=15, ha="right")
    ax.set_ylabel("% of questions")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    ax.set_title(f"Spider dev, {summary[0]['n']} questions (error bars: Wilson 95%)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_plots(out: dict) -> None:
    """PNG plots under benchmarks/results/ (skipped, with a note, without matplotlib)."""
    try:
        import matplotlib
    except ImportError:
        print("matplotlib is not installed: no plots (pip install -e .[bench])")
        return
    matplotlib.use("Agg")
    C.RESULTS.mkdir(parents=True, exist_ok=True)
    for key, fn, name in (("speed", plot_speed, "sampling_speed.png"),
                          ("spider", lambda d, p: plot_spider(d["summary"], p), "sampling_spider.png")):
        if out.get(key):
            fn(out[key], C.RESULTS / name)
            print(f"plot: {C.RESULTS / name}")


# ----------------------------------------------------------------------------- main
def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", choices=["speed", "spider", "all"], default="all")
    ap.add_argument("--regex", nargs="*", help=f"subset of {list(REGEX_TASKS)} (none: no regex rows)")
    ap.add_argument("--max-tokens", type=int, default=48)
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
    write_plots(out)
    return out


if __name__ == "__main__":
    main()
