"""`native.trans_table`: the signature transition table equals a dict (growth, clears, a key
inserted twice keeps its first value, misses read None)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from constrain.native.trans_table import TransTable, get


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(-1, 1 << 40), st.integers(0, 1 << 31)), max_size=400),
       st.integers(4, 600), st.lists(st.integers(0, 1 << 40), max_size=50))
def test_table_equals_a_dict(rows, max_entries, probes):
    t = TransTable(max_entries, cap=1)
    ref: dict = {}
    k = 0
    while k < len(rows):  # in batches, as the signing kernel hands them over
        batch = rows[k:k + 7]
        k += 7
        if len(ref) + len(batch) > max_entries:
            ref.clear()
        for key, v in batch:
            if key >= 0:
                ref.setdefault(key, v)
        t.put_rows(np.array(batch, dtype=np.int64).reshape(-1, 2), len(batch))
        assert len(t) == len(ref)
        assert 2 * len(t) <= t.t.shape[0]  # load <= 1/2: every probe ends
    for key in list(ref) + probes:
        assert t.get(key) == ref.get(key)


def test_a_key_seen_without_its_value_reads_unknown():
    """What a reader racing a writer can see: the key row written, the value not yet."""
    t = TransTable(100)
    t.put(5 << 8 | 65, 9)
    row = np.flatnonzero(t.t[:, 0])[0]
    assert get(t.t, 5 << 8 | 65) == 9
    t.t[row, 1] = 0
    assert get(t.t, 5 << 8 | 65) == -1
