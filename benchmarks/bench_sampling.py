"""Samplers on SmolLM2-135M-Instruct: LCD (full mask each step) vs AWRS vs AWRS-SMC, speed per
token. (The Spider text-to-SQL quality harness is ``benchmarks/bench_spider.py``.)

    python benchmarks/bench_sampling.py                       # small defaults
    python benchmarks/bench_sampling.py --reps 4

Per constraint and method: constraint checks per emitted token (LCD: one mask per
token, which decides every one of the V ids, so its "checks" column is V), time inside the
matcher calls per token (``fill_mask`` for LCD; ``allows`` / ``is_accepting`` for AWRS), the
sampler's per-token work outside the model (masks, Gumbel keys, partial order), and wall time per
token. Constraints: the regexes of ``REGEX_TASKS``, a JSON Schema (compact JSON) and SQL (the
generic ``grammars/sqlite.lark`` and the per-database grammar `constrain.sql_grammar`), each with
a realistic chat prompt (a system instruction and one worked example in the expected format).
Every method gets its own freshly compiled constraint, so no method reuses masks or walks cached
by another (the reps of one method share them, as sequences of one deployment would).

Plots (``benchmarks/results/sampling_*.png``) are written when matplotlib is installed; the tables
are printed either way. Torch runs on ``--threads`` intra-op threads (default 1: on a shared
2-core machine two threads spin-wait and can be several times slower).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402
from bench_spider import spider_prompt, sql_constraint  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

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


def write_plots(out: dict) -> None:
    """PNG plots under benchmarks/results/ (skipped, with a note, without matplotlib)."""
    try:
        import matplotlib
    except ImportError:
        print("matplotlib is not installed: no plots (pip install -e .[bench])")
        return
    matplotlib.use("Agg")
    C.RESULTS.mkdir(parents=True, exist_ok=True)
    if out.get("speed"):
        plot_speed(out["speed"], C.RESULTS / "sampling_speed.png")
        print(f"plot: {C.RESULTS / 'sampling_speed.png'}")


# ----------------------------------------------------------------------------- main
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", choices=["speed", "spider", "all"], default="speed",
                    help="spider: runs bench_spider.py (per-database LCD vs AWRS-SMC) with --n")
    ap.add_argument("--regex", nargs="*", help=f"subset of {list(REGEX_TASKS)} (none: no regex rows)")
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--particles", type=int, default=5)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--n", type=int, default=4, help="Spider questions")
    ap.add_argument("--spider-max-tokens", type=int, default=64)
    ap.add_argument("--spider-particles", type=int, default=5)
    ap.add_argument("--seed", type=int, default=80808)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, help="write raw records here")
    args = ap.parse_args(argv)

    out: dict = {}
    if args.part in ("spider", "all"):
        import bench_spider
        out["spider"] = bench_spider.main(
            ["--n", str(args.n), "--particles", str(args.spider_particles), "--max-tokens",
             str(args.spider_max_tokens), "--seed", str(args.seed), "--threads", str(args.threads)])
        if args.part == "spider":
            return out
    import torch
    torch.set_num_threads(args.threads)
    from constrain.models import load_smollm2_model, load_smollm2_tokenizer
    tok, model = load_smollm2_tokenizer(), load_smollm2_model()
    out.update(env={"python": sys.version.split()[0], "torch": torch.__version__, "threads": args.threads},
               args={k: str(v) for k, v in vars(args).items()})
    out["speed"] = run_speed(args, tok, model)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=str))
    write_plots(out)
    return out


if __name__ == "__main__":
    main()
