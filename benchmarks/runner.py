"""The suites behind ``python -m benchmarks``: how each is run (full and ``--quick``), and the
results file it leaves (``<results dir>/<suite>.json``: the suite's own raw results wrapped with
the machine, the versions, the arguments and the wall time).

Each suite is a ``bench_*.py`` module with ``main(argv)``; those that return their results dict
are used as is, the others (``out_flag`` set) are given a temporary ``--out`` file that is read
back. A suite that raises is recorded with its error, so one broken suite does not stop the rest.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"
VLLM_PYTHON = Path("/opt/constrain-vllm-venv/bin/python")


@dataclasses.dataclass(frozen=True)
class Suite:
    """One runnable suite: ``module.main(argv)``; ``out_flag``: the flag naming the file the
    script writes its raw results to: the runner points it at a temporary file (so that no script
    writes into the results folder itself) and reads it back when ``main`` returns no dict."""

    name: str
    module: str
    title: str
    full: tuple[str, ...]
    quick: tuple[str, ...]
    out_flag: str | None = None


def _spider_suite() -> Suite:
    """``bench_spider.py``. The full run resumes the committed records
    ``docs/benchmarks/data/spider_smollm2.jsonl`` (a night's run can be cut and continued;
    ``--summary-only`` tabulates them without a model); the quick run writes its own records in
    the temp folder, anew."""
    quick_records = str(Path(tempfile.gettempdir()) / "constrain-spider-quick.jsonl")
    records = str(BENCH_DIR.parent / "docs" / "benchmarks" / "data" / "spider_smollm2.jsonl")
    return Suite("spider", "bench_spider", "Spider text-to-SQL (bench_spider)",
                 ("--n", "400", "--methods", "lcd", "smc", "--records", records),
                 ("--n", "1", "--particles", "2", "--max-tokens", "24", "--no-resume", "--records", quick_records))


SUITES: dict[str, Suite] = {s.name: s for s in (
    Suite("regex", "bench_regex", "Regex token masks",
          ("--vocab", "smollm2", "--reps", "3"), ("--quick",), "--out"),
    Suite("json-schema", "bench_jsonschema", "JSON Schema (JSONSchemaBench, random walks)",
          ("--limit", "5", "--walks", "1"),
          ("--limit", "2", "--walks", "1", "--max-tokens", "60", "--subsets", "Github_easy", "Glaiveai2K"),
          "--out"),
    Suite("jsonschemabench", "bench_jsonschemabench", "JSONSchemaBench in its paper's metrics, and MaskBench",
          ("--limit", "3", "--gen-limit", "1", "--max-tokens", "48", "--mask-cases", "30"),
          ("--limit", "2", "--gen-limit", "1", "--max-tokens", "16", "--mask-cases", "6",
           "--subsets", "Github_easy"), None),
    Suite("grammar", "bench_grammar", "Grammars (JSON, SQL)", ("--n", "4", "--reps", "2"), ("--n", "2", "--reps", "1"), "--out"),
    Suite("sampling", "bench_sampling", "Samplers (LCD, AWRS, AWRS-SMC) on SmolLM2",
          ("--part", "speed", "--reps", "1", "--max-tokens", "32"),
          ("--part", "speed", "--regex", "iso_date", "--reps", "1", "--max-tokens", "12", "--particles", "2"),
          "--json"),
    _spider_suite(),
    Suite("items", "bench_items", "Item constraints (beam search over item sets)",
          ("--sizes", "1e5", "1e6", "--trials", "3", "--no-gpu"), ("--sizes", "1e4", "--trials", "1", "--no-gpu"), "--out"),
    Suite("infill", "bench_infill", "Infilling (completability checks, diffusion decoding)",
          ("--train-seconds", "20", "--samples", "20", "--n", "15"), ("--quick", "--n", "5", "--samples", "5"), None),
    Suite("serving", "bench_serving", "Serving (compiled-constraint caches; vLLM with --vllm)",
          ("cache",), ("cache",), None),
)}


# ----------------------------------------------------------------------------- machine / versions
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _version(dist: str) -> str | None:
    try:
        from importlib.metadata import version
        return version(dist)
    except Exception:
        return None


def _git_commit() -> str | None:
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (head + ("+dirty" if dirty else "")) or None
    except Exception:
        return None


def machine_info() -> dict:
    """CPU model, cores, load average now, OS, Python and the versions of the libraries that
    shape the figures (ours at its git commit, the peers)."""
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {
        "cpu_model": _cpu_model(), "cores": os.cpu_count(), "load_average_at_start": load,
        "platform": platform.platform(), "python": platform.python_version(),
        "versions": {d: _version(d) for d in ("constrain", "torch", "numba", "numpy", "transformers",
                                              "xgrammar", "llguidance", "outlines_core", "jsonschema")},
        "constrain_git_commit": _git_commit(),
        "utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


# ----------------------------------------------------------------------------- running
def suite_argv(suite: Suite, extra: list[str], quick: bool) -> list[str]:
    """The arguments handed to ``main``: the suite's quick or full defaults, then ``extra``
    (later flags win in argparse, so ``extra`` overrides a default of the same name)."""
    return [*(suite.quick if quick else suite.full), *extra]


def _json_default(o):
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, (set, tuple)):
        return list(o)
    return str(o)


def write_record(record: dict, results_dir: Path) -> Path:
    """``<results_dir>/<suite>.json`` (``-quick`` appended for quick runs, so a smoke run never
    replaces a full one)."""
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{record['suite']}{'-quick' if record.get('quick') else ''}.json"
    path.write_text(json.dumps(record, indent=1, default=_json_default))
    return path


def _run_vllm(argv: list[str]) -> dict:
    """The vLLM part of bench_serving, in the vLLM venv (another interpreter), results via stdout."""
    if not VLLM_PYTHON.exists():
        raise RuntimeError(f"{VLLM_PYTHON} not found (scripts/build_vllm_venv.sh builds it)")
    code = ("import json, sys; sys.path.insert(0, %r); import bench_serving as b; "
            "print('@@RESULT@@' + json.dumps(b.main(%r)))" % (str(BENCH_DIR), ["vllm", *argv]))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    p = subprocess.run([str(VLLM_PYTHON), "-c", code], capture_output=True, text=True, env=env)
    sys.stdout.write(p.stdout[-4000:])
    line = [x for x in p.stdout.splitlines() if x.startswith("@@RESULT@@")]
    if p.returncode or not line:
        raise RuntimeError(f"vLLM run failed (rc {p.returncode}): {p.stderr[-800:]}")
    return json.loads(line[-1][len("@@RESULT@@"):])


def run_suite(name: str, extra: list[str] | None = None, quick: bool = False,
              results_dir: Path = RESULTS, write: bool = True) -> dict:
    """Run one suite in this process and return (and write) its record."""
    suite = SUITES[name]
    extra = list(extra or [])
    vllm = name == "serving" and "--vllm" in extra
    if vllm:
        extra.remove("--vllm")
    argv = suite_argv(suite, extra, quick)
    record = {"suite": name, "title": suite.title, "module": suite.module, "argv": argv, "quick": quick,
              "machine": machine_info()}
    t0 = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out_file = Path(tmp) / "raw.json"
            full_argv = argv + ([suite.out_flag, str(out_file)] if suite.out_flag else [])
            mod = importlib.import_module(f"benchmarks.{suite.module}")
            ret = mod.main(full_argv)
            if not isinstance(ret, dict) and suite.out_flag:
                ret = json.loads(out_file.read_text()) if out_file.exists() else None
            if vllm:
                ret = {**(ret or {}), **_run_vllm([a for a in extra if a != "cache"])}
        record["results"] = ret
    except (Exception, SystemExit) as e:  # noqa: BLE001 - a broken suite is recorded, not fatal
        record["error"] = f"{type(e).__name__}: {e}"
        record["traceback"] = traceback.format_exc()[-3000:]
        print(f"suite {name} failed: {record['error']}", file=sys.stderr)
    record["wall_s"] = time.perf_counter() - t0
    if write:
        record["path"] = str(write_record(record, results_dir))
    return record


def run_all(quick: bool, results_dir: Path = RESULTS, names: list[str] | None = None) -> list[dict]:
    """Every suite (or ``names``) in turn, with a progress bar over the suites."""
    from tqdm import tqdm

    names = names or list(SUITES)
    records = []
    t0 = time.perf_counter()
    bar = tqdm(names, desc="suites", unit="suite", file=sys.stderr)
    for name in bar:
        bar.set_postfix_str(name)
        records.append(run_suite(name, quick=quick, results_dir=results_dir))
    total = time.perf_counter() - t0
    print("\n" + "\n".join(f"{r['suite']:16s} {r['wall_s']:7.1f} s  {'FAILED ' + r['error'] if 'error' in r else 'ok'}"
                           for r in records))
    print(f"{'total':16s} {total:7.1f} s")
    summary = {"suite": "_run", "quick": quick, "machine": records[0]["machine"] if records else machine_info(),
               "wall_s": total, "suites": {r["suite"]: {"wall_s": r["wall_s"], "error": r.get("error")}
                                           for r in records}}
    write_record(summary, results_dir)
    return records
