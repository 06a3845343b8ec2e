"""Item constraints (STATIC's setting): CSR trie vs a Python dict trie and a binary-search baseline.

    python benchmarks/bench_items.py                      # 1e5 and 1e6 items (~2 minutes)
    python benchmarks/bench_items.py --max-items 1e7      # adds 1e7 (needs ~15 GB for the dict trie)
    python benchmarks/bench_items.py --sizes 1e5 2e7 --dict-max 1e6

Setting (STATIC's Appendix benchmark): batch 2 x 70 beams, 8-token items drawn uniformly over a
2,048-token vocabulary (plus one EOS id), random log-probs from a stub model, beam search over
all 9 steps (8 tokens + the end). At every step the same beam states go to each method:

* ``csr step``: ``CompiledItems.step`` (numba), the K-candidate gather ``[140, K_t + 1]``;
* ``csr mask``: ``CompiledItems.fill_masks``, 140 int32 bitmask rows;
* ``dict step`` / ``dict mask``: a nested-dict trie (``{token: child}``), per beam the child keys
  and their log-probs (``lp[r, keys]``) / a bool mask row;
* ``bsearch``: sorted ``int32[N, 8]`` items and, per beam and per token of the vocabulary, a
  binary search for ``prefix + token`` (STATIC's "PPV exact" baseline, here in numba on the CPU):
  it yields the candidates and the dense mask at once.

Per-step latency: p50 / p99 over every step of every trial (``--trials``), garbage collector off
during the timed loop (as ``timeit`` does). Caches are cold-ish: a fresh random log-prob array
and the baselines run between two measurements of ours, as a model forward would in a real loop. Build: wall time of
``Items(array)`` + ``compile`` (sort + trie + dense rows). Memory: ``memory_bytes()`` of the index.
On a CUDA machine the Triton step and mask are timed too, replayed from CUDA graphs.
Raw results: ``benchmarks/results/items.json``.
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

from constrain.beam import beam_topk  # noqa: E402
from constrain.items import Items  # noqa: E402
from constrain.native import items_kernels  # noqa: E402
from constrain.vocab import Vocabulary  # noqa: E402


# ----------------------------------------------------------------------------- baselines


def build_dict_trie(arr: np.ndarray) -> dict:
    root: dict = {}
    for row in arr.tolist():
        node = root
        for t in row:
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
    order = np.lexsort(arr.T[::-1])
    S = np.ascontiguousarray(arr[order])
    res["bsearch_build_s"] = time.perf_counter() - t0
    est_dict = 230 * (c.n_states)  # bytes: a dict per node plus its key
    do_dict = N <= args.dict_max and est_dict < 0.6 * mem_available()
    root = None
    if do_dict:
        t0 = time.perf_counter()
        root = build_dict_trie(arr)
        res["dict_build_s"] = time.perf_counter() - t0
        print(f"    dict trie built in {res['dict_build_s']:.1f} s", flush=True)
    else:
        res["dict_build_s"] = None
        print(f"    dict trie skipped (N > --dict-max or ~{est_dict / 2**30:.1f} GiB needed)", flush=True)

    R = B * M
    words = vocab.words
    mask_buf = np.zeros((R, words), np.int32)
    bs_out = np.empty((R, V + 1), np.float32)
    t_step, t_mask, t_topk, t_dict_step, t_dict_mask, t_bs = [], [], [], [], [], []
    per_level: dict[int, dict[str, list]] = {}
    gpu = GpuTimer(c, R) if args.gpu else None
    outs: dict = {}
    gc.collect()
    gc.disable()  # as timeit does: a collection over the dict trie's objects costs milliseconds
    for trial in range(args.trials):
        states = np.full(R, -1, np.int64)
        states[::M] = 0
        scores = np.full(R, -np.inf)
        scores[::M] = 0.0
        hist = np.full((R, L), -1, np.int32)
        nodes = [root if s == 0 else None for s in states] if root is not None else None
        for t in range(L + 1):
            live = (states >= 0) & (states < c.done)
            if not live.any():
                break
            lp = log_softmax(rng.standard_normal((R, V + 1)).astype(np.float32))
            K = c.width(states)
            lvl = per_level.setdefault(t, {"step": [], "mask": [], "dict_step": [], "bsearch": []})
            # ours: K-candidate step and dense mask
            out = outs.get(K)
            if out is None:  # preallocated per width, as a serving loop would
                out = outs[K] = (np.empty((R, K + 1), np.int32), np.empty((R, K + 1), np.float32),
                                 np.empty((R, K + 1), np.int32))
            t0 = time.perf_counter()
            tok, clp, nxt = c.step(states, lp, K=K, out=out)
            dt = time.perf_counter() - t0
            t_step.append(dt)
            lvl["step"].append(dt)
            t0 = time.perf_counter()
            c.fill_masks(states, mask_buf)
            dt = time.perf_counter() - t0
            t_mask.append(dt)
            lvl["mask"].append(dt)
            if gpu is not None:
                gpu.measure(states, lp, K)
            # baselines at the same states
            if nodes is not None:
                t0 = time.perf_counter()
                dict_step(nodes, lp)
                dt = time.perf_counter() - t0
                t_dict_step.append(dt)
                lvl["dict_step"].append(dt)
                t0 = time.perf_counter()
                dict_mask(nodes, V + 1)
                t_dict_mask.append(time.perf_counter() - t0)
            if t < L:
                t0 = time.perf_counter()
                bsearch_step(S, hist, t, live, lp, bs_out)
                dt = time.perf_counter() - t0
                t_bs.append(dt)
                lvl["bsearch"].append(dt)
            # beam update (top-M)
            t0 = time.perf_counter()
            parent, col, new_scores = beam_topk(scores, clp, B, M)
            t_topk.append(time.perf_counter() - t0)
            ok = (parent >= 0).reshape(-1)
            src = np.where(parent >= 0, (np.arange(B) * M)[:, None] + parent, 0).reshape(-1)
            cc = np.where(col >= 0, col, 0).reshape(-1)
            new_states = np.where(ok, nxt[src, cc], -1).astype(np.int64)
            new_tok = np.where(ok & (cc < K), tok[src, cc], -1)
            hist = np.where(ok[:, None], hist[src], -1)
            if t < L:
                hist[:, t] = new_tok
            if nodes is not None:
                nodes = [nodes[s].get(int(tk)) if (o and tk >= 0 and nodes[s] is not None) else None
                         for s, tk, o in zip(src.tolist(), new_tok.tolist(), ok.tolist())]
            states, scores = new_states, new_scores.reshape(-1)
        if trial == 0:  # sanity: the final beams are items
            fin = hist[states == c.done]
            assert len(fin) == R, "beams missing"
            for row in fin[:5]:
                assert c.is_end(c.walk(row.tolist()))
    gc.enable()
    res["step_us"] = (pct(t_step, 50), pct(t_step, 99))
    res["mask_us"] = (pct(t_mask, 50), pct(t_mask, 99))
    res["topk_us"] = (pct(t_topk, 50), pct(t_topk, 99))
    res["dict_step_us"] = (pct(t_dict_step, 50), pct(t_dict_step, 99)) if t_dict_step else None
    res["dict_mask_us"] = (pct(t_dict_mask, 50), pct(t_dict_mask, 99)) if t_dict_mask else None
    res["bsearch_us"] = (pct(t_bs, 50), pct(t_bs, 99))
    res["per_level_us_p50"] = {t: {k: pct(v, 50) for k, v in d.items() if v} for t, d in per_level.items()}
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", type=float, default=[1e5, 1e6, 1e7, 2e7])
    ap.add_argument("--max-items", type=float, default=1e6, help="skip sizes above this (default 1e6)")
    ap.add_argument("--dict-max", type=float, default=None,
                    help="largest size with the dict-trie baseline (default: --max-items)")
    ap.add_argument("--vocab", type=int, default=2048)
    ap.add_argument("--length", type=int, default=8)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--beams", type=int, default=70)
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-gpu", action="store_true")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "items.json"))
    args = ap.parse_args()
    args.dict_max = args.max_items if args.dict_max is None else args.dict_max
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
    results = [run_size(N, args, rng) for N in sizes]

    print()
    print("| items | build s | MiB / 1M items | csr step p50/p99 us | csr mask p50/p99 us | top-k p50/p99 us "
          "| dict step p50/p99 us | dict mask p50/p99 us | bsearch p50/p99 us "
          "| dict/csr step | dict/csr mask | bsearch/csr step | bsearch/csr mask |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['items']:.0e} | {r['build_s']:.2f} | {r['mib_per_million']:.1f} | {fmt_pair(r['step_us'])} "
              f"| {fmt_pair(r['mask_us'])} | {fmt_pair(r['topk_us'])} | {fmt_pair(r['dict_step_us'])} "
              f"| {fmt_pair(r['dict_mask_us'])} | {fmt_pair(r['bsearch_us'])} "
              f"| {ratio(r['dict_step_us'], r['step_us'])} | {ratio(r['dict_mask_us'], r['mask_us'])} "
              f"| {ratio(r['bsearch_us'], r['step_us'])} | {ratio(r['bsearch_us'], r['mask_us'])} |")
    print()
    print("per-step p50 us of the csr step by decode step (K_t = level width):")
    for r in results:
        row = ", ".join(f"t{t}: {d['step']:.1f} (K={r['level_width'][t] if t < len(r['level_width']) else 0})"
                        for t, d in r["per_level_us_p50"].items())
        print(f"  {r['items']:.0e}: {row}")
    if len(results) > 1:
        a, b = results[0], results[-1]
        print(f"flatness {b['items']:.0e} vs {a['items']:.0e}: step p50 {b['step_us'][0] / a['step_us'][0]:.2f}x, "
              f"p99 {b['step_us'][1] / a['step_us'][1]:.2f}x; mask p50 {b['mask_us'][0] / a['mask_us'][0]:.2f}x, "
              f"p99 {b['mask_us'][1] / a['mask_us'][1]:.2f}x")
    if args.gpu:
        print()
        print("| items | triton step (graph) p50/p99 us | triton mask (graph) p50/p99 us | step launch p50/p99 us |")
        print("|---:|---:|---:|---:|")
        for r in results:
            g = r["gpu"]
            print(f"| {r['items']:.0e} | {fmt_pair(g['step_graph_us'])} | {fmt_pair(g['mask_graph_us'])} "
                  f"| {fmt_pair(g['step_launch_us'])} |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__,
            "machine": platform.machine(), "cpus": C.os.cpu_count() if hasattr(C, "os") else None,
            "args": {k: v for k, v in vars(args).items()}}
    out.write_text(json.dumps({"meta": meta, "results": results}, indent=1, default=str))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
