"""SGLang backend against SGLang's own base classes and registry, in the vLLM venv where
scripts/build_vllm_venv.sh installs SGLang 0.5.23 without its CUDA dependencies. Not end to end:
SGLang's server needs CUDA. Skips when the venv is absent or SGLang's base module does not import."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("CONSTRAIN_VLLM_VENV", "/opt/constrain-vllm-venv"))
pytestmark = pytest.mark.slow


def test_backend_against_sglang_base_classes():
    py = VENV / "bin" / "python"
    if not (VENV / ".constrain-vllm-ready").exists():
        pytest.skip(f"no vLLM/SGLang venv at {VENV} (tests/test_serving_vllm.py builds it)")
    probe = subprocess.run([str(py), "-c", "import sglang.srt.constrained.base_grammar_backend"],
                           capture_output=True, text=True, cwd="/tmp")
    if probe.returncode != 0:
        pytest.skip("SGLang's base_grammar_backend does not import here: " + probe.stderr[-300:])
    env = {k: v for k, v in os.environ.items() if k != "PIP_CONSTRAINT"}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.run([str(py), str(REPO / "tests" / "serving_sglang_check.py"),
                           str(VENV / "models" / "smollm2-135m-instruct")], capture_output=True, text=True,
                          cwd="/tmp", env=env, timeout=600)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    out = json.loads(lines[-1][len("RESULT "):])
    assert out.pop("jump_forward") == '{"name":"'
    assert out.pop("allowed_after_jump") > 1000
    assert all(out.values()), out
