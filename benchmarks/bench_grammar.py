"""Grammar constraints: constrain vs llguidance and xgrammar, side by side, same process.

    python benchmarks/bench_grammar.py [--vocab smollm2 [gemma3]] [--n 20] [--reps 2] [--quick]

Grammars: the shipped ``grammars/json.lark`` (any JSON value) and ``grammars/sqlite.lark``, and
``sql-syncode``: syncode's SELECT grammar (``../shared/data/grammars/lark/syncode/sql_grammar.lark``,
written outside this project and never tuned for; llguidance gets it with rule priorities removed,
which do not change the language, since it refuses them). Our engine and llguidance get the Lark text; xgrammar gets its builtin JSON grammar for JSON, and for
SQL an EBNF translation of our IR (`cfg_to_xgrammar_ebnf`: every terminal regex becomes EBNF,
ignored terminals are inserted before every lexeme, which is the same all-splits language).
Token sequences: JSON instances of the JSON-Schema test suite (draft2020-12, ``json.dumps``) and
Spider dev gold queries (the ones our grammar accepts), tokenized with ``tok.encode``; every engine
steps through exactly the same ids: fill the mask, check the next token is in it, advance.
Our ``allows`` is timed on the next token before the mask (so no mask cache helps), llguidance's
cheap check is ``validate_tokens([t])``. Masks are summarised twice: over the first pass through
the sequences (``pass-1``: our per-compiled-grammar mask cache starts empty, so misses show), and
over all ``--reps`` passes (later passes repeat the same prefixes, which our cache serves; a
serving loop that sees similar outputs gets some of that). Feeding one accepted token is timed
on pass 1 (ours: ``allows`` + ``advance``, what AWRS pays per step; llguidance: ``consume_token``;
xgrammar: ``accept_token``). Results: benchmarks/results/grammar.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import re
import sys
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

C.single_thread()

import numpy as np  # noqa: E402

try:  # Python >= 3.11
    from re import _constants as _RC, _parser as _sre  # noqa: E402
except ImportError:  # pragma: no cover
    import sre_constants as _RC  # type: ignore  # noqa: E402
    import sre_parse as _sre  # type: ignore  # noqa: E402


# ----------------------------------------------------------------------------- IR -> xgrammar EBNF
def _ch(c: int) -> str:
    return f"\\U{c:08x}" if c > 0xFFFF else f"\\u{c:04x}"


def _cls(items: list[tuple[int, int]], negate: bool) -> str:
    return "[" + ("^" if negate else "") + "".join(
        _ch(a) if a == b else f"{_ch(a)}-{_ch(b)}" for a, b in items) + "]"


_CATS = {
    _RC.CATEGORY_DIGIT: ([(48, 57)], False), _RC.CATEGORY_NOT_DIGIT: ([(48, 57)], True),
    _RC.CATEGORY_SPACE: ([(9, 13), (32, 32)], False), _RC.CATEGORY_NOT_SPACE: ([(9, 13), (32, 32)], True),
    _RC.CATEGORY_WORD: ([(48, 57), (65, 90), (95, 95), (97, 122)], False),
    _RC.CATEGORY_NOT_WORD: ([(48, 57), (65, 90), (95, 95), (97, 122)], True),
}


def _case_pairs(a: int, b: int) -> list[tuple[int, int]]:
    out = [(a, b)]
    lo, hi = max(a, 65), min(b, 90)
    if lo <= hi:
        out.append((lo + 32, hi + 32))
    lo, hi = max(a, 97), min(b, 122)
    if lo <= hi:
        out.append((lo - 32, hi - 32))
    return out


def _regex_to_ebnf(pattern: str, flags: int) -> str:
    icase = bool(flags & re.IGNORECASE)

    def lit(c: int) -> str:
        if icase and chr(c).lower() != chr(c).upper() and c < 128:
            return _cls([(ord(chr(c).lower()),) * 2, (ord(chr(c).upper()),) * 2], False)
        return _cls([(c, c)], False)

    def seq(p) -> str:
        parts = [item(op, av) for op, av in p]
        return "(" + " ".join(parts) + ")" if parts else '""'

    def item(op, av) -> str:
        if op is _RC.LITERAL:
            return lit(av)
        if op is _RC.NOT_LITERAL:
            return _cls([(av, av)], True)
        if op is _RC.ANY:
            return _cls([(10, 10)], True) if not flags & re.DOTALL else "[\\u0000-\\U0010ffff]"
        if op is _RC.IN:
            neg = False
            rng: list[tuple[int, int]] = []
            for o, a in av:
                if o is _RC.NEGATE:
                    neg = True
                elif o is _RC.LITERAL:
                    rng += _case_pairs(a, a) if icase else [(a, a)]
                elif o is _RC.RANGE:
                    rng += _case_pairs(*a) if icase else [a]
                elif o is _RC.CATEGORY:
                    r, n = _CATS[a]
                    if n:
                        raise NotImplementedError("negated category inside a class")
                    rng += r
                else:
                    raise NotImplementedError(str(o))
            return _cls(rng, neg)
        if op is _RC.CATEGORY:
            r, n = _CATS[av]
            return _cls(r, n)
        if op is _RC.BRANCH:
            return "(" + " | ".join(seq(b) for b in av[1]) + ")"
        if op is _RC.SUBPATTERN:
            return seq(av[-1])
        if op in (_RC.MAX_REPEAT, _RC.MIN_REPEAT, getattr(_RC, "POSSESSIVE_REPEAT", None)):
            lo, hi, sub = av
            x = seq(sub)
            if hi is _RC.MAXREPEAT:
                return "(" + " ".join([x] * lo + [x + "*"]) + ")"
            opt = ""
            for _ in range(hi - lo):
                opt = f"({x} {opt})?" if opt else f"({x})?"
            return "(" + " ".join([x] * lo + ([opt] if opt else [])) + ")" if lo or opt else '""'
        raise NotImplementedError(str(op))

    return seq(_sre.parse(pattern, flags & ~re.IGNORECASE))


def cfg_to_xgrammar_ebnf(cfg) -> str:
    """xgrammar EBNF (GBNF dialect, root rule ``root``) for a `CFG` with the same language."""
    def nm(s: str) -> str:
        return "r_" + re.sub(r"[^A-Za-z0-9]", lambda m: f"-{ord(m.group()):x}-", s)

    ign = " ".join([])
    lines = []
    has_ign = bool(cfg.ignore)
    if has_ign:
        lines.append("ign ::= (" + " | ".join(nm("T_" + t) for t in cfg.ignore) + ")*")
    lines.append(f"root ::= {nm(cfg.start)}" + (" ign" if has_ign else ""))
    by: dict[str, list[str]] = {}
    for r in cfg.rules:
        syms = []
        for s in r.rhs:
            if s in cfg.terminals:
                syms.append(("ign " if has_ign else "") + nm("T_" + s))
            else:
                syms.append(nm(s))
        by.setdefault(r.lhs, []).append(" ".join(syms) if syms else '""')
    for a, alts in by.items():
        lines.append(f"{nm(a)} ::= " + " | ".join(f"({x})" for x in alts))
    used = {s for r in cfg.rules for s in r.rhs if s in cfg.terminals} | set(cfg.ignore)
    for t in sorted(used):
        term = cfg.terminals[t]
        lines.append(f"{nm('T_' + t)} ::= {_regex_to_ebnf(term.pattern, term.flags)}")
    del ign
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- inputs
SYNCODE_SQL = C.SHARED / "data/grammars/lark/syncode/sql_grammar.lark"
GRAMMARS = {"json": "shipped json.lark", "sql": "shipped sqlite.lark", "sql-syncode": "syncode's SELECT grammar"}


def _without_priorities(text: str) -> str:
    """Lark text without rule/terminal priorities (``name.2:``); llguidance refuses them and they
    do not change the language."""
    return re.sub(r"^(\??[A-Za-z_][A-Za-z_0-9]*)\.-?\d+", r"\1", text, flags=re.M)


def json_docs(n: int) -> list[str]:
    base = C.SHARED / "data/json-schema-test-suite/tests/draft2020-12"
    out, seen = [], set()
    for p in sorted(base.glob("*.json")):
        for case in json.load(open(p)):
            for t in case.get("tests", []):
                d = t.get("data")
                s = json.dumps(d, ensure_ascii=False)
                if len(s) >= 40 and s not in seen and isinstance(d, (dict, list)):
                    seen.add(s)
                    out.append(s)
    out.sort(key=lambda s: zlib.crc32(s.encode()))  # stable across processes (str hash is salted)
    return out[:n]


def spider_queries(n: int, accepts) -> tuple[list[str], int]:
    out, refused = [], 0
    with open(C.SHARED / "data/spider/dev.jsonl") as f:
        for line in f:
            q = json.loads(line)["query"]
            if q in out:
                continue
            if accepts(q):
                out.append(q)
            else:
                refused += 1
            if len(out) >= n:
                break
    return out, refused


# ----------------------------------------------------------------------------- engines
class Ours:
    name = "constrain"

    def __init__(self, tok, vocab_size):
        import constrain as cn
        from constrain.grammar.api import Grammar
        self._G = Grammar
        self.vocab = cn.Vocabulary.from_hf(tok, size=vocab_size)
        self.vocab.trie  # noqa: B018

    def compile(self, text, kind):
        g = self._G(text, allow_unreachable=kind == "sql-syncode")  # it declares rules it never uses
        return g.compile(self.vocab, cache=False)

    def matcher(self, c):
        return c.matcher()

    def memory(self, c):
        return c.memory_bytes()


class Llg:
    name = "llguidance"

    def __init__(self, tok, vocab_size):
        import llguidance
        import llguidance.hf
        self._llg = llguidance
        self.t = llguidance.hf.from_tokenizer(tok, n_vocab=vocab_size)

    def compile(self, text, kind):
        M = self._llg.LLMatcher
        m = M(self.t, M.grammar_from_lark(text), log_level=0)
        if m.is_error():
            raise RuntimeError(m.get_error())
        return m

    def matcher(self, c):
        return c.deep_copy()

    def memory(self, c):
        return None


class Xgr:
    name = "xgrammar"

    def __init__(self, tok, vocab_size):
        import xgrammar as xgr
        self._xgr = xgr
        info = xgr.TokenizerInfo.from_huggingface(tok, vocab_size=vocab_size)
        self.compiler = xgr.GrammarCompiler(info, max_threads=1, cache_enabled=False)

    def compile(self, text, kind):
        if kind == "json":
            return self.compiler.compile_builtin_json_grammar()
        return self.compiler.compile_grammar(text)

    def matcher(self, c):
        return self._xgr.GrammarMatcher(c)

    def memory(self, c):
        try:
            return int(c.memory_size_bytes)
        except Exception:
            return None


def run(eng, spec, kind, seqs, reps, words, eos) -> dict:
    import torch
    res: dict = {"engine": eng.name}
    buf = np.zeros((1, words), dtype=np.int32)
    tbuf = torch.from_numpy(buf)
    comp, first = [], []
    c = None
    for _ in range(2):
        gc.collect()
        t0 = time.perf_counter_ns()
        try:
            c = eng.compile(spec, kind)
        except Exception as e:
            res["error"] = f"{type(e).__name__}: {e}"[:300]
            return res
        t1 = time.perf_counter_ns()
        m = eng.matcher(c)
        _fill(eng, m, buf, tbuf)
        t2 = time.perf_counter_ns()
        comp.append((t1 - t0) / 1e6)
        first.append((t2 - t0) / 1e6)
    res["compile_ms"] = comp[0]  # first pass: in-process caches (ours, peers') start empty
    res["first_mask_ms"] = first[0]
    res["compile_ms_second"] = comp[1]
    masks, first_pass, allows, rejects, eos_missing = [], [], [], 0, 0
    feeds = []  # pass 1: feeding one accepted token (ours: allows + advance; peers: consume/accept)
    perf = time.perf_counter_ns
    for rep in range(reps):
        for seq in seqs:
            m = eng.matcher(c)
            for k in range(len(seq) + 1):
                if k < len(seq) and eng.name != "xgrammar":
                    t = seq[k]
                    if eng.name == "constrain":
                        t0 = perf(); m.allows(t); allows.append(perf() - t0)
                    else:
                        t0 = perf(); m.validate_tokens([t]); allows.append(perf() - t0)
                t0 = perf()
                _fill(eng, m, buf, tbuf)
                masks.append(perf() - t0)
                if rep == 0:
                    first_pass.append(masks[-1])
                if k == len(seq):
                    if not C.has_bit(buf, eos):
                        eos_missing += rep == 0
                    break
                t = seq[k]
                if not C.has_bit(buf, t):
                    rejects += rep == 0
                    break
                t0 = perf()
                ok = _advance(eng, m, t)
                if rep == 0:
                    feeds.append(perf() - t0 + (allows[-1] if eng.name == "constrain" else 0))
                if not ok:
                    rejects += rep == 0
                    break
    res["mask"] = C.summarize_ns(masks)
    res["mask_first_pass"] = C.summarize_ns(first_pass)
    res["allows"] = C.summarize_ns(allows)
    res["feed"] = C.summarize_ns(feeds)
    res["rejects"] = rejects
    res["eos_missing"] = eos_missing
    res["memory_bytes"] = eng.memory(c)
    return res


def _fill(eng, m, buf, tbuf):
    if eng.name == "constrain":
        m.fill_mask(buf, 0)
    elif eng.name == "llguidance":
        m.unsafe_compute_mask_ptr(buf.ctypes.data, buf[0].nbytes)
    else:
        m.fill_next_token_bitmask(tbuf)


def _advance(eng, m, t) -> bool:
    if eng.name == "constrain":
        try:
            m.advance(t)
            return True
        except Exception:
            return False
    if eng.name == "llguidance":
        return bool(m.consume_token(t))
    return bool(m.accept_token(t))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vocab", nargs="+", default=["smollm2"])
    ap.add_argument("--n", type=int, default=20, help="documents / queries per grammar")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--engines", nargs="+", default=["constrain", "llguidance", "xgrammar"])
    ap.add_argument("--grammars", nargs="+", default=list(GRAMMARS), choices=list(GRAMMARS))
    ap.add_argument("--gc-freeze", action="store_true",
                    help="gc.freeze() after set-up, so that full collections of the benchmark's own "
                         "objects (tokenizers, torch) do not land in the timed steps")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(C.RESULTS / "grammar.json"))
    a = ap.parse_args(argv)
    if a.quick:
        a.n, a.reps = 5, 1
    C.torch_single_thread()
    from constrain.grammar import loader
    from constrain.grammar.api import Grammar
    from constrain.native import grammar_kernels
    grammar_kernels.warm_up()
    texts = {"json": loader.load_text("json"), "sql": loader.load_text("sqlite"),
             "sql-syncode": SYNCODE_SQL.read_text()}
    sql_g = Grammar(texts["sql"])
    syn_g = Grammar(texts["sql-syncode"], allow_unreachable=True)
    queries, refused = spider_queries(a.n, sql_g.accepts)
    syn_queries, syn_refused = spider_queries(a.n, syn_g.accepts)
    docs = json_docs(a.n)
    specs = dict(texts)
    lspecs = {**texts, "sql-syncode": _without_priorities(texts["sql-syncode"])}
    xspecs = {"json": None, "sql": cfg_to_xgrammar_ebnf(sql_g.cfg),
              "sql-syncode": cfg_to_xgrammar_ebnf(syn_g.cfg)}
    all_res = {"machine": platform.platform(), "python": platform.python_version(), "runs": []}
    for vname in a.vocab:
        tok = C.load_tokenizer(vname)
        V = len(tok)
        words = (V + 31) // 32
        eos = int(tok.eos_token_id)
        engines = {"constrain": Ours, "llguidance": Llg, "xgrammar": Xgr}
        rows = []
        feed_rows = []
        for gname, inputs in (("json", docs), ("sql", queries), ("sql-syncode", syn_queries)):
            if gname not in a.grammars:
                continue
            seqs = [tok.encode(s, add_special_tokens=False) for s in inputs]
            results = {}
            if a.gc_freeze:
                gc.collect()
                gc.freeze()
            for ename in a.engines:
                eng = engines[ename](tok, V)
                spec = {"xgrammar": xspecs, "llguidance": lspecs}.get(ename, specs)[gname]
                r = run(eng, spec, gname, seqs, a.reps, words, eos)
                r.update(vocab=vname, grammar=gname, n_seqs=len(seqs), n_tokens=sum(map(len, seqs)))
                results[ename] = r
                all_res["runs"].append(r)
            ours = results.get("constrain", {})
            for ename, r in results.items():
                if "error" in r:
                    rows.append([gname, ename, r["error"][:60]] + [""] * 14)
                    continue
                mk, m1, al = r["mask"], r["mask_first_pass"], r["allows"]
                o1 = ours.get("mask_first_pass", {})
                rows.append([gname, ename, r["compile_ms"], r["first_mask_ms"], m1["p50_us"], m1["p99_us"],
                             mk["p50_us"], mk["p99_us"], mk["max_us"], al["p50_us"],
                             (r["memory_bytes"] or 0) / 1024 if r["memory_bytes"] else None,
                             C.ratio(o1.get("p50_us"), m1["p50_us"]), C.ratio(o1.get("p99_us"), m1["p99_us"]),
                             C.ratio(ours.get("mask", {}).get("p50_us"), mk["p50_us"]),
                             C.ratio(ours.get("mask", {}).get("p99_us"), mk["p99_us"]),
                             r["rejects"], r["eos_missing"]])
                fd, of = r["feed"], ours.get("feed", {})
                feed_rows.append([gname, ename, fd["p50_us"], fd["p99_us"], C.ratio(of.get("p50_us"), fd["p50_us"]),
                                  C.ratio(of.get("p99_us"), fd["p99_us"])])
        print()
        print(C.table(["grammar", "engine", "feed p50 us", "feed p99 us", "ours/p50", "ours/p99"], feed_rows,
                      title=f"vocab {vname}: feeding one accepted token, pass 1 (ours: allows + advance; "
                            "llguidance: consume_token; xgrammar: accept_token)"))
        print(C.table(["grammar", "engine", "compile ms", "1st mask ms", "pass-1 p50 us", "pass-1 p99 us",
                       "all p50 us", "all p99 us", "max us", "allows p50 us", "mem KiB", "ours/p50 pass-1",
                       "ours/p99 pass-1", "ours/p50 all", "ours/p99 all", "rejects", "eos miss"], rows,
                      title=f"vocab {vname} (V={V}); JSON docs {len(docs)}, Spider queries {len(queries)} "
                            f"(sqlite.lark refused {refused} of the first {len(queries) + refused}; syncode's "
                            f"{syn_refused} of {len(syn_queries) + syn_refused}); reps {a.reps}"))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(all_res, f, indent=1, default=str)
    print(f"\nwrote {a.out}")
    return all_res


if __name__ == "__main__":
    main()
