"""Grammar front ends: Lark text and GBNF → CFG (`constrain.grammar.ir`).

Oracle: lark's Earley parser with ``lexer="dynamic_complete"``, run on the original grammar and
on our CFG written back as Lark text (`constrain.grammar.testing.cfg_to_lark`); both must accept
exactly the same random sentences (derived from the CFG) and mutations of them.
"""

from __future__ import annotations

import random
import re
import warnings
from pathlib import Path

import pytest

import constrain as cn
from constrain.grammar.gbnf import gbnf_to_cfg
from constrain.grammar.lark_frontend import COMMON_LARK, lark_to_cfg
from constrain.grammar.loader import available, load, load_text
from constrain.grammar.testing import (AllSplitsRecognizer, cfg_to_lark, lark_accepts,
                                       lark_parser, mutate, random_lexeme, random_sentences)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "grammars"
LARK_FILES = sorted((DATA / "lark").rglob("*.lark"))
GBNF_FILES = sorted((DATA / "gbnf").rglob("*.gbnf"))

# Grammars lark loads that we refuse on purpose (reason: the feature named in the error).
EXPECTED_REFUSALS = {
    "python2.lark": ("%declare", cn.UnsupportedFeature),  # _INDENT/_DEDENT from a post-lexer
    "python_grammar.lark": ("%declare", cn.UnsupportedFeature),
    "verilog.lark": ("lookahead", cn.UnsupportedFeature),  # MULTILINE_COMMENT
    "lark.lark": ("lookahead", cn.UnsupportedFeature),  # lark-parser's meta-grammar: OP, STRING
}
LIBRARIES = {"common.lark", "unicode.lark"}  # no start rule
# lark's first-match lexing refuses most derived sentences of these (both parsers still agree)
LOW_ACCEPTANCE = {"sql_grammar.lark"}


def _start_of(text: str) -> str:
    starts = re.findall(r"^\s*[?!]?(start|file_input|single_input)\s*:", text, re.M)
    return "start" if "start" in starts else (starts[0] if starts else "start")


def _id(p: Path) -> str:
    return str(p.relative_to(DATA))


# -- every shared Lark grammar ---------------------------------------------------------------

@pytest.mark.parametrize("path", LARK_FILES, ids=_id)
def test_shared_lark_grammar_roundtrip(path: Path):
    if path.name in LIBRARIES:
        pytest.skip("library file without a start rule")
    text = path.read_text()
    start = _start_of(text)
    from lark import Lark

    # lark's stdlib common.lark (not outlines' own), as %import common means for us
    original = Lark(text, parser="earley", lexer="dynamic_complete", start=start,
                    source_path=str(path))
    expected = EXPECTED_REFUSALS.get(path.name)
    if expected and not (path.parent.name == "llguidance"):
        feature, exc = expected
        with pytest.raises(exc, match=re.escape(feature)):
            lark_to_cfg(text, start, path=str(path), allow_unreachable=True)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lazy-quantifier notes
        cfg = lark_to_cfg(text, start, path=str(path), allow_unreachable=True)
    ours = lark_parser(cfg)
    sentences = random_sentences(cfg, 25, seed=7, max_depth=7, max_len=250)
    assert len(sentences) >= 5, "the sentence generator found too few sentences"
    rng = random.Random(3)
    mutated = [mutate(s, rng) for s in sentences for _ in range(2)]
    accepted = 0
    for s in sentences + mutated:
        a = lark_accepts(original, s)
        assert a == lark_accepts(ours, s), f"disagreement on {s!r}"
        accepted += a
    if path.name not in LOW_ACCEPTANCE:
        assert accepted >= len(sentences) // 2


@pytest.mark.skipif(not DATA.exists(), reason="shared grammars (../shared/data/grammars) not present")
def test_unreachable_symbols_raise_by_default():
    text = (DATA / "lark" / "syncode" / "sql_grammar.lark").read_text()
    with pytest.raises(cn.InvalidSyntax, match="unreachable") as e:
        lark_to_cfg(text)
    assert e.value.line is not None and e.value.column is not None


# -- Lark features ---------------------------------------------------------------------------

def _agree(cfg_text: str, accept: list[str], refuse: list[str], start="start"):
    cfg = lark_to_cfg(cfg_text, start)
    ours = lark_parser(cfg)
    for s in accept:
        assert lark_accepts(ours, s), s
    for s in refuse:
        assert not lark_accepts(ours, s), s
    return cfg


def test_literals_regexes_flags_ignore_aliases():
    cfg = _agree(r'''
        start: greet NAME+ punct? -> hello
        ?greet: "hello"i | /hi+/
        !punct: "!"
        NAME: /[a-z]+/
        %ignore " "
        ''', ["HeLLo bob", "hiii ann  bob!", "hello   x"], ["hola bob", "hello", "HI bob"])
    hello = [t for t in cfg.terminals.values() if t.literal == "hello"][0]
    assert hello.flags & re.IGNORECASE and hello.pattern == "hello"
    assert cfg.ignore and all(i in cfg.terminals for i in cfg.ignore)


def test_ebnf_operators():
    _agree('''
        start: "a" ["b"] "c"? ("d" | "e")* "f"+ "g" ~ 2 "h" ~ 1..2
        ''', ["acdfggh", "abcdeffggh", "afggh", "afgghh"], ["ac", "afgh", "afgghhh", "abbfggh"])


def test_common_imports_are_lookaround_free_and_equivalent():
    cfg = lark_to_cfg('''
        start: (ESCAPED_STRING | NUMBER | SIGNED_NUMBER | CNAME | C_COMMENT | SH_COMMENT
               | CPP_COMMENT | SQL_COMMENT | WORD | HEXDIGIT | NEWLINE)+
        %import common (ESCAPED_STRING, NUMBER, SIGNED_NUMBER, CNAME, C_COMMENT, SH_COMMENT)
        %import common (CPP_COMMENT, SQL_COMMENT, WORD, HEXDIGIT, NEWLINE, WS)
        %ignore WS
        ''')
    # lark's own common.lark on the same texts: same verdicts
    from lark import Lark

    lark_common = Lark('''
        start: (ESCAPED_STRING | NUMBER | SIGNED_NUMBER | CNAME | C_COMMENT | SH_COMMENT
               | CPP_COMMENT | SQL_COMMENT | WORD | HEXDIGIT | NEWLINE)+
        %import common (ESCAPED_STRING, NUMBER, SIGNED_NUMBER, CNAME, C_COMMENT, SH_COMMENT)
        %import common (CPP_COMMENT, SQL_COMMENT, WORD, HEXDIGIT, NEWLINE, WS)
        %ignore WS
        ''', parser="earley", lexer="dynamic_complete")
    ours = lark_parser(cfg)
    texts = ['"a\\"b"', '"a"b"', '"a\\\\"', '"x\\', "/* a */ b */", "/* a * / */", "/**/",
             "/***/", "1.5e3 -2", "# x\n", "// y", "-- z", '"\\u00e9" 12', "a1 _b"]
    for t in texts:
        assert lark_accepts(ours, t) == lark_accepts(lark_common, t), t
    for t in cfg.terminals.values():
        cn.Regex(t.pattern, flags=t.flags)  # lookaround-free: would raise UnsupportedFeature
    # every terminal of lark's common.lark exists in ours
    from lark import grammars

    lark_text = (Path(grammars.__file__).parent / "common.lark").read_text()
    names = set(re.findall(r"^([A-Z_]+)\s*:", lark_text, re.M))
    assert names <= set(re.findall(r"^([A-Z_]+)\s*:", COMMON_LARK, re.M))


def test_common_terminals_same_lexemes_as_lark():
    """For each common terminal T, `start: T` accepts the same random strings in both."""
    from lark import Lark

    rng = random.Random(5)
    for name in ["ESCAPED_STRING", "C_COMMENT", "NUMBER", "SIGNED_FLOAT", "DECIMAL", "CNAME",
                 "WS_INLINE", "NEWLINE", "SH_COMMENT"]:
        g = f"start: {name}\n%import common.{name}\n"
        theirs = Lark(g, parser="earley", lexer="dynamic_complete")
        ours = lark_parser(lark_to_cfg(g))
        t = lark_to_cfg(g).terminals[name]
        samples = [random_lexeme(t.pattern, t.flags, rng) or "" for _ in range(30)]
        samples += [mutate(s, rng, alphabet='"\\*/ a1\n.e-') for s in samples]
        for s in samples:
            assert lark_accepts(ours, s) == lark_accepts(theirs, s), (name, s)


def test_lazy_idioms_match_lark_lexemes():
    from lark import Lark

    rng = random.Random(11)
    for rx in [r'/".*?"/', r"/\/\*(.|\n)*?\*\//", r"/`.*?`/", r'/".*?"(?:i)?/', r"/'.+?'/"]:
        g = f"start: T\nT: {rx}\n"
        theirs = Lark(g, parser="earley", lexer="dynamic_complete")
        cfg = lark_to_cfg(g)
        assert not re.search(r"[*+?}]\?", cfg.terminals["T"].pattern)
        ours = lark_parser(cfg)
        for _ in range(150):
            s = "".join(rng.choice(['"', "'", "`", "a", "*", "/", "\n", "i"])
                        for _ in range(rng.randint(1, 8)))
            assert lark_accepts(ours, s) == lark_accepts(theirs, s), (rx, s)


def test_other_lazy_terminals_warn():
    with pytest.warns(UserWarning, match="lazy"):
        lark_to_cfg('start: T\nT: /a.*?b.*?c/\n')


def test_priorities_are_kept_and_do_not_change_the_language():
    cfg = lark_to_cfg('''
        start: (KW | NAME)+
        KW.5: "if"
        NAME.-1: /[a-z]+/
        %ignore " "
        ''')
    assert cfg.terminals["KW"].priority == 5 and cfg.terminals["NAME"].priority == -1
    assert lark_accepts(lark_parser(cfg), "if x iffy")


def test_word_chars_terminal_declares_cfg_word_chars():
    """``_WORD_CHARS`` is no lexeme: it sets `CFG.word_chars` (flags inlined); the engine refuses a
    class that is not single ASCII characters."""
    text = 'start: (KW | NUM)+\nKW: "if"\nNUM: /[0-9]+/\n_WORD_CHARS: /[a-z0-9]/%s\n%%ignore " "\n'
    cfg = lark_to_cfg(text % "i")
    assert cfg.word_chars == "(?i:[a-z0-9])" and "_WORD_CHARS" not in cfg.terminals
    g = cn.Grammar(text % "")
    ref = AllSplitsRecognizer(g.cfg)
    for s, ok in [("if 1 if", True), ("if(1)", False), ("if1", False), ("1if", False), ("ifif", False),
                  ("if  12 if", True), ("12", True)]:
        assert g.accepts(s) == ref.accepts(s) == ok, s
    assert lark_accepts(lark_parser(g.cfg), "if1")  # lark's oracle ignores word_chars
    for bad in ("/[a-z]+/", "/[aé]/", "/ab/"):
        with pytest.raises(cn.InvalidSyntax, match="word characters"):
            cn.Grammar('start: "a"\n_WORD_CHARS: %s\n' % bad)


@pytest.mark.parametrize("text,match,line,col", [
    ("start: a\na: b\n", "undefined rule 'b'", 2, 4),
    ("start: A B\nA: \"a\"\n", "undefined terminal 'B'", 1, 10),
    ("start: \"a\"\nunused: \"b\"\n", "unreachable", 2, 1),
    ("start: \"a\"\nX: \"b\"\n", "unreachable", 2, 1),
    ("start: a\na: \"x\" a\n", "derives no finite string", 1, 1),
    ("start: \"a\" | \"a\" b\nb: \"b\" b | \"c\" b\n", "rule 'b' derives no finite string", 2, 1),
    ("start: A\nA: /[a-/\n", "bad regex", 2, 1),
    ("start: A\nA: /a*/\n", "empty string", 2, 1),
    ("start: \"a\" :: b\n", "invalid Lark grammar", 1, None),
])
def test_errors_have_line_and_column(text, match, line, col):
    with pytest.raises(cn.InvalidSyntax, match=match) as e:
        lark_to_cfg(text)
    assert e.value.line == line
    if col is not None:
        assert e.value.column == col


def test_missing_start_rule():
    with pytest.raises(cn.InvalidSyntax, match="start rule 'go'"):
        lark_to_cfg("start: \"a\"\n", "go")


def test_unsupported_features():
    with pytest.raises(cn.UnsupportedFeature, match="template"):
        lark_to_cfg("start: sep{\"a\", \",\"}\nsep{x, s}: x (s x)*\n")
    with pytest.raises(cn.UnsupportedFeature, match="lookahead.*terminal A at line 2"):
        lark_to_cfg("start: A\nA: /a(?!b)/\n")
    with pytest.raises(cn.UnsupportedFeature, match="%declare"):
        lark_to_cfg("start: \"a\" B\n%declare B\n")


def test_relative_import_and_override(tmp_path):
    (tmp_path / "lib.lark").write_text('item: "x" | "y"\n')
    main = tmp_path / "main.lark"
    text = 'start: item+\n%import .lib.item\n'
    main.write_text(text)
    cfg = lark_to_cfg(text, path=str(main))
    assert lark_accepts(lark_parser(cfg), "xyx")


# -- shipped grammars ------------------------------------------------------------------------

def test_loader_lists_and_loads_shipped_grammars():
    assert {"json", "sqlite"} <= set(available())
    for name in available():
        cfg = load(name)
        assert cfg.rules and cfg.terminals
    assert load_text("json.lark") == load_text("json")
    with pytest.raises(KeyError):
        load("nope")


def test_json_grammar_rfc8259():
    import json as pyjson

    p = lark_parser(load("json"))
    good = ['{}', '[]', '0', '-0.5e+10', '"\\u00e9\\n\\/"', ' {"a" : [1, true, null, "é😀"]} ',
            '"\x7f"', '[[[]]]', '{"a":{"b":[]}}', '1E5', 'false']
    bad = ['{', '01', '1.', '.5', '+1', '"\\x"', '"a\nb"', '"\x01"', "'a'", '[1,]', '{"a"}',
           'tru', 'nulll', '"\\u12"', '{"a":1,}', '']
    for s in good:
        pyjson.loads(s)
        assert lark_accepts(p, s), s
    for s in bad:
        assert not lark_accepts(p, s), s
    rng = random.Random(2)
    cfg = load("json")
    for s in random_sentences(cfg, 40, seed=4, max_depth=8):
        assert lark_accepts(p, s)
        pyjson.loads(s)  # every derived sentence is valid JSON for Python too
        m = mutate(s, rng)
        try:
            pyjson.loads(m)
            ok = not re.search(r"NaN|Infinity", m)
        except ValueError:
            ok = False
        assert lark_accepts(p, m) == ok, m


# -- GBNF ------------------------------------------------------------------------------------

GBNF_CASES = {
    "json.gbnf": (['{"a": [1, -2.5e3, "x\\n", true]}', '{}', '{"k": {"n": null}}'],
                  ['[1]', '{"a": 01}', '{"a" 1}', '{"a": "\\q"}', '{']),
    "list.gbnf": (["- a\n", "- milk\n- eggs\n"], ["- \n", "-a\n", "- a", ""]),
    "c.gbnf": (["int main(){return 0;}", "int f(int x){x = x+1;}", "char c(){/* hi */}"],
               ["int main(){", "main(){}", "int f(){return 0}"]),
    "japanese.gbnf": (["こんにちは", "カタカナ 漢字"], ["hello", "こんにちは ", ""]),
    "vllm-sql.gbnf": (["SELECTcol_1fromtable_2wherecol_1=2"],
                      ["SELECT col_1 from table_1 where col_1=1", "SELECTcol_3fromtable_1"]),
}


@pytest.mark.parametrize("path", GBNF_FILES, ids=_id)
def test_shared_gbnf_grammars_load_and_check(path: Path):
    cfg = gbnf_to_cfg(path.read_text())
    rec = AllSplitsRecognizer(cfg)  # exact oracle (lark's first-match lexing misses lexemes)
    accept, refuse = GBNF_CASES[path.name]
    for s in accept:
        assert rec.accepts(s), s
    for s in refuse:
        assert not rec.accepts(s), s
    for s in random_sentences(cfg, 10, seed=1, max_depth=6, max_len=120):
        assert rec.accepts(s), s


def test_gbnf_syntax():
    cfg = gbnf_to_cfg(r'''
        # comment
        root ::= greet ws name{1,3} ("!" | "?")? tail
        greet ::= "h" [aeiou]+ | "\x48i"   # H i
        name ::= [^ \n!?.]{2,} ws
        ws ::= " "*
        tail ::= .
        ''')
    rec = AllSplitsRecognizer(cfg)
    for s in ["hoo  ann bob!x", "Hi ab.", "haa ab cd ef?\n"]:
        assert rec.accepts(s), s
    for s in ["hoo a!x", "h ab!x", "hoo ab cd ef gh!x", "hoo ab", "hey ab!x"]:
        assert not rec.accepts(s), s
    assert all(not t.pattern.startswith("(?:)") for t in cfg.terminals.values())


def test_gbnf_keeps_literal_runs_coarse():
    cfg = gbnf_to_cfg('root ::= "select" " " "*" " from t" | "x"\n')
    pats = {t.pattern for t in cfg.terminals.values()}
    assert any("select" in p and "from" in p for p in pats)


@pytest.mark.parametrize("text,match,line", [
    ('root ::= foo\n', "undefined rule 'foo'", 1),
    ('root ::= "a"\nroot ::= "b"\n', "defined twice", 2),
    ('root ::= "a\n', "unterminated string", 1),
    ('root ::= "a"\nb ::= "c"\n', "unreachable", 2),
    ('root ::= [b-a]\n', "bad character range", 1),
    ('root ::= "a"{3,1}\n', "max < min", 1),
    ('root ::= x\nx ::= "a" x\n', "derives no finite string", 1),
    ('start ::= "a"\n', "no 'root' rule", None),
    ('root ::= "a" )\n', "expected", 1),
])
def test_gbnf_errors(text, match, line):
    with pytest.raises(cn.InvalidSyntax, match=match) as e:
        gbnf_to_cfg(text)
    assert e.value.line == line


def test_cfg_to_lark_escapes_roundtrip():
    cfg = lark_to_cfg(r'''
        start: A B C D
        A: /a\/b/
        B: "\\/\n"
        C: /[\x2e]/
        D: /\u00e9\\/
        ''')
    p = lark_parser(cfg)
    assert lark_accepts(p, "a/b\\/\n.é\\")
    assert not lark_accepts(p, "a/b\\/\nxé\\")
    assert "start:" in cfg_to_lark(cfg)


def test_grammar_allow_unreachable_drops_unused_rules():
    """The error's advice works on the public classes: the unreachable rule is dropped."""
    g = cn.Grammar('start: "a"\nunused: "b"\n', allow_unreachable=True)
    assert g.accepts("a") and not g.accepts("b")
    g2 = cn.Grammar.from_gbnf('root ::= "a"\nb ::= "c"\n', allow_unreachable=True)
    assert g2.accepts("a") and not g2.accepts("c")
    with pytest.raises(cn.InvalidSyntax, match="unreachable"):
        cn.Grammar.from_gbnf('root ::= "a"\nb ::= "c"\n')
