"""Fuzz of the public API with wrong types, out-of-range ids, rows and shapes: every failure is a
`ConstraintError`, ``TypeError`` or ``ValueError`` with a message; nothing crashes, nothing is
written outside the bitmask row asked for, and long sources are cut in messages."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import constrain as cn
from conftest import make_tiny_vocab

TYPED = (cn.ConstraintError, TypeError, ValueError)
VOCAB = make_tiny_vocab()
WORDS = VOCAB.words
FACES = {
    "regex": lambda: cn.Regex(r"(ab|a)+( ab)?"),
    "grammar": lambda: cn.Grammar('start: "a" "b"? (" " "ab")*'),
    "json": lambda: cn.JsonSchema({"type": "integer"}),
    "items": lambda: cn.Items([[2, 3], [4], [2, 7, 5]]),
}
_compiled: dict = {}


def _matcher(face: str):
    if face not in _compiled:
        _compiled[face] = FACES[face]().compile(VOCAB)
    return _compiled[face].matcher()


TOKEN_IDS = st.one_of(
    st.integers(-2**40, 2**40), st.integers(-3, VOCAB.size + 3), st.floats(allow_nan=True),
    st.just(12.0), st.just(12.5), st.booleans(), st.none(), st.text(max_size=3),
    st.sampled_from([np.int64(2), np.float32(2), np.uint8(3), torch.tensor(2), torch.tensor(2.0),
                     [2], (2,), b"a"]),
)
ROWS = st.one_of(st.integers(-5, 5), st.sampled_from([10**7, -10**7, 2**63 - 1, 1.0, 0.5, None, "0",
                                                      np.int64(1), True]))
BITMASKS = st.one_of(
    st.tuples(st.sampled_from([np.int32, np.uint32, np.int64, np.float32, np.int8, np.bool_]),
              st.sampled_from([(3, WORDS), (1, WORDS), (3, WORDS + 2), (3, WORDS - 1), (WORDS,),
                               (3, 0), (0, WORDS), (2, 2, WORDS)])),
    st.sampled_from(["bitmask", None, [[0]], 5]),
)


def _make(spec):
    if isinstance(spec, tuple):
        dtype, shape = spec
        return np.full(shape, 7, dtype=dtype)  # a marker: only the asked row may change
    return spec


def _call(fn, *args):
    try:
        return fn(*args), None
    except TYPED as e:
        assert str(e), f"{type(e).__name__} without a message"
        return None, e


@pytest.mark.parametrize("face", list(FACES))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(token=TOKEN_IDS)
def test_token_ids_are_integers(face, token):
    m = _matcher(face)
    ok, err = _call(m.allows, token)
    integer = isinstance(token, (int, np.integer)) and not isinstance(token, (bool, np.bool_)) \
        or (isinstance(token, torch.Tensor) and not token.is_floating_point())
    if not integer:
        assert isinstance(err, TypeError), (token, ok)
    elif not 0 <= int(token) < VOCAB.size:
        assert ok is False
    before = m.num_tokens
    _, err = _call(m.advance, token)
    assert (err is None) == (m.num_tokens == before + 1)


@pytest.mark.parametrize("face", list(FACES))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=BITMASKS, row=ROWS)
def test_fill_mask_checks_dtype_shape_and_row(face, spec, row):
    m = _matcher(face)
    bm = _make(spec)
    before = bm.copy() if isinstance(bm, np.ndarray) else None
    _, err = _call(m.fill_mask, bm, row)
    if err is None:
        assert isinstance(bm, np.ndarray) and bm.dtype in (np.int32, np.uint32) and bm.ndim == 2
        r = int(row)
        assert 0 <= r < bm.shape[0] and bm.shape[1] >= WORDS and not isinstance(row, (bool, float))
        others = np.delete(np.arange(bm.shape[0]), r)
        assert np.array_equal(bm[others], before[others])  # nothing written outside the row
        assert not bm[r, WORDS:].any()
        ref = np.zeros((1, WORDS), np.int32)
        m.fill_mask(ref, 0)
        assert np.array_equal(bm[r, :WORDS].view(np.int32), ref[0])
    elif isinstance(bm, np.ndarray):
        assert np.array_equal(bm, before)


def test_items_fill_masks_and_step_refuse_out_of_bounds():
    c = FACES["items"]().compile(VOCAB)
    bm = np.zeros((2, WORDS), np.int32)
    for rows in ([10**7], [-1], [0, 1, 2]):
        with pytest.raises(ValueError):
            c.fill_masks([0] * len(rows), bm, rows)
    with pytest.raises(TypeError):
        c.fill_masks([0.5], bm)
    with pytest.raises(ValueError):  # narrower log-probs than the vocabulary: the kernel would read past them
        c.step(np.array([0]), np.zeros((1, 3), np.float32))
    with pytest.raises(ValueError):
        c.step(np.array([0]), np.zeros((1, VOCAB.size), np.float32), eos_id=VOCAB.size)
    with pytest.raises(ValueError):
        c.step(np.array([0, 0]), np.zeros((1, VOCAB.size), np.float32))


def test_beam_search_arguments():
    c = FACES["items"]().compile(VOCAB)
    good = lambda toks: np.zeros((toks.shape[0] * toks.shape[1], VOCAB.size), np.float32)  # noqa: E731
    assert cn.beam_search(c, good, num_beams=2).scores.shape == (1, 2)
    for kwargs, exc in [(dict(num_beams=0), ValueError), (dict(num_beams=2.5), TypeError),
                        (dict(batch_size="1"), TypeError), (dict(eos_id=1.5), TypeError),
                        (dict(backend="cuda"), ValueError)]:
        with pytest.raises(exc):
            cn.beam_search(c, good, **kwargs)
    with pytest.raises(TypeError):
        cn.beam_search(FACES["items"](), good)
    with pytest.raises(ValueError):  # too few columns: the fused step would read past them
        cn.beam_search(c, lambda toks: np.zeros((toks.shape[0] * toks.shape[1], 3), np.float32))


@pytest.mark.parametrize("ctor", [cn.Regex, cn.JsonSchema, cn.Items, cn.Grammar])
@pytest.mark.parametrize("arg", [None, 5, 2.5, b"x", object(), ["a", 1.5], {"type": 3}])
def test_constructors_raise_typed_errors(ctor, arg):
    with pytest.raises(TYPED):
        ctor(arg)


@pytest.mark.parametrize("name", ["yaml", None, 5])
def test_grammar_load_unknown_name(name):
    with pytest.raises((cn.ConstraintError, TypeError, ValueError)):
        cn.Grammar.load(name)


def test_apply_mask_and_allocate_bitmask_arguments():
    logits = torch.zeros(2, VOCAB.size)
    for bad in (np.zeros((2, WORDS), np.float32), torch.zeros(2, WORDS), "x"):
        with pytest.raises(TYPED):
            cn.apply_mask(logits, bad)
    with pytest.raises(TYPED):
        cn.apply_mask(logits, np.zeros((2, WORDS), np.int32), indices=[5])
    with pytest.raises(TYPED):
        cn.apply_mask(torch.zeros(2, VOCAB.size, dtype=torch.int64), np.zeros((2, WORDS), np.int32))
    for bad in (-1, 2.5, "3"):
        with pytest.raises(TYPED):
            cn.allocate_bitmask(bad, VOCAB.size)


def test_long_sources_are_cut_in_messages():
    long = "a" * 20000
    for make in (lambda: cn.Regex(long + "(?=x)"), lambda: cn.Regex("(" + long),
                 lambda: cn.Grammar("start: " + "x" * 20000)):
        with pytest.raises(cn.ConstraintError) as e:
            make()
        assert len(str(e.value)) < 1000


@settings(max_examples=100, deadline=None)
@given(ids=st.lists(st.integers(0, 95), max_size=20))
def test_set_token_bits_matches_a_bool_mask(ids):
    from constrain.bitmask import bitmask_to_bool, set_token_bits, token_bit

    row = set_token_bits(np.zeros(3, np.int32), ids)
    assert np.flatnonzero(bitmask_to_bool(row[None], 96)[0]).tolist() == sorted(set(ids))
    assert all(token_bit(row, t) == (t in ids) for t in range(-2, 100))
    with pytest.raises(ValueError):
        set_token_bits(row, [96])


@pytest.mark.parametrize("face", list(FACES))
def test_one_bitmask_shared_by_two_vocabulary_widths(face):
    """The per-bitmask fast path of ``fill_mask`` remembers the width it checked: a bitmask checked
    for a wide vocabulary, then used by a narrower one, gets the narrow mask and zeros past it."""
    wide = cn.Vocabulary.from_bytes([b"a", b"b", b" "] + [bytes([65 + i % 26]) * (2 + i // 26)
                                                          for i in range(97)], eos_ids=(0,))
    assert wide.words > WORDS
    bm = np.full((2, wide.words), 7, np.int32)
    FACES[face]().compile(wide).matcher().fill_mask(bm, 1)
    m = _matcher(face)
    m.fill_mask(bm, 1)
    ref = np.zeros((1, WORDS), np.int32)
    m.fill_mask(ref, 0)
    assert np.array_equal(bm[1, :WORDS], ref[0]) and not bm[1, WORDS:].any()
    assert (bm[0] == 7).all()
