"""Text-to-SQL on Spider dev: execution accuracy of unconstrained sampling, LCD with the generic
``grammars/sqlite.lark``, LCD with the per-database grammar, AWRS and AWRS-SMC, at equal model
calls, with Wilson 95% intervals and exact McNemar tests on paired questions.

    python benchmarks/bench_spider.py --n 8                       # smoke run, SmolLM2
    python benchmarks/bench_spider.py --n 400 --time-budget 28800 # a night; resumable
    python benchmarks/bench_spider.py --model gemma3 --n 100 --methods lcd smc
    python benchmarks/bench_spider.py --summary-only              # tables from the records

Questions come from ``../shared/data/spider/dev.jsonl`` (round robin over the databases, file
order, so the first ``n`` of a larger run are the questions of a smaller one). The prompt holds the
database's ``schema.sql`` after one worked example on another schema. Every method draws ``K``
outputs (``--particles``, default 5) with one batched forward per step: unconstrained sampling,
LCD and AWRS as ``K`` independent samples (equal weights), AWRS-SMC as ``K`` particles (their
posterior weights). Each method answers with the *execution result of highest total weight*: the
finished outputs are run on the database, grouped by result, and the largest summed weight wins
(outputs that fail to run only count when none runs). Rows "x1" score the first sample alone (one
sample's worth of calls; an SMC particle alone is not a sample, so SMC has no x1 row).

Records (one JSON line per question and method) are appended to ``--records`` as they finish, so a
run can be cut at any point and resumed (``--resume`` is the default); the summary is computed
over the questions every selected method has answered (the pairs of the tests). Scoring: the
answer parses (SQLite reports no syntax error), executes, and its result equals the gold query's
(multisets; lists when the gold query has ORDER BY).
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

# label -> (constraint: None | "sqlite" | "db", sampler method)
METHODS = {
    "unconstrained": (None, "awrs"),
    "lcd-sqlite": ("sqlite", "lcd"),
    "lcd": ("db", "lcd"),
    "awrs": ("db", "awrs"),
    "smc": ("db", "smc"),
}
LABELS = {"unconstrained": "unconstrained", "lcd-sqlite": "LCD (sqlite.lark)", "lcd": "LCD (db grammar)",
          "awrs": "AWRS (db grammar)", "smc": "AWRS-SMC (db grammar)"}


def _tables() -> dict:
    return {e["db_id"]: e for e in json.loads((SPIDER / "tables.json").read_text())}


def sql_constraint(db_id: str | None = None):
    """SQL grammar: the generic ``grammars/sqlite.lark``, or with ``db_id`` the per-database
    grammar `constrain.sql_grammar` (table and column names of that database only)."""
    import constrain as cn
    if db_id is None:
        return cn.Grammar((ROOT / "grammars" / "sqlite.lark").read_text(), start="start")
    return cn.sql_grammar(_tables()[db_id])


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


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: ``b`` pairs right only under one method, ``c`` only under
    the other (a binomial test of ``b`` against ``Bin(b + c, 1/2)``)."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def prompt_ids(tok, messages: list[dict]) -> list[int]:
    """Token ids of a chat prompt: the tokenizer's chat template, or (Gemma's GGUF ships none)
    Gemma's turn format with the system text in the first user turn."""
    if getattr(tok, "chat_template", None):
        text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return tok(text, add_special_tokens=False)["input_ids"]
    system = " ".join(m["content"] for m in messages if m["role"] == "system")
    text, first = tok.bos_token or "", True
    for m in messages:
        if m["role"] == "system":
            continue
        role = "model" if m["role"] == "assistant" else "user"
        content = f"{system}\n\n{m['content']}" if first and system and role == "user" else m["content"]
        first = False
        text += f"<start_of_turn>{role}\n{content}<end_of_turn>\n"
    text += "<start_of_turn>model\n"
    return tok(text, add_special_tokens=False)["input_ids"]


def load_model(name: str):
    """(tokenizer, model) of ``smollm2`` or ``gemma3`` (float32, CPU)."""
    from constrain import models
    if name == "smollm2":
        return models.load_smollm2_tokenizer(), models.load_smollm2_model()
    return models.load_gemma3_tokenizer(), models.load_gemma3_model()


def _read_records(path: Path, model: str) -> dict:
    """{(question id, method): record} already in ``path`` for ``model``."""
    done = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                if r["model"] == model:
                    done[(r["id"], r["method"])] = r
    return done


def run_question(q: dict, method: str, lm, compiled: dict, args) -> dict:
    """One method on one question: ``K`` outputs, the chosen answer and the first sample scored."""
    from constrain.sampling import sample

    which, sampler = METHODS[method]
    ordered = "order by" in q["query"].lower()
    gold = run_sql(q["db_id"], q["query"])
    constraint = None
    if which is not None:
        key = "sqlite" if which == "sqlite" else q["db_id"]
        if key not in compiled:
            compiled[key] = sql_constraint(None if which == "sqlite" else q["db_id"]).compile(lm.vocab)
        constraint = compiled[key]
    t0 = time.perf_counter()
    res = sample(lm, constraint, method=sampler, n_particles=args.particles,
                 max_new_tokens=args.max_tokens, seed=args.seed + q["_index"], on_error="eos")
    seconds = time.perf_counter() - t0
    post = res.posterior or {t: 1.0 for t in res.texts}  # nothing finished: every text, equally
    evals = {}
    for text in set(post) | {res.texts[0]}:
        s = extract_sql(text.decode("utf-8", "replace"))
        evals[text] = {**run_sql(q["db_id"], s), "sql": s}
    ans = choose_answer([(evals[t], w) for t, w in post.items()], ordered)
    first = _score(evals[res.texts[0]], gold, ordered) if sampler != "smc" else None
    return {"id": q["id"], "db_id": q["db_id"], "method": method, "k": args.particles,
            "answer": _score(ans, gold, ordered), "first": first, "gold_executes": gold["execute"],
            "model_calls": res.stats.model_calls, "tokens": res.stats.tokens, "seconds": seconds,
            "finished": int(sum(res.finished))}


def summarize(records: dict, questions: list[dict], methods: list[str], k: int, title: str) -> dict:
    """Tables over the questions every method answered; returns the summary (JSON-ready)."""
    ids = [q["id"] for q in questions if all((q["id"], m) in records for m in methods)]
    n = len(ids)
    rows, summary = [], []
    if n == 0:
        print("no question answered by every method yet")
        return {"n": 0, "methods": []}
    per = {}
    for m in methods:
        per[m] = [records[(i, m)]["answer"] for i in ids]
        if METHODS[m][1] != "smc":
            per[f"{m} x1"] = [records[(i, m)]["first"] for i in ids]
    for name, res in per.items():
        base = name.removesuffix(" x1")
        kp, ke, km = (sum(bool(r[f]) for r in res) for f in ("parse", "execute", "match"))
        lo, hi = wilson(km, n)
        recs = [records[(i, base)] for i in ids]
        label = LABELS[base] + (" x1 (1st sample)" if name.endswith(" x1") else f" x{k}")
        calls = sum(r["model_calls"] for r in recs) / n
        secs = sum(r["seconds"] for r in recs) / n
        rows.append([label, f"{kp}/{n} ({100 * kp / n:.0f}%)", f"{ke}/{n} ({100 * ke / n:.0f}%)",
                     f"{km}/{n} ({100 * km / n:.1f}%)", f"{100 * lo:.1f}-{100 * hi:.1f}",
                     "" if name.endswith(" x1") else calls, "" if name.endswith(" x1") else secs])
        summary.append({"method": label, "key": name, "n": n, "parse": kp, "execute": ke, "match": km,
                        "ci95": [lo, hi], "model_calls_per_q": calls, "seconds_per_q": secs})
    print(C.table(["method", "parse", "execute", "exec acc", "95% CI %", "model calls/q", "s/q"],
                  rows, title=title + f", {n} paired questions"))
    tests = []
    ref = "lcd" if "lcd" in methods else methods[0]
    for m in methods:
        if m == ref:
            continue
        a, b = per[m], per[ref]
        only_a = sum(x["match"] and not y["match"] for x, y in zip(a, b))
        only_b = sum(y["match"] and not x["match"] for x, y in zip(a, b))
        p = mcnemar_exact(only_a, only_b)
        tests.append({"method": m, "reference": ref, "only_method": only_a, "only_reference": only_b, "p": p})
        print(f"paired vs {LABELS[ref]}: {LABELS[m]} right and it wrong on {only_a}, the reverse on "
              f"{only_b}; exact McNemar p = {p:.3g}")
    return {"n": n, "methods": summary, "paired_tests": tests}


def plot_spider(summary: list[dict], path: Path) -> None:
    """Execution accuracy by method with Wilson 95% intervals, parse / execute shares beside it."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = [s["method"] for s in summary]
    fig, ax = plt.subplots(figsize=(10, 4.2))
    width = 0.27
    for j, (f, label) in enumerate((("parse", "parses"), ("execute", "executes"), ("match", "exec. accuracy"))):
        ys = [100 * s[f] / s["n"] for s in summary]
        xs = [i + (j - 1) * width for i in range(len(names))]
        err = None
        if f == "match":
            err = [[ys[i] - 100 * s["ci95"][0] for i, s in enumerate(summary)],
                   [100 * s["ci95"][1] - ys[i] for i, s in enumerate(summary)]]
        ax.bar(xs, ys, width, label=label, yerr=err, capsize=3)
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("% of questions")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    ax.set_title(f"Spider dev, {summary[0]['n']} paired questions (error bars: Wilson 95%)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", choices=["smollm2", "gemma3"], default="smollm2")
    ap.add_argument("--n", type=int, default=8, help="Spider dev questions")
    ap.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    ap.add_argument("--particles", type=int, default=5, help="K outputs (or particles) per method")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=80808)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--records", type=Path, help="JSON lines (default benchmarks/results/spider_<model>.jsonl)")
    ap.add_argument("--no-resume", action="store_true", help="start the records file anew")
    ap.add_argument("--time-budget", type=float, default=math.inf, help="stop starting questions after this many s")
    ap.add_argument("--summary-only", action="store_true", help="tables from the records, no model")
    ap.add_argument("--plot", type=Path, help="PNG of the summary (needs matplotlib)")
    ap.add_argument("--json", type=Path, help="write the summary here")
    args = ap.parse_args(argv)

    records_path = args.records or C.RESULTS / f"spider_{args.model}.jsonl"
    records_path.parent.mkdir(parents=True, exist_ok=True)
    if args.no_resume and records_path.exists():
        records_path.unlink()
    questions = load_spider(args.n)
    for i, q in enumerate(questions):
        q["_index"] = i
    done = _read_records(records_path, args.model)
    title = (f"Spider dev (rebuilt DBs), {args.model}, K={args.particles}, max_tokens={args.max_tokens}, "
             f"T={args.temperature}, seed={args.seed}")
    if not args.summary_only:
        done = _run(args, questions, done, records_path)
    out = summarize(done, questions, args.methods, args.particles, title)
    out.update(model=args.model, k=args.particles, max_tokens=args.max_tokens, temperature=args.temperature,
               seed=args.seed, questions_asked=len(questions), records=str(records_path))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    if args.plot and out["n"]:
        plot_spider(out["methods"], args.plot)
        print(f"plot: {args.plot}")
    return out


def _run(args, questions, done: dict, records_path: Path) -> dict:
    """Answer every (question, method) not in ``done``, appending records; returns all records."""
    import torch
    from tqdm import tqdm

    from constrain.sampling import HFModel

    torch.set_num_threads(args.threads)
    todo = [q for q in questions if any((q["id"], m) not in done for m in args.methods)]
    if not todo:
        return done
    tok, model = load_model(args.model)
    compiled: dict = {}
    t_start = time.perf_counter()
    with open(records_path, "a") as out:
        for i, q in enumerate(tqdm(todo, desc=f"spider {args.model}", unit="q", mininterval=5)):
            if time.perf_counter() - t_start > args.time_budget:
                print(f"time budget reached: {i} of {len(todo)} questions answered; run again to resume")
                break
            lm = HFModel(model, tok, prompt_ids=prompt_ids(tok, spider_prompt(q)),
                         temperature=args.temperature)
            for m in args.methods:
                if (q["id"], m) in done:
                    continue
                rec = {"model": args.model, **run_question(q, m, lm, compiled, args)}
                done[(q["id"], m)] = rec
                out.write(json.dumps(rec) + "\n")
                out.flush()
    return done


if __name__ == "__main__":
    main()
