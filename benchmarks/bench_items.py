"""Item constraints (STATIC's setting): CSR trie vs a Python dict trie and a binary-search baseline.

    python benchmarks/bench_items.py                               # 1e5 and 1e6 items (~1 minute)
    python benchmarks/bench_items.py --sizes 1e5 1e6 1e7 2e7   # ~10 minutes; the dict trie at 1e7
                                                               # needs ~14 GB (--dict-max 1e6 skips it)

Setting (STATIC's Appendix benchmark): batch 2 x 70 beams, 8-token items drawn uniformly over a
2,048-token vocabulary (plus one EOS id), random log-probs from a stub model, beam search over
all 9 steps (8 tokens + the end). At every step the same beams go to each method:

* ``fused beam step``: ``items_kernels.beam_step``, the step ``beam_search`` runs (candidates +
  per-batch top-M + new beams, one numba call);
* ``dict beam step``: a nested-dict trie (``{token: child}``): per beam the child keys and their
  log-probs (``lp[r, keys]``), the candidates padded into ``[R, W]``, the same top-M kernel
  (``beam_topk``), the new nodes; it must find the same final beams as ours (checked);
* ``csr step``: ``CompiledItems.step`` (numba), the fixed-shape K-candidate gather
  ``[rows, K_t + 1]`` with the level's static width, on the live rows (2 at the root, 140 after);
* ``dict step``: the dict trie's part of that (child keys and their log-probs per beam);
* ``csr mask`` / ``dict mask``: 140 int32 bitmask rows / bool mask rows;
* ``bsearch``: sorted ``int32[N, 8]`` items and, per beam and per token of the vocabulary, a
  binary search for ``prefix + token`` (STATIC's "PPV exact" baseline, in numba): it yields the
  candidates and the dense mask at once;
* ``numba call floor``: a numba function taking the fused step's arguments and doing nothing;
* ``beam_search loop``: ``beam_search`` itself with a stub model, time between model calls
  (the fused step, the token copy handed to the model, the Python loop).

Per-step latency: p50 / p99 over every step of every trial (``--trials``), garbage collector off
during the timed loop (as ``timeit`` does), two figures per method: **cold-ish** (the first call,
after a fresh random log-prob array and the other methods' work, as after a model forward in a
real loop) and **warm** (the same call repeated at once: caches hot). Build: wall time of
``Items(array)`` + ``compile`` (sort + trie + dense rows). Memory: ``memory_bytes()`` of the index.
On a CUDA machine the Triton step and mask are timed too, replayed from CUDA graphs.
Raw results: ``benchmarks/results/items.json`` (written after each size).
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

C.single_thread()

import numba  # noqa: E402
import numpy as np  # noqa: E402

from constrain.beam import beam_search, beam_topk  # noqa: E402
from constrain.items import Items  # noqa: E402
from constrain.native import items_kernels  # noqa: E402
from constrain.vocab import Vocabulary  # noqa: E402


# ----------------------------------------------------------------------------- baselines


#: bytes of the dict trie per trie state (measured at 1e6 items: 208; a one-key dict is 224 bytes)
DICT_BYTES_PER_STATE = 210


def build_dict_trie(arr: np.ndarray, V: int) -> dict:
    """Nested dicts ``{token: child}``; the token ints are shared (one object per id)."""
    ids = list(range(V))
    root: dict = {}
    for r0 in range(0, arr.shape[0], 1 << 16):  # rows as lists a chunk at a time (memory)
        for row in arr[r0:r0 + (1 << 16)].tolist():
            node = root
            for t in row:
                t = ids[t]
                nxt = node.get(t)
                if nxt is None:
                    nxt = node[t] = {}
                node = nxt
    return root


def dict_step(nodes: list, lp: np.ndarray):
    """Per beam: the child tokens and their log-probs (lists), as a CPU trie serves them."""
    out = []
    for r, node in enumerate(nodes):
        if node is None:
            out.append(None)
            continue
        ks = list(node)
        out.append((ks, lp[r, ks]))
    return out


def dict_mask(nodes: list, V: int) -> np.ndarray:
    m = np.zeros((len(nodes), V), dtype=bool)
    for r, node in enumerate(nodes):
        if node:
            m[r, list(node)] = True
    return m


@numba.njit(cache=True, nogil=True)
def _row_lower_bound(S, prefix, d, t):  # pragma: no cover - compiled
    """First row of sorted S whose first d+1 columns are >= prefix[:d] + (t,)."""
    lo, hi = 0, S.shape[0]
    while lo < hi:
        mid = (lo + hi) >> 1
        c = 0
        for k in range(d + 1):
            v = S[mid, k]
            w = prefix[k] if k < d else t
            if v != w:
                c = -1 if v < w else 1
                break
        if c < 0:
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(cache=True, nogil=True)
def bsearch_step(S, prefixes, depth, live, lp, out_lp):  # pragma: no cover - compiled
    """PPV exact: for every live row and every token t, binary-search prefix + t in the sorted
    items; out_lp[r, t] = lp[r, t] if found else -inf (candidates and dense mask at once)."""
    R, V = out_lp.shape
    n = S.shape[0]
    for r in range(R):
        for t in range(V):
            out_lp[r, t] = -np.inf
        if not live[r] or depth >= S.shape[1]:
            continue
        pre = prefixes[r]
        for t in range(V):
            i = _row_lower_bound(S, pre, depth, t)
            if i < n:
                ok = True
                for k in range(depth):
                    if S[i, k] != pre[k]:
                        ok = False
                        break
                if ok and S[i, depth] == t:
                    out_lp[r, t] = lp[r, t]


@numba.njit(cache=True, nogil=True)
def call_floor(indptr, tokens, end_bits, done, logp, eos_id, M, t, beams, scores, cur):  # pragma: no cover
    """A numba function taking the fused step's arguments and doing nothing: the call floor."""
    return 0, 0


# ----------------------------------------------------------------------------- helpers


def pct(xs, q):
    return float(np.percentile(np.asarray(xs) * 1e6, q)) if len(xs) else float("nan")


def mem_available() -> int:
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def log_softmax(x: np.ndarray) -> np.ndarray:
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


DONE = object()  # dict-trie beams past the end of their item


def dict_beam_step(nodes: list, scores: np.ndarray, lp: np.ndarray, B: int, M: int):
    """A full beam step on the dict trie: :func:`dict_step`, the candidates padded into a
    ``[R, W]`` array (last column: the item's end, log-prob 0, STATIC's setting) and the same
    top-M kernel as ours (``beam_topk``), then the new nodes. Returns
    ``(nodes, scores, parent_rows, tokens)`` (token ``-1``: an item's end)."""
    cands = dict_step([None if n is DONE else n for n in nodes], lp)
    W = max((len(x[0]) for x in cands if x is not None), default=0) + 1
    cand = np.full((len(nodes), W), -np.inf, np.float32)
    for r, x in enumerate(cands):
        if x is not None and x[0]:
            cand[r, : len(x[0])] = x[1]
        elif nodes[r] is not None:  # a leaf or a finished beam: the item ends
            cand[r, W - 1] = 0.0
    parent, col, new_scores = beam_topk(scores, cand, B, M)
    new_nodes, rows, toks = [], [], []
    for b in range(B):
        for p, j in zip(parent[b].tolist(), col[b].tolist()):
            r = b * M + p
            if p < 0:
                new_nodes.append(None)
                rows.append(-1)
                toks.append(-1)
            elif j == W - 1:
                new_nodes.append(DONE)
                rows.append(r)
                toks.append(-1)
            else:
                tk = cands[r][0][j]
                new_nodes.append(nodes[r][tk])
                rows.append(r)
                toks.append(tk)
    return new_nodes, new_scores.reshape(-1), rows, toks


def timed(fn, *a, **kw):
    """(result, seconds) of one call."""
    t0 = time.perf_counter()
    out = fn(*a, **kw)
    return out, time.perf_counter() - t0


class Timings:
    """Per-method lists of seconds: overall and per decode step, first ("cold-ish") and repeated
    ("warm") calls."""

    def __init__(self):
        self.all: dict[str, list] = {}
        self.level: dict[str, dict[int, list]] = {}

    def add(self, name: str, t: int, dt: float) -> None:
        self.all.setdefault(name, []).append(dt)
        self.level.setdefault(name, {}).setdefault(t, []).append(dt)

    def summary(self) -> dict:
        return {"p50_p99_us": {k: (pct(v, 50), pct(v, 99)) for k, v in self.all.items()},
                "per_level_p50_us": {k: {t: pct(v, 50) for t, v in d.items()}
                                     for k, d in self.level.items()}}


def run_size(N: int, args, rng) -> dict:
    V, L, B, M = args.vocab, args.length, args.batch, args.beams
    vocab = Vocabulary.from_bytes([f"<{i}>".encode() for i in range(V)], eos_ids=[V], size=V + 1)
    arr = rng.integers(0, V, size=(N, L), dtype=np.int32)
    res: dict = {"items": N}

    gc.collect()
    t0 = time.perf_counter()
    it = Items(arr)
    c = it.compile(vocab, cache=False)
    res["build_s"] = time.perf_counter() - t0
    res["distinct_items"] = c.n_items
    res["states"] = c.n_states
    res["mem_bytes"] = c.memory_bytes()
    res["mib_per_million"] = c.memory_bytes() / 2**20 / (N / 1e6)
    res["level_width"] = c.level_width.tolist()
    res["dense_levels"] = c.dense_levels
    print(f"  {N:.0e}: built in {res['build_s']:.2f} s, {c}", flush=True)

    # baselines' structures
    t0 = time.perf_counter()
    S = np.ascontiguousarray(arr[np.lexsort(arr.T[::-1])])
    res["bsearch_build_s"] = time.perf_counter() - t0
    est_dict = DICT_BYTES_PER_STATE * c.n_states
    avail = mem_available()
    do_dict = N <= args.dict_max and est_dict < avail - (3 << 29)  # leave 1.5 GiB
    root = None
    res["dict_build_s"] = None
    if do_dict:
        t0 = time.perf_counter()
        root = build_dict_trie(arr, V)
        res["dict_build_s"] = time.perf_counter() - t0
        print(f"    dict trie built in {res['dict_build_s']:.1f} s", flush=True)
    else:
        print(f"    dict trie skipped (N > --dict-max, or ~{est_dict / 2**30:.1f} GiB needed and "
              f"{avail / 2**30:.1f} GiB available)", flush=True)
    del arr

    R = B * M
    mask_buf = np.zeros((R, vocab.words), np.int32)
    bs_out = np.empty((R, V + 1), np.float32)
    cold, warm = Timings(), Timings()
    gpu = GpuTimer(c, R) if args.gpu else None
    outs: dict = {}
    width = lambda t: int(c.level_width[t]) if t < len(c.level_width) else 0  # noqa: E731
    gc.collect()
    gc.disable()  # as timeit does: a collection over the dict trie's objects costs milliseconds
    for trial in range(args.trials):
        beams = np.full((2, R, 2 + L + 1), -1, np.int64)  # the beam table of beam_search
        beams[:, :, 1] = 0
        beams[0, ::M, 0] = 0
        scores = np.full((2, R), -np.inf)
        scores[0, ::M] = 0.0
        cur = 0
        nodes = [root if r % M == 0 else None for r in range(R)] if root is not None else None
        dscores = scores[0].copy()
        dhist = [[] for _ in range(R)]
        for t in range(L + 1):
            states = np.ascontiguousarray(beams[cur, :, 0])
            live = (states >= 0) & (states < c.done)
            if not live.any():
                break
            lp = log_softmax(rng.standard_normal((R, V + 1)).astype(np.float32))
            # ours, full beam step (fused): candidates + top-M + new beams
            for tm in (cold, warm):
                _, dt = timed(items_kernels.beam_step, c.indptr, c.tokens, c.end_bits,
                                        c.done, lp, -1, M, t, beams, scores, cur)
                tm.add("fused", t, dt)
            # dict trie, full beam step (step + the same top-M + new nodes)
            if nodes is not None:
                for tm in (cold, warm):
                    dres, dt = timed(dict_beam_step, nodes, dscores, lp, B, M)
                    tm.add("dict_beam", t, dt)
            if t < L:
                hist = beams[cur, :, 2:2 + L]
                _, dt = timed(bsearch_step, S, hist, t, live, lp, bs_out)
                cold.add("bsearch", t, dt)
            # ours, fixed-shape candidate step on the live rows (level-static K) and masks
            K = width(t)
            st, lpl = (states, lp) if live.all() else (states[live], lp[live])
            out = outs.get((K, st.shape[0]))
            if out is None:  # preallocated per shape, as a serving loop would
                out = outs[K, st.shape[0]] = (
                    np.empty((st.shape[0], K + 1), np.int32),
                    np.empty((st.shape[0], K + 1), np.float32),
                    np.empty((st.shape[0], K + 1), np.int32))
            for tm in (cold, warm):
                _, dt = timed(c.step, st, lpl, K=K, out=out)
                tm.add("step", t, dt)
            for tm in (cold, warm):
                _, dt = timed(c.fill_masks, states, mask_buf)
                tm.add("mask", t, dt)
            if gpu is not None:
                gpu.measure(states, lp, K)
            if nodes is not None:
                dn = [None if n is DONE else n for n in nodes]
                for tm in (cold, warm):
                    _, dt = timed(dict_step, dn, lp)
                    tm.add("dict_step", t, dt)
                for tm in (cold, warm):
                    _, dt = timed(dict_mask, dn, V + 1)
                    tm.add("dict_mask", t, dt)
                nodes, dscores, rows, toks = dres
                dhist = [dhist[r] + [tk] if r >= 0 and tk >= 0 else (dhist[r] if r >= 0 else [])
                         for r, tk in zip(rows, toks)]
            for tm in (cold, warm):  # the numba call floor, last (no call of ours follows it)
                _, dt = timed(call_floor, c.indptr, c.tokens, c.end_bits, c.done, lp, -1, M, t,
                              beams, scores, cur)
                tm.add("floor", t, dt)
            cur ^= 1
        if trial == 0:  # sanity: the final beams are items, and the dict trie found the same ones
            fin = beams[cur][beams[cur, :, 0] == c.done][:, 2:2 + L]
            assert len(fin) == R, "beams missing"
            for row in fin[:5]:
                assert c.is_end(c.walk(row.tolist()))
            if nodes is not None:
                assert sorted(map(tuple, fin.tolist())) == sorted(map(tuple, dhist)), "dict differs"
    gc.enable()
    # beam_search itself, per step without the model call (the stub makes fresh log-probs)
    marks: list = []

    def stub(tokens):
        marks.append(time.perf_counter())
        x = log_softmax(rng.standard_normal((R, V + 1)).astype(np.float32))
        marks.append(time.perf_counter())
        return x

    loop = []
    for _ in range(args.trials):
        marks.clear()
        gc.disable()
        beam_search(c, stub, batch_size=B, num_beams=M)
        end = time.perf_counter()
        gc.enable()
        loop += [b - a for a, b in zip(marks[1::2], marks[2::2] + [end])]
    res["beam_search_loop_us"] = (pct(loop, 50), pct(loop, 99))
    res["cold"] = cold.summary()
    res["warm"] = warm.summary()
    if gpu is not None:
        res["gpu"] = gpu.summary()
    del root, nodes
    gc.collect()
    return res


class GpuTimer:
    """Triton step and mask on CUDA, each captured in a CUDA graph per (step, K) and replayed."""

    def __init__(self, c, R: int, reps: int = 200):
        import torch

        from constrain.native import triton_items as ti

        self.torch, self.ti, self.c, self.R, self.reps = torch, ti, c, R, reps
        self.idx = c.to_device("cuda")
        self.step_us: list = []
        self.mask_us: list = []
        self.launch_us: list = []
        self.mask = torch.zeros((R, c.vocab.words), dtype=torch.int32, device="cuda")

    def _graph_time(self, fn) -> float:
        torch = self.torch
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            fn()  # warm-up (compiles the kernel)
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            fn()
        g.replay()
        torch.cuda.synchronize()
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(self.reps):
            g.replay()
        b.record()
        torch.cuda.synchronize()
        return a.elapsed_time(b) * 1e3 / self.reps

    def measure(self, states, lp, K):
        torch, ti = self.torch, self.ti
        st = torch.from_numpy(states).cuda()
        lpd = torch.from_numpy(lp).cuda()
        out = (torch.empty((self.R, K + 1), dtype=torch.int32, device="cuda"),
               torch.empty((self.R, K + 1), dtype=lpd.dtype, device="cuda"),
               torch.empty((self.R, K + 1), dtype=torch.int32, device="cuda"))
        rows = torch.arange(self.R, device="cuda")
        self.step_us.append(self._graph_time(lambda: ti.step(self.idx, st, lpd, K, -1, out=out)))
        self.mask_us.append(self._graph_time(lambda: ti.fill_masks(self.idx, st, self.mask, rows)))
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(20):
            ti.step(self.idx, st, lpd, K, -1, out=out)
        torch.cuda.synchronize()
        self.launch_us.append((time.perf_counter() - t0) / 20 * 1e6)
        # CUDA path equals the CPU path
        want = self.c.step(states, lp, K=K)
        assert np.array_equal(out[2].cpu().numpy(), want[2])

    def summary(self) -> dict:
        p = lambda xs, q: float(np.percentile(xs, q))  # noqa: E731
        return {"step_graph_us": (p(self.step_us, 50), p(self.step_us, 99)),
                "mask_graph_us": (p(self.mask_us, 50), p(self.mask_us, 99)),
                "step_launch_us": (p(self.launch_us, 50), p(self.launch_us, 99))}


# ----------------------------------------------------------------------------- main


def fmt_pair(x):
    return "-" if x is None else f"{x[0]:.1f} / {x[1]:.1f}"


def ratio(a, b):
    return "-" if a is None or b is None else f"{a[0] / b[0]:.0f}x / {a[1] / b[1]:.0f}x"


#: (column title, method) of the per-step tables; ratios are baseline / ours
METHODS = [("fused beam step", "fused"), ("dict beam step", "dict_beam"), ("csr step", "step"),
           ("dict step", "dict_step"), ("bsearch", "bsearch"), ("csr mask", "mask"),
           ("dict mask", "dict_mask"), ("numba call floor", "floor")]
RATIOS = [("dict/fused beam", "dict_beam", "fused"), ("dict/csr step", "dict_step", "step"),
          ("bsearch/csr step", "bsearch", "step"), ("dict/csr mask", "dict_mask", "mask")]


def print_tables(results: list, gpu: bool) -> None:
    print()
    print("| items | build s | MiB / 1M items | states | dict build s | bsearch build s | beam_search loop p50/p99 us |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        db = "-" if r["dict_build_s"] is None else f"{r['dict_build_s']:.1f}"
        print(f"| {r['items']:.0e} | {r['build_s']:.2f} | {r['mib_per_million']:.1f} | {r['states']} | {db} "
              f"| {r['bsearch_build_s']:.2f} | {fmt_pair(r['beam_search_loop_us'])} |")
    for kind in ("cold", "warm"):
        print()
        print(f"per-step latency, {kind}{'-ish caches (first call after other work)' if kind == 'cold' else ' (the same call repeated at once)'}"
              ", p50 / p99 us over all decode steps:")
        print("| items | " + " | ".join(t for t, _ in METHODS) + " | " + " | ".join(t for t, _, _ in RATIOS) + " |")
        print("|---:" * (1 + len(METHODS) + len(RATIOS)) + "|")
        for r in results:
            p = r[kind]["p50_p99_us"]
            cold = r["cold"]["p50_p99_us"]
            cells = [fmt_pair(p.get(m, cold.get(m) if m == "bsearch" else None)) for _, m in METHODS]
            rats = [ratio(p.get(a, cold.get(a) if a == "bsearch" else None), p.get(b)) for _, a, b in RATIOS]
            print(f"| {r['items']:.0e} | " + " | ".join(cells) + " | " + " | ".join(rats) + " |")
    print()
    print("per decode step p50 us, cold-ish (ours fused / dict beam step; csr step / dict step):")
    for r in results:
        lv = r["cold"]["per_level_p50_us"]
        parts = []
        for t in sorted(lv["fused"], key=int):  # int keys, or str when read back from JSON
            f, s = lv["fused"][t], lv["step"].get(t)
            db, ds = lv.get("dict_beam", {}).get(t), lv.get("dict_step", {}).get(t)
            K = r["level_width"][int(t)] if int(t) < len(r["level_width"]) else 0
            parts.append(f"t{t} (K={K}): "
                         f"{f:.0f}/{'-' if db is None else f'{db:.0f}'}; {s:.0f}/{'-' if ds is None else f'{ds:.0f}'}")
        print(f"  {r['items']:.0e}: " + ", ".join(parts))
    if len(results) > 1:
        a, b = results[0], results[-1]
        for kind in ("cold", "warm"):
            pa, pb = a[kind]["p50_p99_us"], b[kind]["p50_p99_us"]
            print(f"flatness {b['items']:.0e} vs {a['items']:.0e} ({kind}): " + ", ".join(
                f"{m} p50 {pb[m][0] / pa[m][0]:.2f}x p99 {pb[m][1] / pa[m][1]:.2f}x"
                for m in ("fused", "step", "mask")))
    if gpu:
        print()
        print("| items | triton step (graph) p50/p99 us | triton mask (graph) p50/p99 us | step launch p50/p99 us |")
        print("|---:|---:|---:|---:|")
        for r in results:
            g = r["gpu"]
            print(f"| {r['items']:.0e} | {fmt_pair(g['step_graph_us'])} | {fmt_pair(g['mask_graph_us'])} "
                  f"| {fmt_pair(g['step_launch_us'])} |")


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", type=float, default=[1e5, 1e6])
    ap.add_argument("--max-items", type=float, default=float("inf"), help="skip sizes above this")
    ap.add_argument("--dict-max", type=float, default=1e7,
                    help="largest size with the dict-trie baseline (default 1e7; it is also skipped "
                         "when its estimated memory does not fit)")
    ap.add_argument("--vocab", type=int, default=2048)
    ap.add_argument("--length", type=int, default=8)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--beams", type=int, default=70)
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-gpu", action="store_true")
    ap.add_argument("--append", action="store_true",
                    help="keep the other sizes' results already in --out (same sizes are replaced)")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "items.json"))
    args = ap.parse_args(argv)
    from constrain.native import triton_items
    args.gpu = (not args.no_gpu) and triton_items.available()
    sizes = [int(s) for s in args.sizes if s <= args.max_items]
    rng = np.random.default_rng(args.seed)
    items_kernels.warm_up()
    # compile the baseline kernel and warm everything on a tiny case
    small = argparse.Namespace(**{**vars(args), "trials": 1, "gpu": False})
    run_size(2000, small, np.random.default_rng(1))
    print(f"B={args.batch} x M={args.beams}, L={args.length}, V={args.vocab}, trials={args.trials}, "
          f"gpu={args.gpu}", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__,
            "machine": platform.machine(), "cpus": C.os.cpu_count(), "command": sys.argv,
            "args": {k: v for k, v in vars(args).items()}}
    kept = []
    if args.append and out.exists():
        old = json.loads(out.read_text())
        kept = [r for r in old["results"] if r["items"] not in sizes]
        meta = {**meta, "appended_to": old["meta"]}
    results = list(kept)
    for N in sizes:
        results.append(run_size(N, args, rng))
        out.write_text(json.dumps({"meta": meta, "results": results}, indent=1, default=str))
    print_tables(sorted(results, key=lambda r: r["items"]), args.gpu)
    print(f"\nwrote {out}")
    return {"meta": meta, "results": results}


if __name__ == "__main__":
    main()
