"""Infilling benchmarks: completability-check time vs pieces, and constrained diffusion decoding.

    python benchmarks/bench_infill.py [--quick] [--train-seconds 40] [--samples 40]

1. Completability time for partial outputs cut from random documents of the JSON grammar
   (``grammars/json.lark``) and of a C grammar (syncode's ``c_grammar.lark`` when the shared data
   is present, else a small C-like grammar): ``k`` pieces of ``L`` bytes with unbounded holes
   between them (``pos``: pieces of a real document, always completable) and the same with one
   random byte edit per piece (``mut``: often not completable).
2. A tiny masked-diffusion model trained for ``--train-seconds`` on sentences of a small JSON-like
   grammar: syntactic validity with and without the constraint, and time per denoising step.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from constrain import Grammar  # noqa: E402
from constrain.grammar.testing import random_sentences  # noqa: E402
from constrain.infill import Hole, Partial, infill_grammar  # noqa: E402

C_PATH = "/work/shared/data/grammars/lark/syncode/c_grammar.lark"
C_SMALL = r'''
start: func*
func: TYPE NAME "(" params? ")" block
params: TYPE NAME ("," TYPE NAME)*
block: "{" stmt* "}"
stmt: TYPE NAME "=" expr ";" | NAME "=" expr ";" | "return" expr ";" | "if" "(" expr ")" block
    | "while" "(" expr ")" block | block
expr: expr ("+" | "-" | "*" | "<" | "==") atom | atom
atom: NAME | NUMBER | NAME "(" (expr ("," expr)*)? ")" | "(" expr ")"
TYPE: "int" | "float" | "char" | "void"
NAME: /[a-zA-Z_][a-zA-Z_0-9]*/
NUMBER: /[0-9]+/
%ignore /[ \t\n]+/
'''


def _doc(rng, depth=0):
    r = rng.random()
    if depth > 3 or r < 0.25:
        return rng.choice([rng.randint(-1000, 10**6), "v" + str(rng.random())[2:8], True, None, 12.5e-3,
                           "caf\u00e9 " + str(rng.randint(0, 99))])
    if r < 0.6:
        return [_doc(rng, depth + 1) for _ in range(rng.randint(1, 5))]
    return {f"key{i}": _doc(rng, depth + 1) for i in range(rng.randint(1, 5))}


def json_source(rng, n):
    while True:
        s = json.dumps(_doc(rng), indent=rng.choice([None, 2]), ensure_ascii=False).encode()
        if len(s) >= n:
            return s


def c_source_factory(g):
    sents = [s.encode() for s in random_sentences(g.cfg, 400, seed=7, max_depth=14, max_len=2000)]
    sents = [s for s in sents if len(s) > 40]

    def src(rng, n):
        out = b""
        while len(out) < n:
            out += rng.choice(sents) + b"\n"
        return out
    return src


def make_partial(rng, src, k, L, mutate):
    s = src(rng, k * (L + 8) + 8)
    step = len(s) // k
    elems = []
    for i in range(k):
        a = i * step + (rng.randint(1, 4) if i else 0)
        piece = bytearray(s[a:a + L])
        if mutate and piece:
            j = rng.randrange(len(piece))
            piece[j] = ord(rng.choice('{}[]":,0a ;()='))
        elems += [bytes(piece), Hole()]
    return Partial(elems)


def bench_checks(name, g, src, ks, Ls, n, rng):
    ig = infill_grammar(g)
    rows = []
    for k in ks:
        for L in Ls:
            for mut in (False, True):
                ts, oks, trip = [], 0, []
                for _ in range(n):
                    p = make_partial(rng, src, k, L, mut)
                    t = time.perf_counter()
                    r = ig.check(p)
                    ts.append((time.perf_counter() - t) * 1e3)
                    oks += r.ok
                    trip.append(r.triples)
                rows.append((name, k, L, "mut" if mut else "pos", statistics.median(ts),
                             float(np.percentile(ts, 90)), max(ts), oks / n, int(statistics.median(trip))))
    return rows


def bench_diffusion(train_seconds, samples, gen_length=32, steps=16):
    import torch

    from constrain.infill import CharTokenizer, diffusion_generate
    from tests.tiny_diffusion import TinyDiffusionLM, train_tiny_diffusion

    torch.manual_seed(0)
    torch.set_num_threads(1)  # the tiny model is fastest single-threaded; steadier timings
    g = Grammar(r'''
start: value
value: "[" (value ("," value)*)? "]" | "{" (STRING ":" value ("," STRING ":" value)*)? "}"
     | NUMBER | "true" | "null" | STRING
NUMBER: /-?[0-9]+/
STRING: /"[abc]*"/
''')
    tok = CharTokenizer(list('{}[],:" 0123456789-abc') + ["true", "null", '": ', '"a"'])
    sents = [s for s in random_sentences(g.cfg, 3000, seed=1, max_depth=6) if len(s) <= gen_length - 2]
    seqs = [tok.encode(s) for s in sents]
    model = TinyDiffusionLM(len(tok), d_model=96, n_layers=3, max_len=gen_length)
    t0 = time.perf_counter()
    losses = train_tiny_diffusion(model, seqs, length=gen_length, eos_id=tok.eos_token_id, steps=100000,
                                  batch_size=32, lr=3e-3, time_budget_s=train_seconds)
    train_s = time.perf_counter() - t0
    res = {}
    for mode in ("unconstrained", "constrained"):
        valid = fb = rej = 0
        secs = fwd = chk = 0.0
        for seed in range(samples):
            r = diffusion_generate(model, tok, None, g if mode == "constrained" else None, gen_length=gen_length,
                                   steps=steps, temperature=0.5, seed=seed)
            valid += g.accepts(r.data)
            fb += r.fallback
            rej += r.rejections
            secs += r.seconds
            fwd += r.forward_passes
            chk += r.check_seconds
        res[mode] = dict(valid=valid / samples, fallback=fb, rejections=rej, ms_per_step=secs / fwd * 1e3,
                         check_ms_per_step=chk / fwd * 1e3, s_per_sample=secs / samples)
    return dict(train_steps=len(losses), train_s=train_s, loss_first=losses[0], loss_last=losses[-1],
                sentences=len(sents), **res)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--train-seconds", type=float, default=40.0)
    ap.add_argument("--samples", type=int, default=40)
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--skip-checks", action="store_true", help="only the diffusion part")
    a = ap.parse_args(argv)
    rng = random.Random(0)
    ks, Ls = ([1, 4, 8], [16, 64]) if a.quick else ([1, 2, 4, 8, 16], [16, 32, 64])
    json_g = Grammar.load("json")
    c_g = Grammar(open(C_PATH).read()) if os.path.exists(C_PATH) else Grammar(C_SMALL)
    c_name = "C (syncode)" if os.path.exists(C_PATH) else "C-like"
    # warm the numba kernels
    infill_grammar(json_g).check(Partial(["[", Hole(), "]"]))
    rows = [] if a.skip_checks else bench_checks("JSON", json_g, json_source, ks, Ls, a.n, rng)
    rows += [] if a.skip_checks else bench_checks(c_name, c_g, c_source_factory(c_g), ks, Ls, a.n, rng)
    print("## Completability check time (ms)\n")
    print("| grammar | pieces | bytes/piece | kind | p50 | p90 | max | completable | triples p50 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| %s | %d | %d | %s | %.3f | %.3f | %.2f | %.0f%% | %d |" % (r[0], r[1], r[2], r[3], r[4], r[5], r[6],
                                                                          100 * r[7], r[8]))
    d = bench_diffusion(a.train_seconds if not a.quick else 10.0, a.samples if not a.quick else 10)
    print(f"\n## Tiny masked-diffusion model (d=96, 3 layers; trained {d['train_steps']} steps in "
          f"{d['train_s']:.0f} s on {d['sentences']} sentences; loss {d['loss_first']:.2f} -> {d['loss_last']:.2f})\n")
    print("| decoding | valid | fallbacks | rejections | ms/step | check ms/step | s/sample |")
    print("|---|---|---|---|---|---|---|")
    for mode in ("unconstrained", "constrained"):
        r = d[mode]
        print(f"| {mode} | {100 * r['valid']:.1f}% | {r['fallback']} | {r['rejections']} | {r['ms_per_step']:.2f} | "
              f"{r['check_ms_per_step']:.2f} | {r['s_per_sample']:.3f} |")
    ratio = d["constrained"]["s_per_sample"] / d["unconstrained"]["s_per_sample"]
    print(f"\nconstrained / unconstrained time: {ratio:.2f}x")
    keys = ("grammar", "pieces", "bytes_per_piece", "kind", "p50_ms", "p90_ms", "max_ms", "completable",
            "triples_p50")
    return {"checks": [dict(zip(keys, r)) for r in rows], "diffusion": d,
            "constrained_over_unconstrained_time": ratio}


if __name__ == "__main__":
    main()
