"""Vocabulary: token bytes of real tokenizers, EOS handling, fingerprint and the flat token trie."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from constrain.vocab import TokenTrie, Vocabulary, bytes_to_unicode, detect_tokenizer_kind

from conftest import TINY_EOS, TINY_SIZE, TINY_TOKENS

# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def check_trie(vocab: Vocabulary) -> TokenTrie:
    """Assert every structural invariant of ``vocab.trie`` and that it holds exactly the right ids."""
    t = vocab.trie
    n = t.n_nodes
    assert t.node_byte.dtype == np.uint8 and t.node_byte.shape == (n,)
    assert t.node_depth.dtype == np.int32 and t.node_depth.shape == (n,)
    assert t.node_subtree.dtype == np.int32 and t.node_subtree.shape == (n,)
    assert t.tok_ptr.dtype == np.int32 and t.tok_ptr.shape == (n + 1,)
    assert t.tok_ids.dtype == np.int32
    assert t.tok_ptr[0] == 0 and t.tok_ptr[-1] == len(t.tok_ids)
    assert np.all(np.diff(t.tok_ptr) >= 0)
    assert t.node_depth[0] == 0 and t.node_subtree[0] == n
    depth = t.node_depth.tolist()
    sub = t.node_subtree.tolist()
    byte = t.node_byte.tolist()
    assert np.all(t.node_depth[1:] >= 1)
    assert t.max_depth == (max(depth) if n else 0)

    # Walk the structure: children of i are i+1, then c + sub[c], ... up to i + sub[i].
    path = [b""] * n
    seen_nodes = 0
    stack = [0]
    while stack:
        i = stack.pop()
        seen_nodes += 1
        end = i + sub[i]
        assert end <= n
        c = i + 1
        prev_byte = -1
        children = []
        while c < end:
            assert depth[c] == depth[i] + 1, "preorder: a child is one level deeper"
            assert byte[c] > prev_byte, "children in strictly increasing byte order"
            prev_byte = byte[c]
            path[c] = path[i] + bytes([byte[c]])
            children.append(c)
            c += sub[c]
        assert c == end, "children's subtrees tile the parent's subtree"
        stack.extend(reversed(children))
    assert seen_nodes == n

    # Tokens: each allowed id exactly once, at the node spelling its bytes; ids sorted per node.
    found: dict[int, int] = {}
    for i in range(n):
        ids = t.tok_ids[t.tok_ptr[i] : t.tok_ptr[i + 1]].tolist()
        assert ids == sorted(ids)
        for tid in ids:
            assert tid not in found, f"token {tid} appears twice"
            found[tid] = i
            assert vocab.token_bytes[tid] == path[i]
    expected = {
        i for i, b in enumerate(vocab.token_bytes) if b and i not in set(vocab.eos_ids.tolist())
    }
    assert set(found) == expected
    # Leaves hold at least one token (no dead branches).
    for i in range(1, n):
        if sub[i] == 1:
            assert t.tok_ptr[i + 1] > t.tok_ptr[i]
    return t


def trie_lookup(t: TokenTrie, data: bytes) -> list[int]:
    """Ids whose bytes are exactly ``data``, by walking the flat trie (sibling skips)."""
    node = 0
    for b in data:
        c = node + 1
        end = node + t.node_subtree[node]
        while c < end and t.node_byte[c] != b:
            c += t.node_subtree[c]
        if c >= end:
            return []
        node = c
    return t.tok_ids[t.tok_ptr[node] : t.tok_ptr[node + 1]].tolist()


# --------------------------------------------------------------------------------------
# from_bytes / tiny vocabulary
# --------------------------------------------------------------------------------------


def test_tiny_basics(tiny_vocab):
    v = tiny_vocab
    assert v.size == TINY_SIZE == len(v.token_bytes)
    assert v.words == 1
    assert v.eos_ids.dtype == np.int32 and v.eos_ids.tolist() == list(TINY_EOS)
    assert v.token_bytes[0] is None
    assert v.token_bytes[1] == b""  # EOS with no bytes
    assert all(v.token_bytes[i] is None for i in range(len(TINY_TOKENS), TINY_SIZE))
    assert v.decode([2, 1, 6, 0, 9, 12]) == b"a" + b"ab" + b"\xc3"
    assert v.decode(np.array([8, 10, 11])) == "é日本👍".encode()
    with pytest.raises(ValueError):
        v.decode([TINY_SIZE])
    with pytest.raises(ValueError):
        v.decode([-1])


def test_tiny_trie(tiny_vocab):
    t = check_trie(tiny_vocab)
    # duplicates share a node
    assert trie_lookup(t, b"ab") == [4, 6]
    assert trie_lookup(t, b"a") == [2]
    assert trie_lookup(t, b"abc") == [5]
    assert trie_lookup(t, b"\xc3") == [9]
    assert trie_lookup(t, "é".encode()) == [8]
    assert trie_lookup(t, b"") == []  # root holds nothing (empty token 12, EOS 1)
    assert trie_lookup(t, b"zz") == []
    assert t.max_depth == 6
    # 'é' (c3 a9) hangs below the node of b"\xc3"
    node_c3 = [i for i in range(t.n_nodes) if t.node_depth[i] == 1 and t.node_byte[i] == 0xC3]
    assert len(node_c3) == 1
    assert t.node_subtree[node_c3[0]] == 2
    assert tiny_vocab.trie is t  # cached


def test_eos_with_bytes_not_in_trie():
    v = Vocabulary.from_bytes([b"a", b"</s>", b"b"], eos_ids=[1])
    assert v.token_bytes[1] == b"</s>"
    assert v.decode([0, 1, 2]) == b"ab"
    t = check_trie(v)
    assert trie_lookup(t, b"</s>") == []


def test_from_bytes_validation():
    with pytest.raises(ValueError):
        Vocabulary.from_bytes([b"a"], eos_ids=[3])
    with pytest.raises(ValueError):
        Vocabulary.from_bytes([b"a", b"b"], size=1)
    with pytest.raises(TypeError):
        Vocabulary.from_bytes(["a"])  # type: ignore[list-item]
    v = Vocabulary.from_bytes([b"a", None, None], size=1)  # trailing None may be cut
    assert v.size == 1 and v.words == 1
    v = Vocabulary.from_bytes([b"a"] * 33)
    assert v.words == 2
    v = Vocabulary.from_bytes([], size=0)
    assert v.words == 0 and v.trie.n_nodes == 1
    check_trie(v)
    v = Vocabulary.from_bytes([b"x"], eos_ids=[0, 0])
    assert v.eos_ids.tolist() == [0]
    check_trie(v)


def test_fingerprint():
    base = Vocabulary.from_bytes(list(TINY_TOKENS), eos_ids=TINY_EOS, size=TINY_SIZE)
    same = Vocabulary.from_bytes(list(TINY_TOKENS), eos_ids=list(TINY_EOS), size=TINY_SIZE)
    assert base.fingerprint == same.fingerprint
    assert len(base.fingerprint) == 64 and int(base.fingerprint, 16) >= 0
    changed = list(TINY_TOKENS)
    changed[2] = b"A"
    others = [
        Vocabulary.from_bytes(changed, eos_ids=TINY_EOS, size=TINY_SIZE),
        Vocabulary.from_bytes(list(TINY_TOKENS), eos_ids=(1, 2), size=TINY_SIZE),
        Vocabulary.from_bytes(list(TINY_TOKENS), eos_ids=TINY_EOS, size=TINY_SIZE + 1),
        # moving bytes between neighbours must change it too (length-prefixed hashing)
        Vocabulary.from_bytes([None, None, b"ab", b"", *TINY_TOKENS[4:]], eos_ids=TINY_EOS, size=TINY_SIZE),
        # None differs from b""
        Vocabulary.from_bytes([*TINY_TOKENS[:12], None], eos_ids=TINY_EOS, size=TINY_SIZE),
    ]
    fps = {base.fingerprint} | {o.fingerprint for o in others}
    assert len(fps) == 1 + len(others)


_token = st.one_of(
    st.none(),
    st.binary(min_size=0, max_size=6),
    st.sampled_from([b"a", b"ab", b"abc", b"\x00", b"\xff", b"\xc3", "é".encode(), b" ", b"  "]),
)


@settings(max_examples=150, deadline=None)
@given(tokens=st.lists(_token, max_size=60), data=st.data())
def test_random_trie(tokens, data):
    extra = data.draw(st.integers(0, 40))
    size = len(tokens) + extra
    eos = data.draw(st.lists(st.integers(0, size - 1), max_size=3)) if size else []
    v = Vocabulary.from_bytes(tokens, eos_ids=eos, size=size)
    assert v.size == size == len(v.token_bytes)
    assert v.words == (size + 31) // 32
    t = check_trie(v)
    eos_set = set(eos)
    for i, b in enumerate(v.token_bytes):
        if b and i not in eos_set:
            assert i in trie_lookup(t, b)
    ids = data.draw(st.lists(st.integers(0, size - 1), max_size=10)) if size else []
    expect = b"".join(v.token_bytes[i] or b"" for i in ids if i not in eos_set)
    assert v.decode(ids) == expect


# --------------------------------------------------------------------------------------
# real tokenizers: per-id bytes
# --------------------------------------------------------------------------------------

TOKENIZERS = ["smollm2", "gemma3", "deepseek"]


@pytest.fixture(params=TOKENIZERS)
def tok_and_vocab(request):
    name = request.param
    return (
        name,
        request.getfixturevalue(f"{name}_tokenizer"),
        request.getfixturevalue(f"{name}_vocab"),
    )


def test_detect_kind(smollm2_tokenizer, gemma3_tokenizer, deepseek_tokenizer):
    assert detect_tokenizer_kind(smollm2_tokenizer)[0] == "byte_level"
    assert detect_tokenizer_kind(deepseek_tokenizer)[0] == "byte_level"
    kind, opts = detect_tokenizer_kind(gemma3_tokenizer)
    assert kind == "sentencepiece" and opts["byte_fallback"]


@pytest.mark.slow
def test_every_id_matches_hf_decode(tok_and_vocab):
    """Each id's bytes, decoded lossily as HF does, equal ``tokenizer.decode([id])``."""
    name, tok, v = tok_and_vocab
    n = len(tok)
    assert v.size == n
    decoded = tok.batch_decode([[i] for i in range(n)])
    eos = set(v.eos_ids.tolist())
    special = set(tok.all_special_ids) | {i for i, a in tok.added_tokens_decoder.items() if a.special}
    mismatches = []
    for i in range(n):
        b = v.token_bytes[i]
        if i in special:
            assert b == (b"" if i in eos else None), (i, b)
            continue
        assert b is not None, i
        if b.decode("utf-8", errors="replace") != decoded[i]:
            mismatches.append((i, b, decoded[i]))
    assert not mismatches, mismatches[:10]


@pytest.mark.slow
def test_byte_level_tokens_match_table(smollm2_tokenizer, smollm2_vocab, deepseek_tokenizer, deepseek_vocab):
    """Byte-level: re-encoding our bytes through the GPT-2 table gives back the token string."""
    table = bytes_to_unicode()
    for tok, v in [(smollm2_tokenizer, smollm2_vocab), (deepseek_tokenizer, deepseek_vocab)]:
        added = tok.added_tokens_decoder
        strs = tok.convert_ids_to_tokens(list(range(len(tok))))
        for i, s in enumerate(strs):
            if i in added:
                continue
            assert "".join(table[c] for c in v.token_bytes[i]) == s, i
    # spot checks
    t = smollm2_tokenizer
    assert smollm2_vocab.token_bytes[t.convert_tokens_to_ids("Ġ")] == b" "
    assert smollm2_vocab.token_bytes[t.convert_tokens_to_ids("Ċ")] == b"\n"
    assert smollm2_vocab.token_bytes[t.convert_tokens_to_ids("Ġthe")] == b" the"


@pytest.mark.slow
def test_gemma_pieces(gemma3_tokenizer, gemma3_vocab):
    t, v = gemma3_tokenizer, gemma3_vocab
    for nn in range(256):
        assert v.token_bytes[t.convert_tokens_to_ids(f"<0x{nn:02X}>")] == bytes([nn])
    assert v.token_bytes[t.convert_tokens_to_ids("▁")] == b" "
    assert v.token_bytes[t.convert_tokens_to_ids("▁the")] == b" the"
    # non-special added tokens are plain text
    assert v.token_bytes[t.convert_tokens_to_ids("<table>")] == b"<table>"
    assert v.token_bytes[107] == b"\n"
    # special / control tokens never allowed
    for s in ["<pad>", "<bos>", "<unk>", "<mask>", "<start_of_turn>", "<unused0>"]:
        assert v.token_bytes[t.convert_tokens_to_ids(s)] is None, s


def test_default_eos(smollm2_tokenizer, smollm2_vocab, gemma3_vocab, deepseek_vocab):
    assert smollm2_vocab.eos_ids.tolist() == [0, 2]  # <|endoftext|>, <|im_end|>
    assert gemma3_vocab.eos_ids.tolist() == [1, 106]  # <eos>, <end_of_turn>
    assert deepseek_vocab.eos_ids.tolist() == [1]  # <｜end▁of▁sentence｜>
    for v in (smollm2_vocab, gemma3_vocab, deepseek_vocab):
        assert v.eos_ids.dtype == np.int32
        assert all(v.token_bytes[e] == b"" for e in v.eos_ids.tolist())
    assert smollm2_vocab.token_bytes[1] is None  # <|im_start|>


def test_eos_override_and_wider_logits(smollm2_tokenizer, smollm2_vocab):
    n = len(smollm2_tokenizer)
    v = Vocabulary.from_hf(smollm2_tokenizer, size=n + 64, eos_ids=[2])
    assert v.size == n + 64 and len(v.token_bytes) == n + 64
    assert v.words == (n + 64 + 31) // 32
    assert all(b is None for b in v.token_bytes[n:])
    assert v.eos_ids.tolist() == [2]
    assert v.token_bytes[0] is None  # <|endoftext|> is special, no longer EOS
    assert v.token_bytes[:n][3:] == smollm2_vocab.token_bytes[3:]
    assert v.fingerprint != smollm2_vocab.fingerprint
    assert Vocabulary.from_hf(smollm2_tokenizer).fingerprint == smollm2_vocab.fingerprint


@pytest.mark.slow
def test_real_tries(smollm2_vocab, gemma3_vocab, deepseek_vocab, smollm2_tokenizer):
    for v in (smollm2_vocab, gemma3_vocab, deepseek_vocab):
        check_trie(v)
    t = smollm2_vocab.trie
    the = smollm2_tokenizer.convert_tokens_to_ids("Ġthe")
    assert trie_lookup(t, b" the") == [the]


# --------------------------------------------------------------------------------------
# real tokenizers: round trip encode -> Vocabulary.decode
# --------------------------------------------------------------------------------------

TRICKY = [
    "  \n\n\t x",
    "naïve café",
    "日本語のテキスト",
    "👍🏽👨‍👩‍👧",
    "a\u00a0b",
    "\r\n",
    "x  y   z    ",
    "ﬁ ﬂ Å Å",  # ligatures, precomposed vs combining: must not be normalized
    "e\u0301",
    "\u200b\u200d\ufeff",
    "Ω≈ç√∫",
    "<b>bold</b> <table>",
    "\x00\x01\x7f",
    "mixed 中文 and español ñ and العربية",
    "1234567890 3.14159",
    "\t\t\t\t\t\t\t\t\t\t\t",
    "\n" * 40,
    " " * 33,
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𐍈",
]

_alphabets = [
    st.characters(codec="utf-8"),  # anything but surrogates, incl. controls
    st.sampled_from(list(" \t\n\r\x0b\x0cabcxyzABC019.,;:!?'\"-_()[]{}<>/\\#@$%^&*+=~`|")),
    st.sampled_from(list("aeiouéèêëàâäïîôöùûüçñÅøßœæ \u00a0\u2009")),
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),  # CJK
    st.characters(min_codepoint=0x3040, max_codepoint=0x30FF),  # kana
    st.sampled_from(list("👍🏽👨‍👩‍👧🎉😀🙈️\u200d\ufe0f🇫🇷 ")),
]
TEXT = st.one_of(
    *[st.text(alphabet=a, max_size=40) for a in _alphabets],
    st.text(alphabet=st.one_of(*_alphabets), max_size=40),
    st.lists(st.one_of(st.sampled_from(TRICKY), st.text(max_size=5)), max_size=5).map("".join),
)


def _single_bytes(vocab: Vocabulary) -> frozenset[int]:
    return frozenset(b[0] for b in vocab.token_bytes if b is not None and len(b) == 1)


def _roundtrip(tok, vocab, s):
    # split_special_tokens: text such as "<eos>" is text here, not the control token (by default
    # HF would map it to the special id, which decodes to nothing). Non-special added tokens
    # ("<table>", DeepSeek's "<｜User｜>") are still matched and must decode to their text.
    ids = tok.encode(s, add_special_tokens=False, split_special_tokens=True)
    data = s.encode("utf-8")
    if set(data) <= _single_bytes(vocab):
        assert vocab.decode(ids) == data, (s, ids, tok.convert_ids_to_tokens(ids))
    else:
        # SmolLM2's byte-level vocabulary has no token for some bytes (controls 0x04 0x06 0x13 0x14
        # 0x16 0x1d, 0xf1/0xf2 leading planes 4-11, and bytes never valid in UTF-8); its BPE (no
        # unk token) silently drops them, so the tokenizer itself loses that text. Then we can only
        # agree with what the tokenizer decodes.
        assert vocab.decode(ids).decode("utf-8", errors="replace") == tok.decode(ids), (s, ids)


_rt = settings(max_examples=150, deadline=None)


@pytest.mark.parametrize("s", TRICKY)
def test_roundtrip_tricky(tok_and_vocab, s):
    _name, tok, v = tok_and_vocab
    _roundtrip(tok, v, s)


# The @given functions are nested so that hypothesis reports only the failing string (not the
# huge reprs of session fixtures).


def test_roundtrip_smollm2(smollm2_tokenizer, smollm2_vocab):
    @_rt
    @given(s=TEXT)
    def run(s):
        _roundtrip(smollm2_tokenizer, smollm2_vocab, s)

    run()


def test_roundtrip_deepseek(deepseek_tokenizer, deepseek_vocab):
    @_rt
    @given(s=TEXT)
    def run(s):
        _roundtrip(deepseek_tokenizer, deepseek_vocab, s)

    run()


def test_roundtrip_gemma3(gemma3_tokenizer, gemma3_vocab):
    # Gemma's tokenizer maps ' ' to '▁' (U+2581) before BPE and back after, so a literal U+2581
    # in the input comes back as a space: the tokenizer alters that one character. It is
    # excluded here and checked in test_gemma_meta_space_quirk.
    @_rt
    @given(s=TEXT.filter(lambda s: "\u2581" not in s))
    def run(s):
        _roundtrip(gemma3_tokenizer, gemma3_vocab, s)

    run()


def test_special_token_text(tok_and_vocab):
    """Special-token text: as text it round-trips; encoded as the control token it decodes to nothing."""
    _name, tok, v = tok_and_vocab
    for sid in tok.all_special_ids:
        text = tok.convert_ids_to_tokens(sid)
        _roundtrip(tok, v, f"x{text}y")
        assert v.decode(tok.encode(f"x{text}y", add_special_tokens=False)) == b"xy"


def test_gemma_meta_space_quirk(gemma3_tokenizer, gemma3_vocab):
    s = "a\u2581b \u2581"
    ids = gemma3_tokenizer.encode(s, add_special_tokens=False)
    assert gemma3_tokenizer.decode(ids) == "a b  "
    assert gemma3_vocab.decode(ids) == gemma3_tokenizer.decode(ids).encode()


def test_smollm2_missing_bytes_quirk(smollm2_tokenizer, smollm2_vocab):
    missing = set(range(256)) - _single_bytes(smollm2_vocab)
    assert {0x04, 0xF1, 0xF5, 0xFF} <= missing
    ids = smollm2_tokenizer.encode("a\x04b\U00040000c", add_special_tokens=False)
    assert smollm2_vocab.decode(ids) == b"ab\x80\x80\x80c"  # the tokenizer dropped 0x04 and 0xf1
    _roundtrip(smollm2_tokenizer, smollm2_vocab, "a\x04b\U00040000c")


def test_decode_skips_eos_and_specials(smollm2_tokenizer, smollm2_vocab):
    t, v = smollm2_tokenizer, smollm2_vocab
    ids = t.encode("hello world", add_special_tokens=False)
    assert v.decode([1, *ids, 2, 0]) == b"hello world"
    assert v.decode(ids + [2]) == t.decode(ids + [2], skip_special_tokens=True).encode()
