"""Plumbing of ``python -m benchmarks``: argument parsing, suite running and results files, and the
report generated from a small fixture results folder. No benchmark is run and nothing is timed."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from benchmarks import __main__ as entry
from benchmarks import report, runner

REPO = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- argument parsing
def test_no_command_runs_every_suite():
    ns = entry.parse([])
    assert (ns.command, ns.quick, ns.args) == ("all", False, [])
    assert entry.parse(["--quick"]).quick


def test_suite_arguments_are_forwarded_and_quick_is_lifted():
    ns = entry.parse(["regex", "--reps", "3", "--quick", "--vocab", "gemma3"])
    assert ns.command == "regex" and ns.quick
    assert ns.args == ["--reps", "3", "--vocab", "gemma3"]


def test_unknown_suite_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        entry.parse(["nonsense"])
    assert e.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_every_subcommand_of_the_issue_exists():
    for name in ("regex", "json-schema", "jsonschemabench", "grammar", "sampling", "spider", "items", "infill",
                 "serving"):
        assert name in runner.SUITES
        assert entry.parse([name]).command == name
    assert entry.parse(["report", "--run-missing"]).args == ["--run-missing"]


def test_extra_arguments_come_after_the_defaults_so_they_win():
    s = runner.SUITES["grammar"]
    assert runner.suite_argv(s, ["--n", "3"], quick=False) == [*s.full, "--n", "3"]
    assert runner.suite_argv(s, [], quick=True) == list(s.quick)


def test_list_prints_every_suite(capsys):
    assert entry.main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in runner.SUITES)


# ----------------------------------------------------------------------------- running / JSON
def test_machine_info_has_the_promised_fields():
    m = runner.machine_info()
    assert m["cores"] and m["cpu_model"] and m["python"]
    assert {"torch", "numba", "transformers", "xgrammar", "llguidance", "outlines_core"} <= set(m["versions"])
    assert "constrain_git_commit" in m and "load_average_at_start" in m


def test_write_record_names_quick_runs_apart_and_serialises_numpy(tmp_path):
    rec = {"suite": "regex", "quick": True, "results": {"x": np.float64(1.5), "n": np.int32(3), "s": {1, 2}}}
    p = runner.write_record(rec, tmp_path)
    assert p.name == "regex-quick.json"
    data = json.loads(p.read_text())
    assert data["results"]["x"] == 1.5 and data["results"]["n"] == 3 and sorted(data["results"]["s"]) == [1, 2]
    assert runner.write_record({**rec, "quick": False}, tmp_path).name == "regex.json"


@pytest.fixture
def fake_suites(monkeypatch):
    """Three fake suite modules: one returning its results, one writing them to --out, one failing."""
    def returns(argv):
        return {"argv": argv}

    def writes(argv):
        Path(argv[argv.index("--out") + 1]).write_text(json.dumps({"written": True}))
        return 0

    def fails(argv):
        raise ValueError("boom")
    for name, fn in (("_fake_ret", returns), ("_fake_out", writes), ("_fake_err", fails)):
        monkeypatch.setitem(sys.modules, f"benchmarks.{name}", types.SimpleNamespace(main=fn))
    suites = {
        "ret": runner.Suite("ret", "_fake_ret", "R", ("--full",), ("--q",), None),
        "out": runner.Suite("out", "_fake_out", "O", (), (), "--out"),
        "err": runner.Suite("err", "_fake_err", "E", (), (), None),
    }
    monkeypatch.setattr(runner, "SUITES", suites)
    return suites


def test_run_suite_records_results_machine_and_arguments(tmp_path, fake_suites):
    rec = runner.run_suite("ret", ["--x"], quick=True, results_dir=tmp_path)
    assert rec["results"] == {"argv": ["--q", "--x"]}
    saved = json.loads((tmp_path / "ret-quick.json").read_text())
    assert saved["argv"] == ["--q", "--x"] and saved["quick"] is True
    assert saved["machine"]["cores"] and saved["wall_s"] >= 0


def test_run_suite_reads_back_an_out_file(tmp_path, fake_suites):
    assert runner.run_suite("out", results_dir=tmp_path)["results"] == {"written": True}


def test_a_failing_suite_is_recorded_not_raised(tmp_path, fake_suites, capsys):
    rec = runner.run_suite("err", results_dir=tmp_path)
    assert rec["error"] == "ValueError: boom" and "Traceback" in rec["traceback"]
    assert "error" in json.loads((tmp_path / "err.json").read_text())


def test_run_all_writes_a_summary_and_the_entry_point_exits_1_on_failure(tmp_path, fake_suites, monkeypatch):
    monkeypatch.setattr(entry._common, "single_thread", lambda: None)  # keep this process's environment
    assert entry.main(["--results-dir", str(tmp_path)]) == 1
    summary = json.loads((tmp_path / "_run.json").read_text())
    assert set(summary["suites"]) == {"ret", "out", "err"}
    assert summary["suites"]["err"]["error"] == "ValueError: boom"
    assert entry.main(["--results-dir", str(tmp_path), "ret"]) == 0


# ----------------------------------------------------------------------------- report
def _machine():
    return {"cpu_model": "Test CPU", "cores": 2, "load_average_at_start": [1.0, 2.0, 3.0], "platform": "linux",
            "python": "3.11", "versions": {"constrain": "0.1", "xgrammar": "0.2.9"}, "constrain_git_commit": "abc"}


def _regex_record():
    summ = {e: {"p50_us": p50, "p99_us": 2 * p50, "warm_p99_us": p50, "median_compile_ms": 1.0,
                "median_first_mask_ms": 2.0, "setup_ms": 10.0, "errors": 0, "rejections": 0, "max_us": 3 * p50}
            for e, p50 in (("constrain", 5.0), ("xgrammar", 10.0), ("llguidance", 20.0), ("outlines-core", 2.5))}
    return {"suite": "regex", "quick": True, "argv": ["--quick"], "wall_s": 12.0, "machine": _machine(),
            "results": {"meta": {"reps": 2}, "cold_start": {},
                        "vocabs": {"smollm2": {"vocab_size": 49152, "regexes": {"email": {}, "uuid": {}},
                                               "summary": summ}}}}


def test_report_from_a_fixture_results_folder(tmp_path):
    res = tmp_path / "results"
    runner.write_record(_regex_record(), res)
    runner.write_record({"suite": "items", "quick": True, "argv": [], "wall_s": 1.0, "machine": _machine(),
                         "error": "RuntimeError: no"}, res)
    out = tmp_path / "docs"
    assert report.main(["--results-dir", str(res), "--out-dir", str(out), "--quick"]) == 0
    page = (out / "index.md").read_text()
    assert "Test CPU, 2 cores" in page and "1.0, 2.0, 3.0" in page and "`abc`" in page
    # the ratio rows: ours 5 µs against 10, 20 and 2.5
    assert "| ours / xgrammar | 0.50 |" in page
    assert "| ours / llguidance | 0.25 |" in page
    assert "| ours / outlines-core | 2.00 |" in page
    assert "failed: `RuntimeError: no`" in page
    assert "Not run yet (`python -m benchmarks grammar`)" in page
    if report.S._plt() is not None:
        assert "![Regex masks, smollm2](regex_smollm2.png)" in page  # relative: renders under mkdocs
        assert (out / "regex_smollm2.png").stat().st_size > 1000


def test_report_prefers_full_results_unless_quick(tmp_path):
    full = {**_regex_record(), "quick": False}
    full["results"]["vocabs"]["smollm2"]["summary"]["constrain"]["p50_us"] = 7.0
    runner.write_record(full, tmp_path)
    runner.write_record(_regex_record(), tmp_path)
    assert report.load_results(tmp_path)["regex"]["quick"] is False
    assert report.load_results(tmp_path, quick=True)["regex"]["quick"] is True


def test_a_broken_results_file_only_breaks_its_section(tmp_path):
    page = report.render({"regex": {"suite": "regex", "machine": _machine(), "results": {"vocabs": None}}},
                         tmp_path, plots=False)
    assert "Could not render this section" in page and "## Grammars" in page


def test_module_runs_as_a_script_entry_point():
    p = subprocess.run([sys.executable, "-m", "benchmarks", "list"], cwd=REPO, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0 and "jsonschemabench" in p.stdout
