"""Ratchet over the JSON-Schema-Test-Suite: no instance may get worse than ``baseline.json``.

Order: pass > compile refused > valid instance rejected > invalid instance accepted. Improvements
are printed (run ``python -m tests.conformance.suite --write`` to record them). About 20 s for
all five drafts.
"""

import json

import pytest

from . import suite

pytestmark = pytest.mark.skipif(not suite.SUITE.exists(), reason="JSON-Schema-Test-Suite not present")


@pytest.mark.parametrize("draft", suite.DRAFTS)
def test_no_regression(draft, capsys):
    base = json.loads(suite.BASELINE.read_text()).get(draft)
    assert base, f"no baseline for {draft}"
    now = suite.run_draft(draft)
    worse, better = suite.compare(base, now)
    with capsys.disabled():
        if better:
            print(f"\n{draft}: {len(better)} instances improved (update the baseline):")
            for k, old, new in better[:50]:
                print(f"  {k}: {old} -> {new}")
    assert not worse, f"{len(worse)} instances got worse:\n" + "\n".join(
        f"  {k}: {old} -> {new}" for k, old, new in worse[:50])


def test_no_invalid_accepted_on_llguidance_instances():
    """On the instances llguidance's recorded results count, we accept no invalid instance and
    pass at least as many as it does."""
    llg = json.loads(suite.LLG.read_text())["draft2020-12"]
    ours = suite.counts(json.loads(suite.BASELINE.read_text())["draft2020-12"], llg)
    assert ours.get("false_positive", 0) == 0
    assert ours["pass"] >= 597 - 1  # one of llguidance's 597 passing instances is held out here
