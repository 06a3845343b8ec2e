"""`constrain.regex.memo.BoundedCache`: hits, LRU eviction by entries and by bytes, oversize values
returned uncached; the schema automata memoised with it are the same on a hit."""

from __future__ import annotations

import numpy as np

from constrain.regex.memo import BoundedCache


def test_hits_and_lru_eviction_by_entries():
    c = BoundedCache(max_entries=2, max_bytes=1000)
    built = []

    def mk(v):
        built.append(v)
        return v

    assert c.get_or_build("a", lambda: mk(1), lambda v: 1) == 1
    assert c.get_or_build("a", lambda: mk(99), lambda v: 1) == 1  # hit
    c.get_or_build("b", lambda: mk(2), lambda v: 1)
    c.get_or_build("a", lambda: mk(99), lambda v: 1)  # a is now the most recent
    c.get_or_build("c", lambda: mk(3), lambda v: 1)  # evicts b
    assert len(c) == 2
    assert c.get_or_build("b", lambda: mk(4), lambda v: 1) == 4
    assert built == [1, 2, 3, 4]


def test_eviction_by_bytes_and_oversize():
    c = BoundedCache(max_entries=100, max_bytes=10)
    c.get_or_build(1, lambda: "x", lambda v: 6)
    c.get_or_build(2, lambda: "y", lambda v: 6)  # 12 bytes > 10: the oldest goes
    assert len(c) == 1
    assert c.get_or_build(3, lambda: "z", lambda v: 11) == "z"  # larger than the budget
    assert len(c) == 1
    assert c.get_or_build(2, lambda: "new", lambda v: 6) == "y"


def test_none_values_are_cached():
    c = BoundedCache()
    calls = []
    for _ in range(2):
        assert c.get_or_build("k", lambda: calls.append(1), lambda v: 0) is None
    assert calls == [1]


def test_schema_dfas_memoised_equal():
    from constrain.regex.api import regex_dfa
    from constrain.schema.keydfa import _not_keys_dfa, _unit_string_dfa, not_keys_dfa, unit_string_dfa

    colon = regex_dfa(":")
    for mn, mx, suf in [(0, None, None), (2, 7, colon), (0, 3, None)]:
        a = unit_string_dfa(mn, mx, suf)
        assert unit_string_dfa(mn, mx, suf) is a
        b = _unit_string_dfa(mn, mx, suf)
        assert np.array_equal(a.transitions, b.transitions) and np.array_equal(a.accepting, b.accepting)
    keys = ["id", "name", "naïve"]
    a = not_keys_dfa(keys, colon)
    assert not_keys_dfa(list(keys), colon) is a
    b = _not_keys_dfa(keys, colon)
    assert np.array_equal(a.transitions, b.transitions) and np.array_equal(a.accepting, b.accepting)
    assert not_keys_dfa(['a"b']) is None
