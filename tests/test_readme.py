"""The README's test command is exactly what CI runs."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text().splitlines()
    command = readme[readme.index("# run the test suite") + 1]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert ci[-1] == command


# ------------------------------------------------------------------------------------------------
# The README's examples: they run, and a type checker resolves every name they use.

import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import pytest  # noqa: E402

# names the examples use without defining them (the user's own objects)
_FREE = ("model", "tokenizer", "inputs", "logits", "token_id")


def _python_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_names_resolve_for_a_type_checker(tmp_path):
    pytest.importorskip("mypy")
    blocks = _python_blocks()
    names = sorted(set(re.findall(r"\bcn\.([A-Za-z_]\w*)", "".join(blocks))))
    assert {"Regex", "LogitsProcessor", "generate", "Vocabulary", "apply_mask"} <= set(names)
    script = ["from typing import Any", *(f"{n}: Any = None" for n in _FREE), *blocks,
              *(f"reveal_type(cn.{n})" for n in names)]
    (tmp_path / "user.py").write_text("\n".join(script))
    (tmp_path / "mypy.ini").write_text(
        "[mypy]\nfollow_imports = silent\nignore_missing_imports = True\n"
        "[mypy-torch.*,transformers.*,numba.*,lark.*,triton.*,pydantic.*,jsonschema.*]\n"
        "follow_imports = skip\n")
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(tmp_path / "mypy.ini"),
         "--cache-dir", str(tmp_path / "cache"), "--no-error-summary", str(tmp_path / "user.py")],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
        env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    revealed = re.findall(r'Revealed type is "(.*)"', run.stdout)
    errors = [line for line in run.stdout.splitlines() if ": error:" in line]
    assert not errors, run.stdout
    assert len(revealed) == len(names), run.stdout + run.stderr
    assert all(r != "Any" for r in revealed), dict(zip(names, revealed))


def test_low_level_example_runs(smollm2_tokenizer):
    import numpy as np
    import torch

    import constrain as cn

    block = next(b for b in _python_blocks() if "allocate_bitmask" in b)
    vocab = cn.Vocabulary.from_hf(smollm2_tokenizer)
    yes = smollm2_tokenizer.encode("yes", add_special_tokens=False)
    assert len(yes) == 1
    env = {"cn": cn, "tokenizer": smollm2_tokenizer, "logits": torch.zeros(1, vocab.size), "token_id": yes[0]}
    exec(block, env)  # noqa: S102 - the README's own code
    allowed = torch.isfinite(env["logits"][0]).nonzero().flatten().tolist()
    assert yes[0] in allowed and all(np.asarray(env["m"].allowed_tokens()) == np.asarray(allowed))


@pytest.mark.slow
def test_readme_date_example_gives_ascii_dates(smollm2_tokenizer, smollm2_model):
    """The README's ``\\d{4}-\\d{2}-\\d{2}`` gives ASCII digits (``\\d`` is ASCII by default)."""
    import constrain as cn

    tok, model = smollm2_tokenizer, smollm2_model
    prompt = tok.apply_chat_template([{"role": "user", "content": "When did Apollo 11 land? Answer with a date."}],
                                     tokenize=False, add_generation_prompt=True)
    inputs = tok(prompt, return_tensors="pt")
    processor = cn.LogitsProcessor(cn.Regex(r"\d{4}-\d{2}-\d{2}"), tok)
    out = model.generate(**inputs, logits_processor=[processor], max_new_tokens=20, do_sample=False,
                         pad_token_id=tok.eos_token_id)
    text = tok.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    assert re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text), text
