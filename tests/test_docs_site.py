"""The docs site (user guide + API reference from the docstrings) builds with warnings as errors.

Runs ``mkdocs build --strict`` on the repository's ``mkdocs.yml`` into a temporary folder: a broken
link between pages, a page missing from the nav, a docstring griffe cannot parse or an API object
that no longer exists fails the build. mkdocstrings reads the source statically, so nothing is
imported (the vLLM/SGLang integrations are documented without those packages). A few seconds.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _missing_tools() -> list[str]:
    return [name for name in ("mkdocs", "mkdocstrings", "mkdocstrings_handlers.python")
            if _find_spec(name) is None]


def _find_spec(name: str):
    try:
        return importlib.util.find_spec(name)
    except ModuleNotFoundError:  # a parent package is missing
        return None


def test_docs_site_builds_strict(tmp_path: Path) -> None:
    missing = _missing_tools()
    if missing:
        pytest.skip(f"docs tools not installed ({', '.join(missing)}): pip install -e '.[docs]'")
    site = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"),
         "--site-dir", str(site)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    # the pages the nav promises exist, and the API reference rendered real objects
    assert (site / "index.html").is_file()
    assert (site / "benchmarks" / "index.html").is_file()
    api = (site / "api" / "hf" / "index.html").read_text(encoding="utf-8")
    assert "LogitsProcessor" in api and "doc-heading" in api
    home = (site / "index.html").read_text(encoding="utf-8")
    assert "pip install" in home, "the home page should include the README's quickstart"
