"""`GrammarMatcher.advance(t)` right after `allows(t)` reuses the sets `allows` computed (what
AWRS does every step): any interleaving of allows / advance / rollback / fork must leave the
matcher exactly where a fresh matcher fed the same accepted tokens is (masks, acceptance)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import constrain as cn

WORDS = [b"[", b"]", b",", b"1", b"12", b"2,", b" ", b"[1", b"],", b"3]", b"a"]
VOCAB = cn.Vocabulary.from_bytes([None, *WORDS], eos_ids=[0])
TEXT = 'start: list\nlist: "[" (item ("," item)*)? "]"\nitem: list | NUM\nNUM: /[0-9]+/\n%ignore " "'
GRAMMAR = cn.Grammar(TEXT)
COMPILED = GRAMMAR.compile(VOCAB)


def _state(m) -> tuple:
    bm = cn.allocate_token_bitmask(1, VOCAB.size) if hasattr(cn, "allocate_token_bitmask") else \
        np.zeros((1, (VOCAB.size + 31) // 32), dtype=np.int32)
    m.fill_mask(bm, 0)
    return tuple(np.asarray(bm)[0].tolist()), m.is_accepting() if hasattr(m, "is_accepting") else None


ops = st.lists(st.tuples(st.sampled_from(["allows", "advance", "allows+advance", "rollback", "fork"]),
                         st.integers(1, len(WORDS))), max_size=30)


@settings(max_examples=150, deadline=None)
@given(ops)
def test_interleavings_match_a_fresh_replay(seq):
    m = COMPILED.matcher()
    fed: list[int] = []
    for op, t in seq:
        if op == "rollback":
            if fed:
                m.rollback(1)
                fed.pop()
            continue
        if op == "fork":
            m = m.fork()
            continue
        ok = m.allows(t)
        ref = COMPILED.matcher()
        for u in fed:
            ref.advance(u)
        assert ok == ref.allows(t)
        if op == "allows":
            continue
        if op == "allows+advance" and ok:
            m.advance(t)
            fed.append(t)
        elif op == "advance":
            # a different token than the one just checked: the memo must not be used
            other = next((u for u in range(1, len(WORDS) + 1) if u != t and ref.allows(u)), None)
            if other is not None:
                m.advance(other)
                fed.append(other)
        replay = COMPILED.matcher()
        for u in fed:
            replay.advance(u)
        assert _state(m) == _state(replay)


def test_memo_is_used_and_keyed_by_token(monkeypatch):
    from constrain.grammar.chart import Chart

    # a grammar of its own: no mask or context-free row cached by the other test decides "]"
    compiled = cn.Grammar(TEXT + "\n").compile(VOCAB, cache=False)
    m = compiled.matcher()
    m.advance(8)  # "[1"
    assert m.allows(2) and m._fed is not None  # "]" ends the number and the list: fed
    n_after = m._fed[3]
    feeds = []
    real = Chart.feed
    monkeypatch.setattr(Chart, "feed", lambda self, *a, **k: feeds.append(1) or real(self, *a, **k))
    m.advance(2)
    assert len(m._chart) == n_after and not feeds  # the positions `allows` computed, reused
    assert m.is_accepting()
    m = compiled.matcher()
    m.advance(8)
    assert m.allows(2) and m._fed is not None
    m.advance(3)  # "," instead: must feed ",", not reuse "]"'s sets
    replay = compiled.matcher()
    for u in (8, 3):
        replay.advance(u)
    assert _state(m) == _state(replay) and not m.is_accepting()
