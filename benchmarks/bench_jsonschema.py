"""JSONSchemaBench: constrain's JsonSchema vs llguidance and xgrammar, same process, single thread.

Per subset of ``shared/data/jsonschemabench``:
- share of schemas compiled (strict mode; ours refuses what it cannot enforce exactly), next to
  llguidance's *recorded* share (``peer-baselines/llguidance/jsonschemabench_results.json``) and to
  llguidance / xgrammar measured here;
- compile time p50/p99 (schema → grammar → compiled against the vocabulary, first mask included);
- per-token mask p50/p99, stepping through token sequences of valid instances: the instances are
  random walks of *our* matcher (random allowed tokens, biased towards structural tokens, until
  EOS), and the same token sequences are fed to the peers. Ours are timed on a freshly compiled
  engine, with the trie walks shared between grammars (`constrain.grammar.walks.shared_walks`)
  as the earlier schemas left them, not as this schema's untimed walks did (``--cold-walks``:
  none shared at all, every schema alone in its process);
- soundness: every finished walk is validated with ``jsonschema`` (format checker on).

Usage::

    python benchmarks/bench_jsonschema.py --limit 60 --walks 2            # SmolLM2 49k vocabulary
    python benchmarks/bench_jsonschema.py --vocab gemma3 --limit 30       # Gemma 3 262k vocabulary
    python benchmarks/bench_jsonschema.py --limit 0 --coverage-only --subsets Github_easy --out a.json
    python benchmarks/bench_jsonschema.py --report a.json b.json          # tables of saved shards
    python benchmarks/bench_jsonschema.py --grammar-only --limit 150      # coverage only, no vocabulary

``--grammar-only`` measures coverage alone, fast enough for every schema: a schema counts as
compiled when ``JsonSchema(schema)`` (schema → grammar, terminal DFAs included) succeeds within
``--timeout`` seconds of *CPU* time (wall time on a shared machine would count other processes'
load); no peers run, llguidance's recorded results are the comparison. With ``--out`` it saves one row
per schema (subset, id, compiled, refusal keyword and message, CPU ms) and prints the refusals per
subset; ``--report`` is for the full mode's files.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

BENCH = C.SHARED / "data" / "jsonschemabench"
LLG_REC = C.SHARED / "data" / "peer-baselines" / "llguidance" / "jsonschemabench_results.json"


class _Timeout(Exception):
    pass


_ARMED = [False]


def _alarm(_s, _f):
    if _ARMED[0]:
        _ARMED[0] = False
        raise _Timeout()


def _start_timer(seconds):
    _ARMED[0] = True
    signal.setitimer(signal.ITIMER_REAL, seconds)


def _stop_timer():
    _ARMED[0] = False
    signal.setitimer(signal.ITIMER_REAL, 0)


def token_classes(vocab):
    """(is_eos, is_structural) boolean arrays over the vocabulary, built once per run."""
    is_eos = np.zeros(vocab.size, dtype=bool)
    is_eos[np.asarray(vocab.eos_ids, dtype=np.int64)] = True
    is_struct = np.fromiter((tb is not None and any(c in tb for c in b'"]},') for tb in vocab.token_bytes[:vocab.size]),
                            dtype=bool, count=vocab.size)
    return is_eos, is_struct


def walk(matcher, classes, rng, max_tokens):
    """A random token sequence the matcher accepts, ending where EOS is allowed (None when the
    walk dies or runs out of tokens): EOS with probability 1/2 when allowed, otherwise a random
    allowed token, from the structural ones (``"]},``) with probability 0.6."""
    is_eos, is_struct = classes
    seq = []
    for _ in range(max_tokens):
        allowed = matcher.allowed_tokens()
        if not len(allowed):
            return None
        eos = is_eos[allowed]
        if eos.any() and rng.random() < 0.5:
            return seq
        non = allowed[~eos]
        structural = non[is_struct[non]]
        pool = structural if len(structural) and rng.random() < 0.6 else non
        if not len(pool):
            return seq
        t = int(pool[rng.randrange(len(pool))])
        matcher.advance(t)
        seq.append(t)
    return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vocab", default="smollm2", choices=["smollm2", "gemma3"])
    ap.add_argument("--limit", type=int, default=60, help="schemas per subset (0 = all)")
    ap.add_argument("--offset", type=int, default=0,
                    help="skip this many schemas per subset first (a held-out sample: --offset 200)")
    ap.add_argument("--walks", type=int, default=2, help="random walks per compiled schema")
    ap.add_argument("--max-tokens", type=int, default=120)
    ap.add_argument("--timeout", type=float, default=10.0, help="per-schema compile limit (s)")
    ap.add_argument("--peers", nargs="*", default=["llguidance", "xgrammar"])
    ap.add_argument("--coverage-only", action="store_true", help="compile only (all schemas)")
    ap.add_argument("--cold-walks", action="store_true",
                    help="time each schema's masks with no trie walks shared from earlier schemas")
    ap.add_argument("--grammar-only", action="store_true",
                    help="coverage of schema -> grammar only (no vocabulary, no peers; CPU-time limit)")
    ap.add_argument("--subsets", nargs="*", default=None, help="only these subsets (file stems)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--report", nargs="*", default=None,
                    help="print the tables of earlier --out files (e.g. one per shard of subsets)")
    a = ap.parse_args(argv)
    if a.report:
        rows = [r for f in a.report for r in json.loads(Path(f).read_text())]
        _report(sorted(rows, key=lambda r: r["subset"]), a, list(rows[0]["peer"]) if rows else [])
        return 0
    C.single_thread()
    warnings.simplefilter("ignore")
    if a.grammar_only:
        return _grammar_only(a)
    import jsonschema

    from constrain.errors import ConstraintError
    from constrain.grammar.walks import shared_walks
    from constrain.schema import JsonSchema
    from constrain.vocab import Vocabulary

    tok = C.load_tokenizer(a.vocab)
    vocab = Vocabulary.from_hf(tok)
    words = vocab.words
    classes = token_classes(vocab)
    peers = {}
    if "llguidance" in a.peers:
        import llguidance
        import llguidance.hf
        peers["llguidance"] = llguidance.hf.from_tokenizer(tok, n_vocab=vocab.size)
    if "xgrammar" in a.peers:
        import xgrammar as xgr
        info = xgr.TokenizerInfo.from_huggingface(tok, vocab_size=vocab.size)
        peers["xgrammar"] = xgr.GrammarCompiler(info, max_threads=1, cache_enabled=False)
    rec = json.loads(LLG_REC.read_text()) if LLG_REC.exists() else {}
    signal.signal(signal.SIGALRM, _alarm)
    rows = []
    buf = np.zeros((1, words), dtype=np.int32)
    # cold start apart (numba kernels loaded or compiled, per-vocabulary trie arrays), as the
    # peers' tokenizer preprocessing above is: not inside the first schema's compile limit
    t0 = time.perf_counter()
    JsonSchema({"type": "object", "properties": {"a": {"type": "string", "maxLength": 3}}}).compile(
        vocab, cache=False).matcher().fill_mask(buf, 0)
    print(f"cold start (kernels, trie arrays; not in the figures): {(time.perf_counter() - t0) * 1e3:.0f} ms",
          file=sys.stderr)
    import torch
    tbuf = torch.from_numpy(buf)
    for path in sorted(BENCH.glob("*.jsonl")):
        subset = path.stem
        if a.subsets and subset not in a.subsets:
            continue
        lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
        lines = lines[a.offset:a.offset + a.limit] if a.limit else lines[a.offset:]
        st = {"subset": subset, "n": len(lines), "ok": 0, "comp_ms": [], "mask_ns": [], "walks": 0,
              "valid": 0, "invalid": [], "peer": {p: {"ok": 0, "comp_ms": [], "mask_ns": []} for p in peers},
              "llg_rec": [0, 0], "refusals": {}}
        rng = random.Random(0)
        for k, item in enumerate(lines):
            if k and k % 200 == 0:
                print(f"  {subset}: {k}/{len(lines)}", file=sys.stderr, flush=True)
            sid, schema = item["id"], item["schema"]
            r = rec.get(sid)
            if r is not None:
                st["llg_rec"][1] += 1
                st["llg_rec"][0] += not r.get("json_error") and not r.get("compile_error") and "error" not in r
            t0 = time.perf_counter()
            _start_timer(a.timeout)
            comp = None
            try:
                js = JsonSchema(schema)
                comp = js.compile(vocab, cache=False)
                m = comp.matcher()
                m.fill_mask(buf, 0)
                st["ok"] += 1
                st["comp_ms"].append((time.perf_counter() - t0) * 1e3)
            except (ConstraintError, RecursionError, _Timeout) as e:
                key = type(e).__name__ + ":" + (getattr(e, "keyword", "") or str(e)[:40])
                st["refusals"][key] = st["refusals"].get(key, 0) + 1
                comp = None
            except Exception as e:  # a bug: count it as not compiled and name the schema
                key = f"CRASH {type(e).__name__} ({sid})"
                st["refusals"][key] = st["refusals"].get(key, 0) + 1
                comp = None
            finally:
                _stop_timer()
            seqs = []
            # the timed pass below sees the walks shared from earlier schemas (a process serving
            # many schemas), not those of this schema's untimed walks; --cold-walks: none at all
            shared = shared_walks(vocab)
            snap = shared.snapshot()
            if comp is not None and not a.coverage_only:
                try:
                    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
                    val = cls(schema, format_checker=cls.FORMAT_CHECKER)
                except Exception:
                    val = None
                for _ in range(a.walks):
                    _start_timer(a.timeout * 3)
                    try:
                        seq = walk(comp.matcher(), classes, rng, a.max_tokens)
                    except _Timeout:
                        seq = None
                    except ConstraintError as e:  # e.g. one mask past `mask_time_budget_s`
                        key = f"walk {type(e).__name__}"
                        st["refusals"][key] = st["refusals"].get(key, 0) + 1
                        print(f"  {sid}: walk stopped by {type(e).__name__}: {str(e)[:80]}", flush=True)
                        seq = None
                    finally:
                        _stop_timer()
                    if seq is None:
                        continue
                    seqs.append(seq)
                    st["walks"] += 1
                    text = b"".join(vocab.token_bytes[t] for t in seq).decode("utf-8")
                    try:
                        ok = val is None or val.is_valid(json.loads(text))
                    except Exception:
                        ok = False
                    st["valid"] += ok
                    if not ok:
                        st["invalid"].append((sid, text[:200]))
                if seqs:  # our per-token masks, on a fresh engine (the walks warmed the caches)
                    if a.cold_walks:
                        shared.clear()
                    else:
                        shared.restore(snap)
                    comp = JsonSchema(schema).compile(vocab, cache=False)
                for seq in seqs:
                    mm = comp.matcher()
                    for t in seq + [None]:
                        t0 = time.perf_counter_ns()
                        mm.fill_mask(buf, 0)
                        st["mask_ns"].append(time.perf_counter_ns() - t0)
                        if t is not None:
                            mm.advance(t)
            for pname, obj in peers.items():
                ps = st["peer"][pname]
                t0 = time.perf_counter()
                try:
                    if pname == "llguidance":
                        M = llguidance.LLMatcher
                        g = M.grammar_from_json_schema(schema, defaults={"whitespace_flexible": False})
                        pm = M(obj, g, log_level=0)
                        if pm.is_error():
                            raise RuntimeError(pm.get_error())
                        pm.unsafe_compute_mask_ptr(buf.ctypes.data, buf[0].nbytes)
                    else:
                        cg = obj.compile_json_schema(json.dumps(schema), any_whitespace=False, strict_mode=False)
                        pm = xgr.GrammarMatcher(cg)
                        pm.fill_next_token_bitmask(tbuf)
                except Exception:
                    continue
                ps["ok"] += 1
                ps["comp_ms"].append((time.perf_counter() - t0) * 1e3)
                for seq in seqs:
                    mm = pm.deep_copy() if pname == "llguidance" else xgr.GrammarMatcher(cg)
                    if pname == "llguidance":
                        mm.reset()
                    for t in seq + [None]:
                        t0 = time.perf_counter_ns()
                        if pname == "llguidance":
                            mm.unsafe_compute_mask_ptr(buf.ctypes.data, buf[0].nbytes)
                        else:
                            mm.fill_next_token_bitmask(tbuf)
                        ps["mask_ns"].append(time.perf_counter_ns() - t0)
                        if t is None:
                            break
                        if not (mm.consume_token(t) if pname == "llguidance" else mm.accept_token(t)):
                            break
        rows.append(st)
        print(f"{subset}: ours {st['ok']}/{st['n']}, walks {st['walks']} valid {st['valid']}", file=sys.stderr)
        if a.out:  # after every subset, so an interrupted run keeps what it measured
            Path(a.out).write_text(json.dumps(rows, default=str, indent=1))
    _report(rows, a, peers)
    return 0


def _grammar_only(a) -> int:
    """Per subset: share of schemas whose grammar builds, next to llguidance's recorded share on
    the same schemas; compile p50 (CPU ms) and the most common refusals."""
    from constrain.errors import ConstraintError
    from constrain.schema import JsonSchema

    rec = json.loads(LLG_REC.read_text()) if LLG_REC.exists() else {}
    signal.signal(signal.SIGPROF, _alarm)
    tot = [0, 0, 0, 0]
    print("| subset | n | ours | llguidance recorded | ours − llg | ours compile p50 CPU ms |")
    print("|---|---|---|---|---|---|")
    refusals: dict = {}
    saved: list = []  # one row per schema (written to --out: subset, id, ok, reason, message, ms)
    for path in sorted(BENCH.glob("*.jsonl")):
        if a.subsets and path.stem not in a.subsets:
            continue
        lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
        lines = lines[a.offset:a.offset + a.limit] if a.limit else lines[a.offset:]
        ok = llg = 0
        ms = []
        for item in lines:
            r = rec.get(item["id"], {})
            llg_ok = not r.get("json_error") and not r.get("compile_error") and "error" not in r
            llg += llg_ok
            t0 = time.process_time()
            _ARMED[0] = True
            signal.setitimer(signal.ITIMER_PROF, a.timeout)
            row = {"subset": path.stem, "id": item["id"], "ok": False, "llg": bool(llg_ok)}
            try:
                JsonSchema(item["schema"])
                ok += 1
                ms.append((time.process_time() - t0) * 1e3)
                row.update(ok=True, ms=ms[-1])
            except (ConstraintError, RecursionError, _Timeout) as e:
                key = type(e).__name__ + ":" + str(getattr(e, "keyword", "") or "")
                refusals[key] = refusals.get(key, 0) + 1
                row.update(reason=key, message=str(e)[:300])
            except Exception as e:  # a bug: counted as not compiled, named in the saved rows
                key = f"CRASH {type(e).__name__}"
                refusals[key] = refusals.get(key, 0) + 1
                row.update(reason=key, message=str(e)[:300])
            finally:
                _ARMED[0] = False
                signal.setitimer(signal.ITIMER_PROF, 0)
            saved.append(row)
        n = len(lines)
        tot = [tot[0] + n, tot[1] + ok, tot[2] + llg, tot[3]]
        print(f"| {path.stem} | {n} | {100 * ok / n:.1f}% | {100 * llg / n:.1f}% | {100 * (ok - llg) / n:+.1f} pp "
              f"| {_p(ms, 50):.1f} |", flush=True)
    print(f"| all | {tot[0]} | {100 * tot[1] / tot[0]:.1f}% | {100 * tot[2] / tot[0]:.1f}% | "
          f"{100 * (tot[1] - tot[2]) / tot[0]:+.1f} pp | |")
    print("refusals:", sorted(refusals.items(), key=lambda kv: -kv[1])[:12])
    print(f"compile p50 CPU ms over all compiled: {_p([r['ms'] for r in saved if r['ok']], 50):.1f}")
    for subset in dict.fromkeys(r["subset"] for r in saved):
        per: dict = {}
        for r in saved:
            if r["subset"] == subset and not r["ok"]:
                per[r["reason"]] = per.get(r["reason"], 0) + 1
        print(f"  {subset} refusals:", sorted(per.items(), key=lambda kv: -kv[1])[:6])
    if a.out:
        Path(a.out).write_text(json.dumps(saved, indent=0))
    return 0


def _p(v, q):
    return C.percentile(v, q) if v else float("nan")


def _report(rows, a, peers):
    scope = "saved runs " + " ".join(a.report) if a.report else f"limit {a.limit or 'all'} schemas per subset"
    print(f"\nJSONSchemaBench, vocabulary {a.vocab}, {scope}, single thread\n")
    hdr = ("| subset | n | ours compiled | llg recorded | " + " | ".join(f"{p} compiled" for p in peers)
           + " | ours compile p50/p99 ms | " + " | ".join(f"{p} compile p50/p99 ms" for p in peers)
           + " | ours mask p50/p99 µs | " + " | ".join(f"{p} mask p50/p99 µs" for p in peers)
           + " | walks valid |")
    print(hdr)
    print("|" + "---|" * (hdr.count("|") - 1))
    tot = {"n": 0, "ok": 0, "rec": [0, 0], "walks": 0, "valid": 0}
    allc, allm = [], []
    for st in rows:
        rec = st["llg_rec"]
        cells = [st["subset"], str(st["n"]), f"{100 * st['ok'] / max(st['n'], 1):.1f}%",
                 f"{100 * rec[0] / rec[1]:.1f}%" if rec[1] else "n/a"]
        cells += [f"{100 * st['peer'][p]['ok'] / max(st['n'], 1):.1f}%" for p in peers]
        cells.append(f"{_p(st['comp_ms'], 50):.1f} / {_p(st['comp_ms'], 99):.1f}")
        cells += [f"{_p(st['peer'][p]['comp_ms'], 50):.1f} / {_p(st['peer'][p]['comp_ms'], 99):.1f}" for p in peers]
        cells.append(f"{_p(st['mask_ns'], 50) / 1e3:.1f} / {_p(st['mask_ns'], 99) / 1e3:.1f}")
        cells += [f"{_p(st['peer'][p]['mask_ns'], 50) / 1e3:.1f} / {_p(st['peer'][p]['mask_ns'], 99) / 1e3:.1f}"
                  for p in peers]
        cells.append(f"{st['valid']}/{st['walks']}")
        print("| " + " | ".join(cells) + " |")
        tot["n"] += st["n"]; tot["ok"] += st["ok"]; tot["walks"] += st["walks"]; tot["valid"] += st["valid"]
        tot["rec"][0] += rec[0]; tot["rec"][1] += rec[1]
        allc += st["comp_ms"]; allm += st["mask_ns"]
    print(f"\nall: ours compiled {100 * tot['ok'] / max(tot['n'], 1):.1f}% "
          f"(llguidance recorded {100 * tot['rec'][0] / max(tot['rec'][1], 1):.1f}% on the same schemas); "
          f"compile p50/p99 {_p(allc, 50):.1f}/{_p(allc, 99):.1f} ms; "
          f"mask p50/p99 {_p(allm, 50) / 1e3:.1f}/{_p(allm, 99) / 1e3:.1f} µs; "
          f"walks valid {tot['valid']}/{tot['walks']}")
    _ratios(rows, peers)
    for st in rows:
        for sid, text in st["invalid"][:3]:
            print(f"  INVALID {sid}: {text}")
        top = sorted(st["refusals"].items(), key=lambda kv: -kv[1])[:4]
        print(f"  {st['subset']} refusals: {top}")


def _ratios(rows, peers):
    """Ours against each peer per subset: compiled share difference (percentage points) and p50
    ratios (ours / peer; below 1 means faster)."""
    def ratio(x, y):
        return f"{x / y:.2f}x" if x == x and y == y and y > 0 else "n/a"
    print("\n| subset | compiled − llg recorded | " + " | ".join(
        f"compiled − {p} | compile p50 ours/{p} | mask p50 ours/{p}" for p in peers) + " |")
    print("|" + "---|" * (2 + 3 * len(peers)))
    for st in rows:
        n = max(st["n"], 1)
        rec = st["llg_rec"]
        cells = [st["subset"], f"{100 * (st['ok'] / n - rec[0] / rec[1]):+.1f} pp" if rec[1] else "n/a"]
        for p in peers:
            ps = st["peer"][p]
            cells += [f"{100 * (st['ok'] - ps['ok']) / n:+.1f} pp",
                      ratio(_p(st["comp_ms"], 50), _p(ps["comp_ms"], 50)),
                      ratio(_p(st["mask_ns"], 50), _p(ps["mask_ns"], 50))]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    raise SystemExit(main())
