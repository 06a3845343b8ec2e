"""Run the JSON-Schema-Test-Suite through `constrain.JsonSchema` and classify every instance the
way llguidance's harness does (its ``json_schema_test_suite_results.json``):

- ``pass``: a valid instance is accepted, or an invalid one rejected;
- ``compile_error_valid``: the schema is refused (UnsupportedFeature, InvalidSyntax, LimitExceeded)
  and the case has at least one valid instance (every instance of the case gets this label);
- ``compile_error_all_invalid``: the schema is refused and every instance of the case is invalid;
- ``false_negative``: a valid instance is rejected;
- ``false_positive``: an invalid instance is accepted (a soundness failure).

Instances are serialised compactly (``json.dumps(separators=(",", ":"), ensure_ascii=False)``,
keys in the instance's order), our default whitespace, and checked with ``Grammar.accepts``.

Usage: ``python -m tests.conformance.suite [draft ...] [--write]`` prints the counts (and with
``--write`` rewrites ``baseline.json``).
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SUITE = DATA / "json-schema-test-suite" / "tests"
LLG = DATA / "peer-baselines" / "llguidance" / "json_schema_test_suite_results.json"
BASELINE = Path(__file__).resolve().parent / "baseline.json"
DRAFTS = ["draft2020-12", "draft2019-09", "draft7", "draft6", "draft4"]
RANK = {"pass": 3, "compile_error_valid": 2, "compile_error_all_invalid": 2, "false_negative": 1,
        "false_positive": 0}


def _files(draft: str):
    root = SUITE / draft
    for p in sorted(root.rglob("*.json")):
        rel = p.relative_to(root).with_suffix("").as_posix()
        yield rel, json.loads(p.read_text())


def run_draft(draft: str) -> dict:
    """{file: {case description: {test description: category}}}."""
    from constrain.errors import ConstraintError
    from constrain.schema import JsonSchema

    out: dict = {}
    for rel, cases in _files(draft):
        fo = out.setdefault(rel, {})
        for case in cases:
            tests = case["tests"]
            co = fo.setdefault(case["description"], {})
            schema = case["schema"]
            if isinstance(schema, dict) and "$schema" not in schema and draft != "draft2020-12":
                schema = {**schema, "$schema": _DRAFT_URI.get(draft, "")}
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    js = JsonSchema(schema)
                err = None
            except (ConstraintError, RecursionError) as e:
                js, err = None, e
            if js is None:
                cat = ("compile_error_valid" if any(t["valid"] for t in tests)
                       else "compile_error_all_invalid")
                for t in tests:
                    co[t["description"]] = cat
                continue
            for t in tests:
                text = json.dumps(t["data"], ensure_ascii=False, separators=(",", ":"))
                try:
                    ok = js.accepts(text)
                except ConstraintError:
                    ok = False
                if ok == t["valid"]:
                    co[t["description"]] = "pass"
                else:
                    co[t["description"]] = "false_positive" if ok else "false_negative"
    return out


_DRAFT_URI = {
    "draft2019-09": "https://json-schema.org/draft/2019-09/schema",
    "draft7": "http://json-schema.org/draft-07/schema#",
    "draft6": "http://json-schema.org/draft-06/schema#",
    "draft4": "http://json-schema.org/draft-04/schema#",
}


def counts(res: dict, only=None) -> dict:
    """Category counts; ``only`` (same nesting) restricts to the instances it lists."""
    c: dict = {}
    for f, cases in res.items():
        for cd, tests in cases.items():
            for td, cat in tests.items():
                if cat == "skip_compile":
                    continue
                if only is not None:
                    o = only.get(f, {}).get(cd, {})
                    if td not in o or o[td] == "skip_compile":
                        continue
                c[cat] = c.get(cat, 0) + 1
    return c


def compare(baseline: dict, now: dict):
    """(worse, better): lists of (key, old, new)."""
    worse, better = [], []
    for f, cases in baseline.items():
        for cd, tests in cases.items():
            for td, old in tests.items():
                new = now.get(f, {}).get(cd, {}).get(td)
                if new is None:
                    continue
                if RANK[new] < RANK[old]:
                    worse.append((f"{f} / {cd} / {td}", old, new))
                elif RANK[new] > RANK[old]:
                    better.append((f"{f} / {cd} / {td}", old, new))
    return worse, better


def main(argv):
    write = "--write" in argv
    drafts = [a for a in argv if not a.startswith("--")] or DRAFTS
    base = json.loads(BASELINE.read_text()) if BASELINE.exists() else {}
    llg = json.loads(LLG.read_text())
    for d in drafts:
        t = time.perf_counter()
        res = run_draft(d)
        dt = time.perf_counter() - t
        c = counts(res)
        print(f"{d}: {sum(c.values())} instances in {dt:.1f}s: {c}")
        if d in llg:
            ours = counts(res, llg[d])
            theirs = counts(llg[d], res)
            print(f"  on llguidance's instances (present here, not skipped by them): ours {ours}")
            print(f"  llguidance on the same instances: {theirs}")
        base[d] = res
    if write:
        BASELINE.write_text(json.dumps(base, indent=1, sort_keys=True, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
