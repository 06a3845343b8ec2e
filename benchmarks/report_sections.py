"""One builder per capability for :mod:`benchmarks.report`: ``build(record, plot_dir) -> [markdown
lines]``, reading the suite's raw results (``record["results"]``) and writing one PNG into
``plot_dir`` (skipped when it is None or matplotlib is missing). Ratios are ours / peer."""

from __future__ import annotations

import math
from pathlib import Path

PEERS = ("xgrammar", "llguidance", "outlines-core")
NO_CFG = "outlines-core has no context-free grammar engine (regex and JSON Schema only)"
NO_SAMPLER = ("xgrammar, llguidance and outlines-core compute token masks; none ships a sampler "
              "(AWRS, SMC), so only masked decoding (LCD) could use them: their per-token cost is "
              "their mask time (regex, grammar tables)")

QUALITY_MISSING = (
    "The paper's quality tasks (GSM8K, Last Letter, Shuffle Objects) are **not run: their data is not "
    "available offline**. `../shared/data` has none of them; on the package registry `aviary-gsm8k` "
    "(0.37.0) ships no data (a 6.5 KB wheel that loads GSM8K from the hub at run time), `bigbench` is a "
    "0.0.1 placeholder without BIG-bench's task files (Shuffle Objects is BIG-bench's "
    "`tracking_shuffled_objects`), and no package ships Last Letter.")


# ----------------------------------------------------------------------------- helpers
def num(x, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if isinstance(x, str):
        return x
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return f"{x:,}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.{digits + 1}g}" if abs(x) < 1 else f"{x:.{digits}f}"


def ratio(a, b) -> str:
    try:
        if a is None or b is None or b == 0 or math.isnan(a) or math.isnan(b):
            return "-"
    except TypeError:
        return "-"
    r = a / b
    return f"{r:.2g}" if r < 0.1 else f"{r:.2f}"


def md_table(headers: list[str], rows: list[list]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(num(c) for c in r) + " |" for r in rows]
    return out + [""]


def _plt():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        return plt
    except ImportError:
        return None


def bar_plot(plot_dir: Path | None, fname: str, title: str, panels: list[tuple[str, dict[str, float]]],
             log: bool = True) -> list[str]:
    """One figure of bar panels (panel title, {label: value}); the Markdown image line (relative)."""
    plt = _plt()
    if plot_dir is None or plt is None or not panels:
        return []
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    colors = {"constrain": "#2b6cb0", "xgrammar": "#dd6b20", "llguidance": "#38a169", "outlines-core": "#805ad5"}
    for ax, (ptitle, vals) in zip(axes[0], panels):
        vals = {k: v for k, v in vals.items() if v is not None and not (isinstance(v, float) and math.isnan(v))}
        ks = list(vals)
        ax.bar(range(len(ks)), [vals[k] for k in ks],
               color=[colors.get(k.split(" ")[0], "#718096") for k in ks])
        ax.set_xticks(range(len(ks)), ks, rotation=30, ha="right", fontsize=8)
        ax.set_title(ptitle, fontsize=9)
        if vals and max(vals.values()) <= 1:  # shares: linear, 0..1
            ax.set_ylim(0, 1.05)
        elif log and vals and min(vals.values()) > 0:
            ax.set_yscale("log")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(plot_dir / fname, dpi=90)
    plt.close(fig)
    return [f"![{title}]({fname})", ""]


def _args(rec) -> str:
    """The suite's arguments as a code span, paths inside the checkout relative to its root."""
    root = str(Path(__file__).resolve().parent.parent) + "/"
    argv = " ".join(rec.get("argv", [])).replace(root, "")
    return f"`{argv}`" + (" (quick run)" if rec.get("quick") else "")


# ----------------------------------------------------------------------------- regex
def regex(rec, plot_dir):
    res = rec["results"]
    lines = []
    for vname, v in res["vocabs"].items():
        s = v["summary"]
        engines = [e for e in ("constrain", *PEERS) if e in s]
        fields = [("p50_us", "mask p50 µs"), ("p99_us", "mask p99 µs"), ("warm_p99_us", "warm p99 µs"),
                  ("median_compile_ms", "compile ms (median)"), ("median_first_mask_ms", "compile + 1st mask ms"),
                  ("setup_ms", "vocab set-up ms")]
        rows = [[e, *[s[e][f] for f, _ in fields], s[e]["errors"], s[e]["rejections"]] for e in engines]
        rows += [[f"ours / {e}", *[ratio(s["constrain"][f], s[e][f]) for f, _ in fields], "", ""]
                 for e in engines if e != "constrain"]
        lines += [f"Vocabulary **{vname}** ({v['vocab_size']:,} tokens), {len(v['regexes'])} regexes "
                  f"({', '.join(v['regexes'])}), {res['meta']['reps']} fresh matchers per token sequence, "
                  f"3 sequences per regex; run {_args(rec)}. Mask p50/p99 are over every step of every "
                  "repetition (first pass included: our lazily built rows, llguidance's lazy lexer states); "
                  "warm p99 excludes the first repetition.", ""]
        lines += md_table(["engine", *[h for _, h in fields], "errors", "rejected valid tokens"], rows)
        notes = []
        for rname, rr in v["regexes"].items():
            for e, x in (rr.get("engines") or {}).items():
                if "error" in x:
                    notes.append(f"{e} cannot compile `{rname}`: `{x['error'][:120]}`")
                elif x.get("rejections"):
                    notes.append(f"{e} refused {len(x['rejections'])} valid token(s) of `{rname}`")
        if notes:
            lines += ["Peer failures on these inputs: " + "; ".join(notes) + ".", ""]
        lines += bar_plot(plot_dir, f"regex_{vname}.png", f"Regex masks, {vname}",
                          [("mask p50 µs", {e: s[e]["p50_us"] for e in engines}),
                           ("mask p99 µs", {e: s[e]["p99_us"] for e in engines}),
                           ("compile + 1st mask ms", {e: s[e]["median_first_mask_ms"] for e in engines})])
    cs = res.get("cold_start") or {}
    if cs:
        lines += [f"First pass in a fresh process (constrain, {cs['vocab']}, regex `{cs['regex']}`): vocabulary "
                  f"set-up {num(cs['vocab_setup_ms_cold'])} ms, first compile + mask "
                  f"{num(cs['first_compile_plus_mask_ms_cold'])} ms (numba kernels loaded from the on-disk "
                  f"cache); the same compile warm: {num(cs['same_compile_plus_mask_ms_warm'])} ms.", ""]
    return lines


# ----------------------------------------------------------------------------- JSON Schema
def jsonschemabench(rec, plot_dir):
    res = rec["results"]
    s = res["summary"]
    engines = [e for e in res["engines"] if e in s]
    a = res["args"]
    n_subsets = len(res["jsonschemabench"])
    lines = [f"JSONSchemaBench ({n_subsets} subsets, the first {a['limit']} schemas of each; greedy generation "
             f"with {res['model']} on the first {a['gen_limit']} schemas of each subset that constrain compiles, "
             f"prompt = the schema text, at most {a['max_tokens']} tokens), run {_args(rec)}. Declared coverage: "
             "the schema compiles (constrain strict: it refuses what it cannot enforce exactly); compliance: "
             "outputs that end and validate with `jsonschema` (format checker on) / outputs generated (schemas the "
             "engine compiled); empirical coverage: valid outputs / schemas of the generation sample (a schema the "
             "engine cannot compile scores 0); "
             "GCT = compile + first mask (first pass, fresh compile per schema); TTFT includes the compile "
             "and the prompt's prefill; TPOT is per token after the first (model forward + mask + argmax; the mask "
             "is applied to the logits with the same numpy code for every engine).", ""]
    rows = []
    for e in [*engines, "unconstrained"]:
        d = s[e]
        sample = sum(st["unconstrained"]["generated"] for st in res["jsonschemabench"].values())
        emp = f"{d['valid']}/{sample}" if sample else "-"
        fin = sum((st["unconstrained"] if e == "unconstrained" else st["engines"][e])["finished"]
                  for st in res["jsonschemabench"].values())
        rows.append([e, f"{d.get('compiled', '-')}/{d['schemas']}" if e != "unconstrained" else "-",
                     f"{d['valid']}/{d['generated']}", emp, f"{fin}/{d['generated']}",
                     d.get("compile_ms_p50"), d["ttft_ms_p50"], d["tpot_ms_p50"],
                     ratio(s["constrain"].get("compile_ms_p50"), d.get("compile_ms_p50")),
                     ratio(s["constrain"]["tpot_ms_p50"], d["tpot_ms_p50"])])
    lines += md_table(["engine", "declared coverage", "compliance (valid / generated)",
                       "empirical coverage (valid / sample)", "ended (EOS) within the token limit", "GCT p50 ms",
                       "TTFT p50 ms", "TPOT p50 ms", "GCT ours/this", "TPOT ours/this"], rows)
    sub_rows = []
    for subset, st in res["jsonschemabench"].items():
        sub_rows.append([subset, st["n"], *[f"{st['engines'][e]['compiled']} / {st['engines'][e]['valid']}"
                                            f"/{st['engines'][e]['generated']}" for e in engines],
                         f"{st['unconstrained']['valid']}/{st['unconstrained']['generated']}"])
    lines += ["Per subset: compiled / valid / generated.", ""]
    lines += md_table(["subset", "schemas", *engines, "unconstrained valid"], sub_rows)
    mb = res.get("maskbench") or {}
    if mb:
        n_cases = next(iter(mb.values()))["cases"]
        lines += [f"MaskBench's figures on {n_cases} JSON-Schema-Test-Suite cases (draft2020-12, spread over its "
                  "files) and their valid / invalid instances (compact `json.dumps`, `tok.encode`): time to first "
                  "mask (compile + first mask, first pass), time between masks (one mask fill + one advance, all "
                  "tokens of all instances), valid instances refused, invalid instances accepted (a schema that "
                  "does not compile counts for neither). MaskBench's own JSONSchemaBench instances are not "
                  "available offline (no licence upstream), hence the test suite. Our refused valid instances "
                  "are objects whose keys come in another order than `properties` (e.g. `const` "
                  "`{\"foo\": \"bar\", \"baz\": \"bax\"}` given as `{\"baz\":\"bax\",\"foo\":\"bar\"}`): "
                  "`JsonSchema` produces keys in declaration order by default, by design "
                  "(`any_order=True` lifts it for declared keys; const/enum objects keep their own order).", ""]
        mrows = []
        for e, r in mb.items():
            fm = sorted(r["first_mask_s"])
            p50 = fm[len(fm) // 2] * 1e3 if fm else None
            mrows.append([e, f"{r['compiled']}/{r['cases']}", p50, r["between_us"]["p50_us"], r["between_us"]["p99_us"],
                          f"{r['valid_refused']}/{r['valid']}", f"{r['invalid_accepted']}/{r['invalid']}",
                          ratio(mb["constrain"]["between_us"]["p50_us"], r["between_us"]["p50_us"])])
        lines += md_table(["engine", "compiled", "1st mask p50 ms", "between masks p50 µs", "between p99 µs",
                           "valid refused", "invalid accepted", "between p50 ours/this"], mrows)
        refs = {e: sorted(r["refusals"].items(), key=lambda kv: -kv[1])[:2] for e, r in mb.items() if r["refusals"]}
        if refs:
            lines += ["Why cases did not compile (most frequent): " + "; ".join(
                f"{e}: " + ", ".join(f"`{k}` ×{v}" for k, v in kv) for e, kv in refs.items()), ""]
    lines += [QUALITY_MISSING, ""]
    lines += bar_plot(plot_dir, "json_schema.png", "JSON Schema",
                      [("declared coverage", {e: s[e]["declared_coverage"] for e in engines}),
                       ("GCT p50 ms", {e: s[e]["compile_ms_p50"] for e in engines}),
                       ("MaskBench between masks p50 µs", {e: mb[e]["between_us"]["p50_us"] for e in mb})])
    return lines


def json_schema(rec, plot_dir):
    rows_in = rec["results"] or []
    peers = list(rows_in[0]["peer"]) if rows_in else []
    lines = [f"Schema engine benchmark (`benchmarks/bench_jsonschema.py`), run {_args(rec)}: compile "
             "(+ first mask) per schema, and per-token masks along random walks of our matcher (replayed to "
             "the peers); walks validated with `jsonschema`. outlines-core is not in this script (see the "
             "MaskBench table above for it).", ""]

    def p50(v):
        v = sorted(v)
        return v[len(v) // 2] if v else None
    rows = []
    for st in rows_in:
        n = max(st["n"], 1)
        row = [st["subset"], st["n"], f"{100 * st['ok'] / n:.0f}%", p50(st["comp_ms"]),
               None if not st["mask_ns"] else p50(st["mask_ns"]) / 1e3]
        for p in peers:
            ps = st["peer"][p]
            pm = p50(ps["mask_ns"])
            row += [f"{100 * ps['ok'] / n:.0f}%", p50(ps["comp_ms"]), None if pm is None else pm / 1e3,
                    ratio(p50(st["comp_ms"]), p50(ps["comp_ms"])),
                    ratio(p50(st["mask_ns"]), pm)]
        row.append(f"{st['valid']}/{st['walks']}")
        rows.append(row)
    hdr = ["subset", "n", "ours compiled", "ours compile p50 ms", "ours mask p50 µs"]
    for p in peers:
        hdr += [f"{p} compiled", f"{p} compile ms", f"{p} mask µs", f"compile ours/{p}", f"mask ours/{p}"]
    lines += md_table(hdr + ["walks valid"], rows)
    return lines


# ----------------------------------------------------------------------------- grammars
def grammar(rec, plot_dir):
    runs = rec["results"]["runs"]
    lines = [f"Shipped `json.lark` (any JSON value; xgrammar: its builtin JSON grammar), `sqlite.lark` "
             "(xgrammar: an EBNF translation of our IR) and `sql-syncode`, syncode's SELECT grammar, written "
             "outside this project and never tuned for (llguidance: rule priorities removed; xgrammar: the EBNF "
             "translation); token sequences of JSON-Schema-Test-Suite instances and "
             f"Spider gold queries, run {_args(rec)}. *Feed* is feeding one accepted token (ours: `allows` + "
             "`advance`; llguidance: `consume_token`; xgrammar: `accept_token`), pass 1. *Compile* is the first of two "
             "compiles in the process (JSON is the first grammar each engine compiles, so it carries one-time "
             "costs); *2nd compile* the same grammar again. *Pass 1* is the first pass over the sequences (first "
             "visits, our mask cache empty); *all* includes the repeated passes (warm). "
             f"{NO_CFG}: no column for it. xgrammar's SQL figures are on our mechanical EBNF translation of "
             "`sqlite.lark` (the ignored whitespace terminal before every lexeme), not on a grammar written for "
             "xgrammar; its slow masks there say more about that translation than about xgrammar on SQL.", ""]
    rows, panels = [], {}
    for g in sorted({r["grammar"] for r in runs}):
        rs = {r["engine"]: r for r in runs if r["grammar"] == g}
        ours = rs.get("constrain", {})
        for e, r in rs.items():
            if "error" in r:
                rows.append([g, e, f"error: {r['error'][:80]}"] + [""] * 12)
                continue
            fd = r.get("feed", {})
            rows.append([g, e, r["n_seqs"], r["compile_ms"], r.get("compile_ms_second"), r["first_mask_ms"], r["mask_first_pass"]["p50_us"],
                         r["mask_first_pass"]["p99_us"], r["mask"]["p50_us"],
                         ratio(ours.get("mask_first_pass", {}).get("p50_us"), r["mask_first_pass"]["p50_us"]),
                         ratio(ours.get("mask", {}).get("p50_us"), r["mask"]["p50_us"]),
                         fd.get("p50_us"), fd.get("p99_us"), ratio(ours.get("feed", {}).get("p50_us"), fd.get("p50_us")),
                         f"{r['rejects']} / {r['eos_missing']}"])
            panels.setdefault(f"{g}: pass-1 mask p50 µs", {})[e] = r["mask_first_pass"]["p50_us"]
            panels.setdefault(f"{g}: compile + 1st mask ms", {})[e] = r["first_mask_ms"]
    lines += md_table(["grammar", "engine", "sequences", "compile ms", "2nd compile ms", "compile + 1st mask ms",
                       "pass-1 p50 µs",
                       "pass-1 p99 µs", "all p50 µs", "pass-1 p50 ours/this", "all p50 ours/this",
                       "feed p50 µs", "feed p99 µs", "feed p50 ours/this", "rejected / EOS missing"], rows)
    lines += bar_plot(plot_dir, "grammar.png", "Grammars", list(panels.items()))
    return lines


# ----------------------------------------------------------------------------- sampling / spider
def sampling(rec, plot_dir):
    recs = rec["results"].get("speed") or []
    lines = [f"SmolLM2-135M-Instruct on CPU, run {_args(rec)}. Per emitted token: constraint checks "
             "(LCD: one full mask = V checks), time inside the matcher, wall time. Peers: " + NO_SAMPLER + ".", ""]
    rows, panel = [], {}
    lcd = {}
    for r in recs:
        if r["method"] == "LCD":
            lcd[r["constraint"]] = r["check_us_per_token"]
    for r in recs:
        tok = max(r.get("tokens", 0), 1)
        rows.append([r["constraint"], r["method"], r["checks_per_token"], r["check_us_per_token"],
                     ratio(r["check_us_per_token"], lcd.get(r["constraint"])),
                     r.get("wall_time_s", math.nan) / tok * 1e3, "n/a", "n/a", "n/a"])
        panel.setdefault(r["method"], []).append(r["check_us_per_token"])
    lines += md_table(["constraint", "method", "checks / token", "matcher µs / token", "this / LCD",
                       "wall ms / token", "xgrammar", "llguidance", "outlines-core"], rows)
    means = {m: sum(v) / len(v) for m, v in panel.items()}
    lines += bar_plot(plot_dir, "sampling.png", "Samplers: matcher time per token (mean over constraints)",
                      [("matcher µs / token", means)])
    return lines


def spider(rec, plot_dir):
    res = rec["results"]
    if "methods" in res:  # bench_spider.py
        summ, n, tests = res["methods"], res["n"], res.get("paired_tests") or []
    else:  # the spider part of bench_sampling.py
        sp = res.get("spider") or {}
        summ, n, tests = sp.get("summary") or [], sp.get("questions", 0), []
    lines = [f"Spider dev execution accuracy, {n} questions, run {_args(rec)}. Peers: " + NO_SAMPLER + ".", ""]
    if "methods" in res:
        lines += [f"Every method draws K={res.get('k')} outputs (or particles) with one batched forward per step "
                  f"(equal model calls), {res.get('model')}, at most {res.get('max_tokens')} tokens, "
                  f"T={res.get('temperature')}; the answer is the execution result of highest total weight."]
        if n < 400 or len(summ) < 5:
            lines += [f"**Not the full study yet**: {n} of the 400 questions asked for, "
                      f"{len({s['key'].removesuffix(' x1') for s in summ if 'key' in s})} of the five methods "
                      "(unconstrained, LCD with sqlite.lark, LCD and AWRS with the per-database grammar, "
                      "AWRS-SMC), one model. The records (`docs/benchmarks/data/`) are resumable: "
                      "`python -m benchmarks spider` runs the missing questions, `--methods unconstrained "
                      "lcd-sqlite lcd awrs smc` the missing methods, `--model gemma3` the second model "
                      "(about 25-90 s per question and method pair on this machine: a night)."]
        lines += [""]
    rows = [[s["method"], s["n"], s["parse"], s["execute"], s["match"],
             f"{100 * s['match'] / max(s['n'], 1):.0f}%",
             "-" if not s.get("ci95") else f"{100 * s['ci95'][0]:.0f}-{100 * s['ci95'][1]:.0f}%"] for s in summ]
    lines += md_table(["method", "questions", "parse", "execute", "match", "exec acc", "95% CI (Wilson)"], rows)
    for t in tests:
        lines += [f"* Paired against `{t['reference']}`: `{t['method']}` right where it is wrong on "
                  f"{t['only_method']} questions, the reverse on {t['only_reference']}; exact McNemar p = {t['p']:.3g}."]
    lines += [""] if tests else []  # the list ends
    lines += bar_plot(plot_dir, "spider.png", "Spider execution accuracy",
                      [("exec acc", {s["method"]: s["match"] / max(s["n"], 1) for s in summ})], log=False)
    return lines


# ----------------------------------------------------------------------------- items / infill / serving
def items(rec, plot_dir):
    results = rec["results"]["results"]
    lines = [f"Beam search over item sets (STATIC's setting: batch 2 × 70 beams, 8-token items over a 2,048-token "
             f"vocabulary), run {_args(rec)}. No peer has an item-set constraint (xgrammar, llguidance and "
             "outlines-core compile text grammars, not sets of token sequences), so the baselines are STATIC's: "
             "a Python dict trie and a binary search over sorted items. p50 / p99 µs per decode step; cold-ish = "
             "first call after other work, warm = the same call repeated.", ""]
    rows, panel = [], {}
    for r in results:
        for kind in ("cold", "warm"):
            p = r[kind]["p50_p99_us"]
            fused, dict_beam = p.get("fused"), p.get("dict_beam")
            bs = p.get("bsearch") or r["cold"]["p50_p99_us"].get("bsearch")
            rows.append([f"{r['items']:.0e}", kind, r["build_s"],
                         None if not fused else fused[0], None if not dict_beam else dict_beam[0],
                         None if not bs else bs[0],
                         ratio(fused and fused[0], dict_beam and dict_beam[0]),
                         ratio(p.get("step", [None])[0], bs and bs[0]),
                         "n/a", "n/a", "n/a"])
        p = r["cold"]["p50_p99_us"]
        panel = {k: v[0] for k, v in p.items()}
    lines += md_table(["items", "caches", "build s", "fused beam step p50", "dict beam step p50", "bsearch p50",
                       "fused / dict", "csr step / bsearch", "xgrammar", "llguidance", "outlines-core"], rows)
    lines += bar_plot(plot_dir, "items.png", f"Items: per-step p50 µs, cold-ish, {results[-1]['items']:.0e} items",
                      [("p50 µs", panel)])
    return lines


def infill(rec, plot_dir):
    res = rec["results"]
    d = res["diffusion"]
    lines = [f"Completability checks of partial outputs with holes (JSON and C grammars) and a tiny constrained "
             f"masked-diffusion model, run {_args(rec)}. No peer checks whether a partial output with holes can "
             "be completed (xgrammar, llguidance and outlines-core constrain left-to-right generation only): "
             "no peer columns.", ""]
    longest = max((c["bytes_per_piece"] for c in res["checks"]), default=0)
    lines += [f"Rows with {longest}-byte pieces (the other piece lengths are in the results file).", ""]
    rows = [[c["grammar"], c["pieces"], c["bytes_per_piece"], c["kind"], c["p50_ms"], c["p90_ms"], c["max_ms"],
             f"{100 * c['completable']:.0f}%"] for c in res["checks"] if c["bytes_per_piece"] == longest]
    lines += md_table(["grammar", "pieces", "bytes / piece", "kind", "p50 ms", "p90 ms", "max ms", "completable"], rows)
    lines += [f"Diffusion ({d['train_steps']} training steps): valid unconstrained "
              f"{100 * d['unconstrained']['valid']:.0f}%, constrained {100 * d['constrained']['valid']:.0f}%; "
              f"time constrained / unconstrained {res['constrained_over_unconstrained_time']:.2f}.", ""]
    panel = {}
    for c in res["checks"]:
        if c["kind"] == "pos":
            panel[f"{c['grammar'][:6]} k={c['pieces']} L={c['bytes_per_piece']}"] = c["p50_ms"]
    lines += bar_plot(plot_dir, "infill.png", "Infilling: completability check p50 ms (completable inputs)",
                      [("p50 ms", panel)])
    return lines


def serving(rec, plot_dir):
    res = rec["results"]
    c = res.get("cache") or {}
    lines = [f"A compiled JSON Schema (SmolLM2 vocabulary), run {_args(rec)}: first compile, `pickle.loads` of the "
             "compiled object, and a serving process's spec compile with the on-disk cache missing / hitting "
             "(a fresh process each). Peers: not measured here (xgrammar's compiler cache is in memory; the "
             "vLLM comparison against vLLM's xgrammar backend is `python -m benchmarks serving --vllm`).", ""]
    if c:
        rows = [["first compile", c["compile_s"] * 1e3, 1.0],
                ["pickle.loads", c["pickle_load_s"] * 1e3, ratio(c["pickle_load_s"], c["compile_s"])],
                ["process, disk miss", c["disk_miss"]["seconds"] * 1e3, 1.0],
                ["process, disk hit", c["disk_hit"]["seconds"] * 1e3,
                 ratio(c["disk_hit"]["seconds"], c["disk_miss"]["seconds"])]]
        lines += md_table(["what", "ms", "ratio"], rows)
        lines += bar_plot(plot_dir, "serving.png", "Serving: compiled-constraint caches (ms)",
                          [("ms", {r[0]: r[1] for r in rows})])
    for r in res.get("vllm") or []:
        lines += [f"vLLM batch {r['batch']}: constrain {r['constrain']['tokens'] / r['constrain']['seconds']:.0f} tok/s "
                  f"(twins {r['constrain']['tokens'] / r['constrain']['twins_seconds']:.0f}), vLLM xgrammar "
                  f"{r['xgrammar']['tokens'] / r['xgrammar']['seconds']:.0f} tok/s "
                  f"(twins {r['xgrammar']['tokens'] / r['xgrammar']['twins_seconds']:.0f}).", ""]
    return lines
