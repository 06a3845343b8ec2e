"""The README's test command is exactly what CI runs."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text().splitlines()
    command = readme[readme.index("# run the test suite") + 1]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert ci[-1] == command
