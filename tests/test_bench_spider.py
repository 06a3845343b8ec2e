"""The Spider harness's statistics and bookkeeping (no model, no Spider data needed)."""

import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_spider as B  # noqa: E402


def _binom_two_sided(b: int, c: int) -> float:
    # reference: sum the probabilities of outcomes no more likely than the observed one
    n = b + c
    pk = [math.comb(n, i) / 2 ** n for i in range(n + 1)]
    return min(1.0, sum(p for p in pk if p <= pk[b] * (1 + 1e-12)))


@pytest.mark.parametrize("b,c", [(0, 0), (5, 0), (0, 5), (7, 3), (12, 20), (40, 41), (1, 9)])
def test_mcnemar_exact_matches_two_sided_binomial(b, c):
    assert B.mcnemar_exact(b, c) == pytest.approx(_binom_two_sided(b, c) if b + c else 1.0)
    assert B.mcnemar_exact(b, c) == B.mcnemar_exact(c, b)


def test_wilson_interval_contains_share():
    lo, hi = B.wilson(30, 100)
    assert 0 < lo < 0.3 < hi < 1
    assert all(math.isnan(x) for x in B.wilson(0, 0))


def _rec(qid, method, match, first=True):
    score = {"parse": True, "execute": match, "match": match, "sql": "SELECT 1"}
    return {"model": "smollm2", "id": qid, "db_id": "d", "method": method, "k": 5, "answer": score,
            "first": None if method == "smc" else dict(score, match=first), "model_calls": 10,
            "tokens": 50, "seconds": 1.0, "finished": 5}


def test_summary_pairs_questions_and_counts_discordant(tmp_path, capsys):
    path = tmp_path / "r.jsonl"
    recs = [_rec("q1", "lcd", True), _rec("q1", "smc", False), _rec("q2", "lcd", False),
            _rec("q2", "smc", True), _rec("q3", "lcd", False), _rec("q3", "smc", True),
            _rec("q4", "lcd", True)]  # q4 has no smc answer: not paired
    path.write_text("".join(json.dumps(r) + "\n" for r in recs) + json.dumps(dict(recs[0], model="gemma3")) + "\n")
    done = B._read_records(path, "smollm2")
    assert len(done) == 7
    qs = [{"id": f"q{i}"} for i in range(1, 5)]
    out = B.summarize(done, qs, ["lcd", "smc"], 5, "t")
    assert out["n"] == 3
    by = {m["key"]: m for m in out["methods"]}
    assert by["lcd"]["match"] == 1 and by["smc"]["match"] == 2 and by["lcd x1"]["match"] == 3
    (t,) = out["paired_tests"]
    assert (t["only_method"], t["only_reference"]) == (2, 1)
    assert t["p"] == pytest.approx(1.0)


def test_extract_sql_and_result_keys():
    assert B.extract_sql("```sql\nSELECT a FROM t;\n```") == "SELECT a FROM t"
    assert B.extract_sql("SELECT 1; SELECT 2") == "SELECT 1"
    assert B.result_key([(1,), (2,)], False) == B.result_key([(2,), (1,)], False)
    assert B.result_key([(1,), (2,)], True) != B.result_key([(2,), (1,)], True)
