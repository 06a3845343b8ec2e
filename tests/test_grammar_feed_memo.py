"""`GrammarMatcher.advance(t)` right after `allows(t)` reuses the sets `allows` computed (what
AWRS does every step), also with a mask computed in between (its virtual positions go after the
kept ones): any interleaving of allows / mask / advance / rollback / fork must leave the
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


ops = st.lists(st.tuples(st.sampled_from(["allows", "advance", "allows+advance", "allows+mask+advance",
                                          "rollback", "fork"]),
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
        if op in ("allows+advance", "allows+mask+advance") and ok:
            if op == "allows+mask+advance":
                _state(m)  # a mask between: its virtual positions must not touch the kept ones
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


def test_memo_survives_a_computed_mask(monkeypatch):
    from constrain.grammar.chart import Chart

    compiled = cn.Grammar(TEXT + "\n\n").compile(VOCAB, cache=False)  # empty mask caches
    m = compiled.matcher()
    m.advance(8)  # "[1"
    assert m.allows(3) and m._fed is not None  # ",": fed, kept past the length
    ch = m._chart
    n, keep = ch.n, ch.keep
    assert keep > n
    lo, hi = ch.pos[n].copy(), ch.pos[keep].copy()  # the kept positions' rows and item ranges
    kept = [ch.pos[n:keep, :6].copy(), ch.sc[lo[0]:hi[0]].copy(), ch.it[lo[1]:hi[1]].copy(),
            ch.ns[lo[2]:hi[2]].copy()]
    misses = compiled._vc.misses
    _state(m)  # computed here (a miss): a virtual closure after "]" ends, unlike the kept ","
    assert compiled._vc.misses > misses and m._fed is not None
    now = [ch.pos[n:keep, :6], ch.sc[lo[0]:hi[0]], ch.it[lo[1]:hi[1]], ch.ns[lo[2]:hi[2]]]
    assert all(np.array_equal(a, b) for a, b in zip(kept, now))  # signatures may be filled in
    feeds = []
    real = Chart.feed
    monkeypatch.setattr(Chart, "feed", lambda self, *a, **k: feeds.append(1) or real(self, *a, **k))
    m.advance(3)
    monkeypatch.setattr(Chart, "feed", real)
    assert not feeds  # the kept positions taken back, not fed again
    replay = compiled.matcher()
    for u in (8, 3):
        replay.advance(u)
    assert _state(m) == _state(replay) and not m.is_accepting()
