"""``python -m benchmarks``: one entry point for every benchmark suite.

    python -m benchmarks --quick                     # smoke run of every suite (<= 10 min on 2 cores)
    python -m benchmarks                             # every suite at its (larger) default size
    python -m benchmarks regex [--quick] [ARGS...]   # one suite; ARGS go to its script
    python -m benchmarks spider --summary-only       # Spider tables from the resumable records
    python -m benchmarks serving --vllm              # + the vLLM part (in /opt/constrain-vllm-venv)
    python -m benchmarks report [--run-missing] [--quick]   # docs/benchmarks/index.md + plots
    python -m benchmarks list                        # the suites and their default arguments

Raw results: ``benchmarks/results/<suite>.json`` (``<suite>-quick.json`` for quick runs), each with
the machine (CPU model, cores, load average at start), Python, torch / numba / transformers, the
constrain git commit and the peers' versions (xgrammar, llguidance, outlines-core).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks import _common
from benchmarks import runner


def parse(argv: list[str]) -> argparse.Namespace:
    """Top-level options, then an optional command (a suite, ``report`` or ``list``) and the
    arguments forwarded to it; ``--quick`` is taken out of the forwarded arguments."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke-sized runs")
    ap.add_argument("--results-dir", type=Path, default=runner.RESULTS)
    ap.add_argument("command", nargs="?", choices=[*runner.SUITES, "report", "list", "all"], default="all")
    ap.add_argument("args", nargs=argparse.REMAINDER, help="forwarded to the suite's script")
    ns = ap.parse_args(argv)
    if "--quick" in ns.args:
        ns.args = [a for a in ns.args if a != "--quick"]
        ns.quick = True
    return ns


def main(argv: list[str] | None = None) -> int:
    ns = parse(sys.argv[1:] if argv is None else argv)
    if ns.command == "list":
        for s in runner.SUITES.values():
            print(f"{s.name:16s} {s.title}\n{'':16s}   full:  {' '.join(s.full)}\n{'':16s}   quick: {' '.join(s.quick)}")
        return 0
    if ns.command == "report":
        from benchmarks import report
        return report.main([*ns.args, "--results-dir", str(ns.results_dir), *(["--quick"] if ns.quick else [])])
    _common.single_thread()  # before any engine is imported
    if ns.command == "all":
        recs = runner.run_all(ns.quick, ns.results_dir)
        return 1 if any("error" in r for r in recs) else 0
    rec = runner.run_suite(ns.command, ns.args, ns.quick, ns.results_dir)
    print(f"\n{ns.command}: {rec['wall_s']:.1f} s; results: {rec.get('path')}")
    return 1 if "error" in rec else 0


if __name__ == "__main__":
    raise SystemExit(main())
