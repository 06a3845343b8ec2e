"""Batch grammar masks on threads: `CompiledGrammar.fill_masks` with 1 and 2 threads.

    python benchmarks/bench_grammar_threads.py [--n 8] [--grammars json sql]

For each grammar, matchers are placed at every token prefix of ``--n`` documents (JSON-Schema
test-suite instances for JSON, Spider dev queries for SQL; SmolLM2 tokenizer). Each batch is
filled once on a freshly compiled grammar (cold: every mask misses the caches) and once more on
the same grammar (warm: cached rows are copied). Figures are the wall time of the whole batch
and the speed-up of 2 threads over 1. Note: the shared development machine has 2 cores and is
usually loaded, so thread scaling there is a lower bound.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

C.single_thread()

import numpy as np  # noqa: E402


def _matchers(c, seqs):
    out = []
    for seq in seqs:
        m = c.matcher()
        for t in seq:
            out.append(m.fork())
            m.advance(t)
        out.append(m)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--grammars", nargs="+", default=["json", "sql"])
    a = ap.parse_args()
    from bench_grammar import json_docs, spider_queries

    from constrain.grammar import loader
    from constrain.grammar.api import Grammar
    from constrain.vocab import Vocabulary

    tok = C.load_tokenizer("smollm2")
    vocab = Vocabulary.from_hf(tok, size=len(tok))
    vocab.trie  # noqa: B018  (built before timing)
    rows = []
    for gname in a.grammars:
        text = loader.load_text("json" if gname == "json" else "sqlite")
        g0 = Grammar(text)
        inputs = json_docs(a.n) if gname == "json" else spider_queries(a.n, g0.accepts)[0]
        seqs = [tok.encode(s, add_special_tokens=False) for s in inputs]
        res = {}
        for threads in (1, 2):
            c = Grammar(text).compile(vocab, cache=False)
            ms = _matchers(c, seqs)
            bm = np.zeros((len(ms), vocab.words), dtype=np.int32)
            t0 = time.perf_counter()
            c.fill_masks(ms, bm, threads=threads)
            cold = time.perf_counter() - t0
            for m in ms:
                m._mask = None  # the matchers' own last-mask memo; the compiled caches stay
            t0 = time.perf_counter()
            c.fill_masks(ms, bm, threads=threads)
            warm = time.perf_counter() - t0
            res[threads] = (cold, warm, len(ms))
        for threads in (1, 2):
            cold, warm, n = res[threads]
            rows.append([gname, threads, n, cold * 1e3, warm * 1e3, C.ratio(res[1][0], cold),
                         C.ratio(res[1][1], warm)])
    print(C.table(["grammar", "threads", "rows", "cold batch ms", "warm batch ms", "cold speed-up",
                   "warm speed-up"], rows, title="fill_masks on SmolLM2 (V=49152)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
