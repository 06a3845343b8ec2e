"""Disk cache of compiled constraints (second process, byte budget, stale entries) and the
byte-bounded in-process compile cache."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import constrain as cn
from constrain.bitmask import allocate_bitmask
from constrain.cache import DiskCache, stable_key
from constrain.matcher import Constraint

WORDS = [b"a", b"b", b"ab", b"{", b"}", b'"', b":", b",", b"1", b"12", b"x", b"name", b'{"', b'":']


def _vocab():
    return cn.Vocabulary.from_bytes([None, *WORDS], eos_ids=[0], size=40)


def _mask(compiled, ids=()):
    m = compiled.matcher()
    m.advance_many(ids)
    buf = allocate_bitmask(1, compiled.vocab.size)
    m.fill_mask(buf, 0)
    return np.asarray(buf).copy()


def test_disk_round_trip_uses_callers_vocabulary(tmp_path):
    vocab = _vocab()
    cache = DiskCache(tmp_path)
    spec = cn.JsonSchema({"type": "object", "properties": {"name": {"type": "integer"}}, "required": ["name"]})
    assert cache.get(spec, vocab) is None
    compiled = cache.compile(spec, vocab)
    again = cache.compile(spec, vocab)
    assert cache.hits == 1 and cache.misses == 2
    assert again is not compiled and again.vocab is vocab
    for ids in ([], [13], [13, 12], [13, 12, 14, 10]):
        assert np.array_equal(_mask(compiled, ids), _mask(again, ids))
    # an equal vocabulary object (same fingerprint) is substituted, not the pickled one
    other = _vocab()
    assert cache.get(spec, other).vocab is other


def test_second_process_hits(tmp_path):
    code = textwrap.dedent(f"""
        import constrain as cn
        from constrain.cache import DiskCache
        vocab = cn.Vocabulary.from_bytes([None, *{WORDS!r}], eos_ids=[0], size=40)
        cache = DiskCache({str(tmp_path)!r})
        c = cache.compile(cn.Regex(r"(ab|1)+x"), vocab)
        m = c.matcher(); m.advance_many([3, 11])
        print(cache.hits, cache.misses, m.is_accepting())
    """)
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    outs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                           timeout=300) for _ in range(2)]
    assert [o.stdout.split() for o in outs] == [["0", "1", "True"], ["1", "0", "True"]], outs


def test_budget_evicts_least_recently_used(tmp_path):
    vocab = _vocab()
    cache = DiskCache(tmp_path, max_bytes=10**9)
    specs = [cn.Regex(f"a{{{k}}}b") for k in range(1, 5)]
    paths = [cache.put(s, vocab, s.compile(vocab)) for s in specs]
    sizes = [p.stat().st_size for p in paths]
    os.utime(paths[0], (1, 1))  # the oldest entry
    cache.max_bytes = sum(sizes) - 1
    cache.put(specs[1], vocab, specs[1].compile(vocab))
    assert not paths[0].exists() and all(p.exists() for p in paths[1:])
    assert cache.size_bytes() <= cache.max_bytes


def test_corrupt_entry_is_a_miss(tmp_path):
    vocab = _vocab()
    cache = DiskCache(tmp_path)
    spec = cn.Regex("ab+")
    path = cache.put(spec, vocab, spec.compile(vocab))
    path.write_bytes(b"not a pickle")
    assert cache.get(spec, vocab) is None and not path.exists()


def test_keys_are_stable_and_distinct():
    from constrain.grammar.sql import sql_grammar  # noqa: F401  (a from_cfg grammar)
    g1 = cn.Grammar.from_cfg(cn.lark_to_cfg('start: "a" | "b"'))
    g2 = cn.Grammar.from_cfg(cn.lark_to_cfg('start: "a" | "b"'))
    g3 = cn.Grammar.from_cfg(cn.lark_to_cfg('start: "a" | "c"'))
    assert stable_key(g1) == stable_key(g2) != stable_key(g3)
    assert stable_key(cn.Regex("a")) != stable_key(cn.Regex("a", eager=False))


def test_in_process_cache_is_bounded_by_bytes(monkeypatch):
    vocab = _vocab()
    monkeypatch.setattr(Constraint, "_cache", type(Constraint._cache)())
    first = cn.Regex("a+b").compile(vocab)
    monkeypatch.setattr(Constraint, "cache_bytes", first.memory_bytes() + 1)
    cn.Regex("b+a").compile(vocab)
    assert len(Constraint._cache) == 1
    assert cn.Regex("a+b").compile(vocab) is not first  # evicted, compiled again


def test_env_var_enables_disk_cache(tmp_path):
    code = textwrap.dedent(f"""
        import constrain as cn
        from constrain.matcher import Constraint
        vocab = cn.Vocabulary.from_bytes([None, *{WORDS!r}], eos_ids=[0], size=40)
        cn.Regex("x(ab)*").compile(vocab)
        print(Constraint.disk_cache.hits, Constraint.disk_cache.misses)
    """)
    env = dict(os.environ, PYTHONPATH=os.getcwd(), CONSTRAIN_CACHE_DIR=str(tmp_path))
    outs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                           timeout=300).stdout.split() for _ in range(2)]
    assert outs == [["0", "1"], ["1", "0"]]


def test_serving_spec_hits_by_text_key(tmp_path):
    from constrain.integrations.spec import compile_spec
    vocab = _vocab()
    cache = DiskCache(tmp_path)
    spec = {"json_schema": {"type": "object", "properties": {"name": {"type": "integer"}}}}
    first = compile_spec(spec, vocab, disk=cache)
    second = compile_spec(spec, vocab, disk=cache)
    assert (cache.hits, cache.misses) == (1, 1) and second.vocab is vocab
    for ids in ([], [13], [13, 12], [13, 12, 14, 10]):
        assert np.array_equal(_mask(first, ids), _mask(second, ids))
