"""The wheel carries what a checkout imports: constrain.native and constrain.grammars (symlinks
in the checkout), the demo's database and py.typed; and a wheel install imports outside the repo."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_contents_and_import_outside_the_checkout(tmp_path):
    pytest.importorskip("setuptools")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                            "-q", "-w", str(tmp_path / "dist"), str(ROOT)],
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("constrain-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    native = sorted(p.name for p in (ROOT / "native").glob("*.py"))
    assert {f"constrain/native/{n}" for n in native} <= names
    assert {"constrain/grammars/json.lark", "constrain/grammars/sqlite.lark",
            "constrain/data/concerts.sqlite", "constrain/py.typed"} <= names
    zipfile.ZipFile(wheel).extractall(tmp_path / "site")
    code = ("import constrain as cn, constrain.native.mask_kernels as k; "
            "assert k.__file__.startswith(%r); print(cn.Grammar.load('sqlite'))" % str(tmp_path / "site"))
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
