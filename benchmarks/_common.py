"""Shared helpers for the side-by-side benchmarks (regex now; grammar / JSON-schema later).

* single-thread setup (call :func:`single_thread` before importing any engine);
* offline tokenizers, statistics, RSS, table printing;
* one small adapter class per engine with the same interface::

      eng = Engine(tokenizer)                     # vocabulary set-up (time it around the constructor)
      compiled = eng.compile(spec, kind="regex")  # "regex" | "json_schema" | "lark" where supported
      m = eng.matcher(compiled)                   # fresh per-sequence state
      m.fill(buf)                                 # buf: numpy int32 [1, ceil(V/32)], row 0 is written
      ok = m.advance(token_id)                    # False (never an exception) if the engine rejects
      m.is_accepting()
      eng.memory_bytes(compiled)                  # engine's own figure, or None

  Every engine writes the same standard bitmask layout (bit ``t & 31`` of word ``t >> 5``), so the
  buffers can be compared bit for bit.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
RESULTS = REPO / "benchmarks" / "results"


# ----------------------------------------------------------------------------- environment
def single_thread() -> None:
    """Pin every engine we know of to one thread (call before importing the engines)."""
    for k in ("RAYON_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
              "NUMBA_NUM_THREADS"):
        os.environ[k] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"


def torch_single_thread() -> None:
    try:
        import torch
        torch.set_num_threads(1)
    except Exception:  # pragma: no cover - torch is optional for our engine
        pass


def load_tokenizer(name: str):
    from constrain import models
    return {"smollm2": models.load_smollm2_tokenizer,
            "gemma3": models.load_gemma3_tokenizer,
            "deepseek": models.load_deepseek_tokenizer}[name]()


def rss_bytes() -> int:
    """Resident set size of this process (``/proc/self/statm``; Linux only, 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def pkg_version(dist: str) -> str:
    try:
        from importlib.metadata import version
        return version(dist)
    except Exception:
        return "?"


class Timer:
    """``with Timer() as t: ...`` then ``t.ms``."""

    def __enter__(self):
        self._t = time.perf_counter_ns()
        return self

    def __exit__(self, *exc):
        self.ns = time.perf_counter_ns() - self._t
        self.ms = self.ns / 1e6


# ----------------------------------------------------------------------------- statistics
def percentile(values, q: float) -> float:
    """Linear-interpolated percentile (``q`` in 0..100); nan for no values."""
    if len(values) == 0:
        return math.nan
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def summarize_ns(values_ns) -> dict:
    """p50 / p99 / max / mean in microseconds, plus the count."""
    v = np.asarray(values_ns, dtype=np.float64) / 1e3
    if v.size == 0:
        return {"n": 0, "p50_us": math.nan, "p99_us": math.nan, "max_us": math.nan, "mean_us": math.nan}
    return {"n": int(v.size), "p50_us": float(np.percentile(v, 50)), "p99_us": float(np.percentile(v, 99)),
            "max_us": float(v.max()), "mean_us": float(v.mean())}


def median(values) -> float:
    v = [x for x in values if x is not None and not (isinstance(x, float) and math.isnan(x))]
    return statistics.median(v) if v else math.nan


def ratio(a, b) -> float:
    try:
        if a is None or b is None or b == 0 or math.isnan(a) or math.isnan(b):
            return math.nan
        return a / b
    except TypeError:
        return math.nan


# ----------------------------------------------------------------------------- bitmasks
def bits(buf: np.ndarray, size: int) -> np.ndarray:
    """Boolean [size] view of row 0 of an int32 bitmask."""
    return np.unpackbits(buf[0].view(np.uint8), bitorder="little")[:size].astype(bool)


def has_bit(buf: np.ndarray, tok: int) -> bool:
    return bool((int(buf[0, tok >> 5]) >> (tok & 31)) & 1)


# ----------------------------------------------------------------------------- tables
def fmt(x, digits: int = 1) -> str:
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    if isinstance(x, float) and math.isnan(x):
        return "-"
    if isinstance(x, int):
        return str(x)
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.{digits}f}"


def table(headers: list[str], rows: list[list], title: str | None = None, left: int = 2) -> str:
    """Plain-text table; the first ``left`` columns are left-aligned, the rest right-aligned."""
    cells = [[fmt(c) if not isinstance(c, str) else c for c in r] for r in rows]
    w = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    out = []
    if title:
        out.append(title)
    out.append("  ".join(h.ljust(w[i]) if i < left else h.rjust(w[i]) for i, h in enumerate(headers)))
    out.append("  ".join("-" * x for x in w))
    for r in cells:
        out.append("  ".join(c.ljust(w[i]) if i < left else c.rjust(w[i]) for i, c in enumerate(r)))
    return "\n".join(out)


# ----------------------------------------------------------------------------- engine adapters
class _PtrCache:
    """Address of a numpy buffer, cached (``ndarray.ctypes.data`` costs about a microsecond)."""

    __slots__ = ("_buf", "ptr", "nbytes")

    def __init__(self):
        self._buf = None

    def get(self, buf: np.ndarray) -> int:
        if buf is not self._buf:
            self._buf, self.ptr, self.nbytes = buf, buf.ctypes.data, buf[0].nbytes
        return self.ptr


class Engine:
    name = "?"
    version = "?"

    def __init__(self, tok, vocab_size: int | None = None):
        self.tok = tok
        self.vocab_size = int(vocab_size if vocab_size is not None else len(tok))
        self.words = (self.vocab_size + 31) // 32

    def compile(self, spec, kind: str = "regex"):
        raise NotImplementedError

    def matcher(self, compiled):
        raise NotImplementedError

    def memory_bytes(self, compiled) -> int | None:
        return None

    def alloc(self) -> np.ndarray:
        return np.zeros((1, self.words), dtype=np.int32)


# ---- ours
class ConstrainEngine(Engine):
    name = "constrain"

    def __init__(self, tok, vocab_size=None):
        super().__init__(tok, vocab_size)
        import constrain as cn
        self.version = cn.__version__
        self._cn = cn
        self.vocab = cn.Vocabulary.from_hf(tok, size=self.vocab_size)
        self.vocab.trie  # noqa: B018 - built lazily on the first compile otherwise; part of set-up

    def compile(self, spec, kind="regex", eager=None):
        if kind != "regex":
            raise NotImplementedError(f"constrain adapter: kind {kind!r} not wired yet")
        # No cross-compile caches: forget the per-edge-shape UTF-8 templates so every compile is
        # measured cold (the Unicode class tables stay, as a shipped table would).
        from constrain.regex import automata
        automata._template.cache_clear()
        return self._cn.Regex(spec, eager=eager).compile(self.vocab, cache=False)

    def matcher(self, compiled):
        return _OurMatcher(compiled.matcher())

    def memory_bytes(self, compiled):
        return int(compiled.memory_bytes())


class _OurMatcher:
    __slots__ = ("m", "fill", "allows", "is_accepting")

    def __init__(self, m):
        self.m = m
        fm = m.fill_mask
        self.fill = lambda buf: fm(buf, 0)
        self.allows = m.allows
        self.is_accepting = m.is_accepting

    def advance(self, tok: int) -> bool:
        from constrain.errors import TokenRejected
        try:
            self.m.advance(tok)
            return True
        except TokenRejected:
            return False


# ---- xgrammar
class XGrammarEngine(Engine):
    name = "xgrammar"

    def __init__(self, tok, vocab_size=None):
        super().__init__(tok, vocab_size)
        import xgrammar as xgr
        self.version = pkg_version("xgrammar")
        self._xgr = xgr
        self.info = xgr.TokenizerInfo.from_huggingface(tok, vocab_size=self.vocab_size)
        self.compiler = xgr.GrammarCompiler(self.info, max_threads=1, cache_enabled=False)

    def compile(self, spec, kind="regex"):
        c = self.compiler
        if kind == "regex":
            return c.compile_regex(spec)
        if kind == "json_schema":
            return c.compile_json_schema(spec if isinstance(spec, str) else __import__("json").dumps(spec))
        if kind == "ebnf":
            return c.compile_grammar(spec)
        raise NotImplementedError(kind)

    def matcher(self, compiled):
        return _XgrMatcher(self._xgr.GrammarMatcher(compiled))

    def memory_bytes(self, compiled):
        try:
            return int(compiled.memory_size_bytes)
        except Exception:
            return None


class _XgrMatcher:
    __slots__ = ("m", "_buf", "_t", "advance", "is_accepting")

    def __init__(self, m):
        self.m = m
        self._buf = None
        self.advance = m.accept_token
        self.is_accepting = m.is_terminated  # after the stop token; see bench for the EOS check

    def fill(self, buf):
        if buf is not self._buf:
            import torch
            self._buf, self._t = buf, torch.from_numpy(buf)
        self.m.fill_next_token_bitmask(self._t)


# ---- llguidance
class LLGuidanceEngine(Engine):
    """``compile`` builds a template ``LLMatcher`` (grammar parse + lexer set-up); ``matcher``
    deep-copies it, which shares the compiled grammar and its lazily built lexer states."""

    name = "llguidance"

    def __init__(self, tok, vocab_size=None):
        super().__init__(tok, vocab_size)
        import llguidance
        import llguidance.hf
        self.version = pkg_version("llguidance")
        self._llg = llguidance
        self.tokenizer = llguidance.hf.from_tokenizer(tok, n_vocab=self.vocab_size)

    def compile(self, spec, kind="regex"):
        M = self._llg.LLMatcher
        if kind == "regex":
            g = M.grammar_from_regex(spec)
        elif kind == "json_schema":
            g = M.grammar_from_json_schema(spec)
        elif kind == "lark":
            g = M.grammar_from_lark(spec)
        else:
            raise NotImplementedError(kind)
        m = M(self.tokenizer, g, log_level=0)
        if m.is_error():
            raise RuntimeError(f"llguidance: {m.get_error()}")
        return m

    def matcher(self, compiled):
        return _LlgMatcher(compiled.deep_copy())


class _LlgMatcher:
    __slots__ = ("m", "_p", "advance", "is_accepting", "_ptr")

    def __init__(self, m):
        self.m = m
        self._p = _PtrCache()
        self.advance = m.consume_token
        self.is_accepting = m.is_accepting
        self._ptr = m.unsafe_compute_mask_ptr

    def fill(self, buf):
        p = self._p
        self._ptr(p.get(buf), p.nbytes)


# ---- outlines-core
class OutlinesEngine(Engine):
    """outlines-core needs a ``Vocabulary(eos_id, {token bytes: [ids]})``; without the hub we
    build it from the tokenizer's tokens decoded to bytes (byte-level BPE: GPT-2 byte table;
    sentencepiece: ``▁`` → space, ``<0xNN>`` → byte) — the same decoding outlines applies."""

    name = "outlines-core"

    def __init__(self, tok, vocab_size=None, token_bytes=None):
        super().__init__(tok, vocab_size)
        import outlines_core as oc
        self._oc = oc
        self.version = pkg_version("outlines_core")
        if token_bytes is None:
            from constrain.vocab import Vocabulary
            token_bytes = Vocabulary.from_hf(tok, size=self.vocab_size).token_bytes
        self.eos = int(tok.eos_token_id)
        special = {int(i) for i in getattr(tok, "all_special_ids", []) or []}
        m: dict[bytes, list[int]] = {}
        for i, b in enumerate(token_bytes):
            if b and i != self.eos and i not in special:
                m.setdefault(bytes(b), []).append(i)
        self.vocabulary = oc.Vocabulary(self.eos, m)

    def compile(self, spec, kind="regex"):
        if kind == "json_schema":
            import json
            spec = self._oc.json_schema.build_regex_from_schema(spec if isinstance(spec, str) else json.dumps(spec))
        elif kind != "regex":
            raise NotImplementedError(kind)
        return self._oc.Index(spec, self.vocabulary)

    def matcher(self, compiled):
        return _OcMatcher(self._oc.Guide(compiled))


class _OcMatcher:
    __slots__ = ("g", "_p", "_w", "is_accepting")

    def __init__(self, g):
        self.g = g
        self._p = _PtrCache()
        self._w = g.write_mask_into
        self.is_accepting = g.is_finished

    def fill(self, buf):
        p = self._p
        self._w(p.get(buf), buf.shape[1], 4)

    def advance(self, tok: int) -> bool:
        try:
            self.g.advance(tok, return_tokens=False)
            return True
        except Exception:
            return False


ENGINES = {"constrain": ConstrainEngine, "xgrammar": XGrammarEngine, "llguidance": LLGuidanceEngine,
           "outlines-core": OutlinesEngine}
