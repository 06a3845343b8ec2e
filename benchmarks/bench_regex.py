"""Regex constraints: constrain vs xgrammar, llguidance and outlines-core, side by side.

    python benchmarks/bench_regex.py [--vocab smollm2 gemma3] [--regex NAME ...] [--quick]

Every engine runs single-threaded in this one process, on the same tokenizer, the same regexes
and exactly the same token ids (valid example strings tokenized with ``tok.encode``). See
benchmarks/README.md for what each column means. Raw results: benchmarks/results/regex.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import platform
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

C.single_thread()

import numpy as np  # noqa: E402

# ----------------------------------------------------------------------------- inputs
OWN_REGEXES = {
    "iso_datetime": r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d"
                    r"(\.\d{1,6})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)",
    "uuid": r"[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
    "float": r"-?\d+(\.\d+)?([eE][+-]?\d+)?",
    "json_record": r'\{"name": "[^"]{1,20}", "age": \d{1,3}\}',
    "enum20": r"(apple|banana|cherry|durian|elderberry|fig|grape|honeydew|kiwi|lemon|mango|"
              r"nectarine|orange|papaya|quince|raspberry|strawberry|tangerine|watermelon|zucchini)",
}

EXAMPLES = {
    "email": ["john.doe@example.com", "a_b+c@mail.server.co.uk", "x.y-z@sub-domain.io"],
    "complex_phone": ["+1 (555) 123-4567", "+44 20 7946 0958", "555.123.4567"],
    "date": ["31/12/2023", "2023-01-15", "5.6.99"],
    "time": ["12:30 pm", "9:05am", "07:45"],
    "ip": ["192.168.0.1", "10.0.0.255", "255.255.255.0"],
    "url": ["https://www.example.com/path/to/page", "http://github.com/dottxt-ai/outlines-core",
            "example.org"],
    "ssn": ["123-45-6789", "987-65-4321", "000-00-0000"],
    "complex_span_constrained_relation_extraction": [
        "altruism | is a | virtue\n",
        "the moral principle | opposite of | selfishness\n",
        "Altruism, | practice | concern for happiness | (human | animals)\nreligious | core of | many religions\n",
    ],
    "iso_datetime": ["2024-02-29T13:45:00Z", "1999-12-31T23:59:59.123456+05:30", "2000-01-01T00:00:00-08:00"],
    "uuid": ["123e4567-e89b-12d3-a456-426614174000", "f47ac10b-58cc-4372-a567-0e02b2c3d479",
             "00000000-0000-1000-8000-000000000000"],
    "float": ["-3.14159", "6.02214076e23", "42"],
    "json_record": ['{"name": "Ada Lovelace", "age": 36}', '{"name": "José Müller", "age": 7}',
                    '{"name": "李小龙 (Bruce)", "age": 32}'],
    "enum20": ["watermelon", "fig", "strawberry"],
}

QUICK_REGEXES = ["ssn", "email", "json_record"]


def load_regexes() -> dict[str, str]:
    path = C.SHARED / "data/outlines-core-bench/benchmark_inputs.json"
    with open(path) as f:
        regexes = dict(json.load(f)["regexes"])
    regexes.update(OWN_REGEXES)
    for name, pattern in regexes.items():
        for s in EXAMPLES[name]:
            if not re.fullmatch(pattern, s):
                raise SystemExit(f"example {s!r} does not fullmatch regex {name!r}")
    return regexes


# ----------------------------------------------------------------------------- one engine × regex
def run_engine(eng, pattern: str, seqs: list[list[int]], reps: int, compile_reps: int,
               eos_id: int, keep_masks: bool) -> dict:
    res: dict = {"engine": eng.name}
    buf = eng.alloc()
    compile_ms, first_ms = [], []
    compiled = None
    for k in range(compile_reps):
        compiled = None
        gc.collect()
        rss0 = C.rss_bytes()
        t0 = time.perf_counter_ns()
        try:
            compiled = eng.compile(pattern)
        except Exception as e:  # a peer may not support a construct: report, don't crash
            res["error"] = f"compile: {type(e).__name__}: {e}"[:500]
            return res
        t1 = time.perf_counter_ns()
        m = eng.matcher(compiled)
        m.fill(buf)
        t2 = time.perf_counter_ns()
        if k == 0:
            res["rss_delta_bytes"] = C.rss_bytes() - rss0
        compile_ms.append((t1 - t0) / 1e6)
        first_ms.append((t2 - t0) / 1e6)
    res["compile_ms_all"] = compile_ms
    res["first_mask_ms_all"] = first_ms
    res["compile_ms"] = min(compile_ms)
    res["first_mask_ms"] = min(first_ms)
    res["memory_bytes_compiled"] = eng.memory_bytes(compiled)
    if eng.name == "constrain":
        res["dfa_states"] = int(compiled.n_states)
        res["rows_built_at_compile"] = int(compiled.rows_built)

    times_first, times_warm, adv_ns = [], [], []
    rejections, eos_missing, not_accepting = [], [], []
    masks = {}
    perf = time.perf_counter_ns
    for rep in range(reps):
        for si, seq in enumerate(seqs):
            m = eng.matcher(compiled)
            fill, advance = m.fill, m.advance
            sink = times_first if rep == 0 else times_warm
            for step in range(len(seq) + 1):
                buf.fill(0)
                t0 = perf()
                fill(buf)
                sink.append(perf() - t0)
                if keep_masks and rep == 0:
                    masks[(si, step)] = buf[0].copy()
                if step == len(seq):
                    if not C.has_bit(buf, eos_id):
                        if rep == 0:
                            eos_missing.append(si)
                    break
                tok = seq[step]
                in_mask = C.has_bit(buf, tok)
                t0 = perf()
                ok = advance(tok)
                adv_ns.append(perf() - t0)
                if not (ok and in_mask):
                    if rep == 0:
                        rejections.append({"seq": si, "step": step, "token": tok, "in_mask": in_mask,
                                           "advance_ok": bool(ok)})
                    if not ok:
                        break
            else:  # pragma: no cover
                pass
    res["steps_first_rep"] = len(times_first)
    res["steps"] = len(times_first) + len(times_warm)
    res["mask_all"] = C.summarize_ns(times_first + times_warm)
    res["mask_first_rep"] = C.summarize_ns(times_first)
    res["mask_warm"] = C.summarize_ns(times_warm)
    res["advance"] = C.summarize_ns(adv_ns)
    res["rejections"] = rejections
    res["eos_missing_at_end"] = eos_missing
    res["_all_ns"] = times_first + times_warm
    res["_warm_ns"] = times_warm
    if eng.name == "constrain":
        res["rows_built_after_run"] = int(compiled.rows_built)
        res["rows_built_lazily"] = res["rows_built_after_run"] - res["rows_built_at_compile"]
        res["memory_bytes_after_run"] = eng.memory_bytes(compiled)
    res["_masks"] = masks
    return res


def compare_masks(ours: dict, peer: dict, vocab_size: int, ignore: set[int], special: set[int],
                  tok) -> dict:
    """Token-level disagreement between our masks and a peer's, over the first repetition.
    ``ignore``: EOS ids and padding ids (engines differ on the EOS set); ``special``: special /
    control tokens (we never allow them except EOS; some peers treat them as text), counted apart."""
    missing, extra, steps = set(), set(), 0
    for key, mo in ours["_masks"].items():
        mp = peer["_masks"].get(key)
        if mp is None:
            continue
        steps += 1
        bo = np.unpackbits(mo.view(np.uint8), bitorder="little")[:vocab_size].astype(bool)
        bp = np.unpackbits(mp.view(np.uint8), bitorder="little")[:vocab_size].astype(bool)
        missing.update(np.flatnonzero(bp & ~bo).tolist())
        extra.update(np.flatnonzero(bo & ~bp).tolist())
    missing -= ignore
    extra -= ignore
    missing_special, extra_special = missing & special, extra & special
    missing -= special
    extra -= special

    def show(ids):
        ids = sorted(ids)[:8]
        return [[i, tok.convert_ids_to_tokens(i)] for i in ids]

    return {"steps_compared": steps, "ours_missing": len(missing), "ours_extra": len(extra),
            "missing_examples": show(missing), "extra_examples": show(extra),
            "ours_missing_special": len(missing_special), "ours_extra_special": len(extra_special),
            "missing_special_examples": show(missing_special)}


# ----------------------------------------------------------------------------- driver
def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vocab", nargs="+", default=["smollm2", "gemma3"])
    ap.add_argument("--regex", nargs="+", default=None, help="names (default: all)")
    ap.add_argument("--engines", nargs="+", default=list(C.ENGINES))
    ap.add_argument("--reps", type=int, default=5, help="fresh matchers per sequence (default 5)")
    ap.add_argument("--compile-reps", type=int, default=2, help="compiles per regex; min reported")
    ap.add_argument("--quick", action="store_true", help="smollm2 only, 3 regexes, 2 reps")
    ap.add_argument("--out", default=str(C.RESULTS / "regex.json"))
    args = ap.parse_args(argv)
    if args.quick:
        args.vocab = ["smollm2"]
        args.regex = args.regex or QUICK_REGEXES
        args.reps = min(args.reps, 2)
        args.compile_reps = 1

    regexes = load_regexes()
    names = args.regex or list(regexes)
    unknown = [n for n in names if n not in regexes]
    if unknown:
        raise SystemExit(f"unknown regex names {unknown}; known: {list(regexes)}")
    if "constrain" not in args.engines:
        args.engines.insert(0, "constrain")

    out = {"meta": {"python": platform.python_version(), "machine": platform.machine(),
                    "argv": sys.argv[1:], "reps": args.reps, "compile_reps": args.compile_reps,
                    "regexes": {n: regexes[n] for n in names}, "examples": {n: EXAMPLES[n] for n in names}},
           "cold_start": {}, "vocabs": {}}
    text_out: list[str] = []

    def say(s=""):
        print(s, flush=True)
        text_out.append(s)

    first_vocab = True
    for vname in args.vocab:
        with C.Timer() as t:
            tok = C.load_tokenizer(vname)
        vocab_size = len(tok)
        say(f"\n=== vocabulary {vname}: {vocab_size} tokens (tokenizer load {t.ms:.0f} ms) ===")
        C.torch_single_thread()
        vres = {"vocab_size": vocab_size, "tokenizer_load_ms": t.ms, "setup_ms": {}, "versions": {},
                "regexes": {}}
        engines = {}
        for ename in args.engines:
            cls = C.ENGINES[ename]
            gc.collect()
            rss0 = C.rss_bytes()
            with C.Timer() as t:
                eng = cls(tok, vocab_size)
            if ename == "constrain" and first_vocab:
                # cold start: first vocabulary set-up and first compile + mask in this process
                pattern0 = regexes[names[0]]
                with C.Timer() as tc:
                    c0 = eng.compile(pattern0)
                    m0 = eng.matcher(c0)
                    m0.fill(eng.alloc())
                from constrain.native import dfa_index
                with C.Timer() as tw:
                    dfa_index.warm_up()
                with C.Timer() as tc2:
                    c0 = eng.compile(pattern0)
                    eng.matcher(c0).fill(eng.alloc())
                out["cold_start"] = {"vocab": vname, "regex": names[0],
                                     "vocab_setup_ms_cold": t.ms,
                                     "first_compile_plus_mask_ms_cold": tc.ms,
                                     "warm_up_ms_after": tw.ms,
                                     "same_compile_plus_mask_ms_warm": tc2.ms}
                del c0, m0
                gc.collect()
                rss0 = C.rss_bytes()
                with C.Timer() as t:  # warm set-up figure for the tables
                    eng = cls(tok, vocab_size)
            vres["setup_ms"][ename] = t.ms
            vres.setdefault("setup_rss_delta_bytes", {})[ename] = C.rss_bytes() - rss0
            vres["versions"][ename] = eng.version
            engines[ename] = eng
        if first_vocab and out["cold_start"]:
            cs = out["cold_start"]
            say(f"cold start (constrain, {cs['vocab']}, regex {cs['regex']}): vocabulary set-up "
                f"{cs['vocab_setup_ms_cold']:.0f} ms, first compile+mask {cs['first_compile_plus_mask_ms_cold']:.0f} ms "
                f"(warm: {cs['same_compile_plus_mask_ms_warm']:.1f} ms; warm_up() afterwards {cs['warm_up_ms_after']:.1f} ms)")
        first_vocab = False
        say("vocabulary set-up (ms): " + ", ".join(f"{k} {v:.0f}" for k, v in vres["setup_ms"].items()))

        eos_id = int(tok.eos_token_id)
        special = {int(i) for i in getattr(tok, "all_special_ids", []) or []}
        ignore = {int(e) for e in engines["constrain"].vocab.eos_ids.tolist()} | {eos_id}
        ignore |= set(range(vocab_size, 32 * engines["constrain"].words))
        special |= {i for i, b in enumerate(engines["constrain"].vocab.token_bytes) if not b}
        special -= ignore

        rows = []
        all_ns = {e: [] for e in engines}
        warm_ns = {e: [] for e in engines}
        for name in names:
            pattern = regexes[name]
            seqs = [tok.encode(s, add_special_tokens=False) for s in EXAMPLES[name]]
            rres = {"pattern": pattern, "token_ids": seqs, "engines": {}, "mask_diff_vs_ours": {}}
            for ename, eng in engines.items():
                r = run_engine(eng, pattern, seqs, args.reps, args.compile_reps, eos_id, keep_masks=True)
                rres["engines"][ename] = r
            ours = rres["engines"]["constrain"]
            for ename, r in rres["engines"].items():
                if ename != "constrain" and "_masks" in r and "_masks" in ours:
                    rres["mask_diff_vs_ours"][ename] = compare_masks(ours, r, vocab_size, ignore, special, tok)
            for ename, r in rres["engines"].items():
                r.pop("_masks", None)
                all_ns[ename].extend(r.pop("_all_ns", []))
                warm_ns[ename].extend(r.pop("_warm_ns", []))
                notes = []
                if "error" in r:
                    notes.append(r["error"][:60])
                if r.get("rejections"):
                    notes.append(f"REJECTS {len(r['rejections'])}")
                if r.get("eos_missing_at_end"):
                    notes.append(f"EOS missing at end of seq {r['eos_missing_at_end']}")
                d = rres["mask_diff_vs_ours"].get(ename)
                if d and (d["ours_missing"] or d["ours_extra"]):
                    notes.append(f"vs ours: ours-missing {d['ours_missing']}, ours-extra {d['ours_extra']}")
                if d and d["ours_missing_special"]:
                    notes.append(f"peer allows {d['ours_missing_special']} special tokens")
                if ename == "constrain" and "dfa_states" in r:
                    notes.append(f"{r['dfa_states']} states, {r['rows_built_lazily']} rows lazy")
                mem = r.get("memory_bytes_after_run", r.get("memory_bytes_compiled"))
                ma = r.get("mask_all", {})
                rows.append([name, ename, r.get("compile_ms"), r.get("first_mask_ms"),
                             ma.get("p50_us"), ma.get("p99_us"), ma.get("max_us"),
                             r.get("mask_warm", {}).get("p99_us"),
                             None if mem is None else mem / 1024,
                             None if "rss_delta_bytes" not in r else r["rss_delta_bytes"] / 1024,
                             r.get("steps"), "; ".join(notes)])
            vres["regexes"][name] = rres
            print(f"  done {name}", file=sys.stderr, flush=True)

        say(C.table(["regex", "engine", "compile ms", "1st mask ms", "p50 us", "p99 us", "max us",
                     "warm p99", "mem KiB", "RSS d KiB", "steps", "notes"], rows,
                    title=f"\n--- {vname}: per regex (mask figures over all steps, {args.reps} fresh matchers per sequence) ---"))

        # summary
        summ = {}
        for ename in engines:
            rs = [vres["regexes"][n]["engines"][ename] for n in names]
            ok = [r for r in rs if "error" not in r]
            s = C.summarize_ns(all_ns[ename])
            w = C.summarize_ns(warm_ns[ename])
            summ[ename] = {"p50_us": s["p50_us"], "p99_us": s["p99_us"], "max_us": s["max_us"], "steps": s["n"],
                           "warm_p99_us": w["p99_us"], "warm_max_us": w["max_us"],
                           "median_compile_ms": C.median([r["compile_ms"] for r in ok]),
                           "median_first_mask_ms": C.median([r["first_mask_ms"] for r in ok]),
                           "setup_ms": vres["setup_ms"][ename], "errors": len(rs) - len(ok),
                           "rejections": sum(len(r.get("rejections", [])) for r in ok)}
        vres["summary"] = summ
        fields = ["p50_us", "p99_us", "max_us", "warm_p99_us", "median_compile_ms", "median_first_mask_ms", "setup_ms"]
        srows = []
        for ename, s in summ.items():
            srows.append([ename, *[s[f] for f in fields], s["steps"], s["errors"], s["rejections"]])
        ours = summ["constrain"]
        for ename, s in summ.items():
            if ename == "constrain":
                continue
            rat = [C.ratio(ours[f], s[f]) for f in fields]
            srows.append([f"ours/{ename}", *[f"{x:.3g}" if not math.isnan(x) else "-" for x in rat], "", "", ""])
        vres["ratios_ours_over_peer"] = {e: {f: C.ratio(ours[f], summ[e][f]) for f in fields}
                                         for e in summ if e != "constrain"}
        say(C.table(["engine", "p50 us", "p99 us", "max us", "warm p99", "med compile ms", "med 1st mask ms",
                     "vocab set-up ms", "steps", "errors", "rejects"], srows, left=1,
                    title=f"\n--- {vname}: summary over {len(names)} regexes (ratios < 1: constrain is faster) ---"))
        out["vocabs"][vname] = vres
        del engines, tok
        gc.collect()

    out["printed"] = "\n".join(text_out)
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        json.dump(out, f, indent=1, default=lambda o: o.item() if hasattr(o, "item") else str(o))
    print(f"\nraw results: {path}")
    return out


if __name__ == "__main__":
    main()
