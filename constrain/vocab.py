"""Token vocabularies as raw bytes, plus a flat token trie for the mask kernels.

A :class:`Vocabulary` maps every logit index (token id) to the exact bytes that token
contributes to the output text, or to ``None`` when a constraint must never allow the id
(no token behind the id, or a special/control token that is not an end-of-sequence token).
End-of-sequence ids are listed separately: a constraint allows them only once the output
is accepted.

The trie (:class:`TokenTrie`) is a flat, preorder array layout meant for ``numba`` kernels:
walking a matcher state along the trie and skipping whole subtrees (``i + node_subtree[i]``)
when the matcher rejects a byte.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import threading
import warnings
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from .native.vocab_kernels import build_trie

__all__ = ["Vocabulary", "TokenTrie", "bytes_to_unicode", "detect_tokenizer_kind", "vocabulary_for",
           "logits_width", "default_eos_ids"]


# --------------------------------------------------------------------------------------
# Byte-level (GPT-2) alphabet
# --------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable unicode character table (as used by HF ByteLevel)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


@functools.lru_cache(maxsize=None)
def _unicode_to_bytes() -> dict[str, int]:
    return {c: b for b, c in bytes_to_unicode().items()}


def _byte_level_bytes(token: str) -> bytes:
    """Bytes of a byte-level BPE token string.

    Mirrors ``tokenizers``' ByteLevel decoder: every char goes through the inverse GPT-2 table;
    if some char is outside the table, the whole token is taken as its UTF-8 text.
    """
    table = _unicode_to_bytes()
    try:
        return bytes([table[c] for c in token])
    except KeyError:
        return token.encode("utf-8")


_BYTE_FALLBACK_RE = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


def _sentencepiece_bytes(token: str, space: str = "\u2581", byte_fallback: bool = True) -> bytes:
    """Bytes of a sentencepiece piece: ``▁`` -> space, ``<0xNN>`` -> that byte, else UTF-8."""
    if byte_fallback and len(token) == 6:
        m = _BYTE_FALLBACK_RE.match(token)
        if m:
            return bytes([int(m.group(1), 16)])
    return token.replace(space, " ").encode("utf-8")


# --------------------------------------------------------------------------------------
# Tokenizer kind detection
# --------------------------------------------------------------------------------------


def _walk_json_types(node: Any) -> list[dict]:
    """All dicts with a ``type`` key inside a (possibly nested, e.g. Sequence) JSON component."""
    out: list[dict] = []
    if isinstance(node, dict):
        if "type" in node:
            out.append(node)
        for v in node.values():
            out.extend(_walk_json_types(v))
    elif isinstance(node, list):
        for v in node:
            out.extend(_walk_json_types(v))
    return out


def _component_json(component) -> Any:
    if component is None:
        return None
    return json.loads(component.__getstate__())


def _backend_spec(backend) -> dict | None:
    """decoder / pre_tokenizer / model options of a ``tokenizers.Tokenizer`` as JSON.

    Serializes the components separately (cheap) rather than the whole tokenizer, whose dump
    includes the vocabulary and merges (about 1 s for a 262k vocabulary).
    """
    try:
        model = backend.model
        return {
            "decoder": _component_json(backend.decoder),
            "pre_tokenizer": _component_json(backend.pre_tokenizer),
            "model": {"byte_fallback": bool(getattr(model, "byte_fallback", False))},
        }
    except Exception:
        pass
    try:
        return json.loads(backend.to_str())
    except Exception:  # pragma: no cover - exotic backends
        return None


def detect_tokenizer_kind(tokenizer) -> tuple[str, dict]:
    """Classify a Hugging Face tokenizer as ``"byte_level"``, ``"sentencepiece"`` or ``"raw"``.

    Returns ``(kind, options)``; options for sentencepiece are ``space`` (the meta-space char)
    and ``byte_fallback``.

    Detection, in order:

    1. The fast backend's serialized pipeline (``tokenizer.backend_tokenizer.to_str()``): a
       ``ByteLevel`` component in the decoder (or pre-tokenizer, if there is no decoder) means
       byte-level BPE (GPT-2 style: SmolLM2, DeepSeek, Llama 3, Qwen...). A ``Metaspace``
       decoder/pre-tokenizer, a ``ByteFallback`` decoder, a ``Replace`` decoder turning ``▁`` into
       a space, or a model with ``byte_fallback`` means sentencepiece style (Llama 2, Gemma...).
       The decoder is what defines the text a token turns into, so it is trusted first.
    2. Otherwise (slow tokenizers, unusual pipelines) the vocabulary itself: every token in the
       GPT-2 byte alphabet and ``Ġ`` (the byte-level space) present -> byte-level; tokens starting
       with ``▁`` -> sentencepiece.
    3. Otherwise ``"raw"``: tokens are taken as their UTF-8 text (with a warning).
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        spec = _backend_spec(backend)
        if spec is not None:
            model = spec.get("model") or {}
            for section in ("decoder", "pre_tokenizer"):
                comps = _walk_json_types(spec.get(section))
                types = {c["type"] for c in comps}
                if "ByteLevel" in types:
                    return "byte_level", {}
                meta = [c for c in comps if c["type"] == "Metaspace"]
                repl = [
                    c
                    for c in comps
                    if c["type"] == "Replace" and (c.get("pattern") or {}).get("String") == "\u2581"
                ]
                if meta or repl or "ByteFallback" in types:
                    space = meta[0].get("replacement", "\u2581") if meta else "\u2581"
                    fb = bool(model.get("byte_fallback")) or "ByteFallback" in types
                    return "sentencepiece", {"space": space, "byte_fallback": fb}
                if section == "decoder" and spec.get("decoder") is not None:
                    # A decoder that is neither: do not guess from the pre-tokenizer.
                    break
            if model.get("byte_fallback"):
                return "sentencepiece", {"space": "\u2581", "byte_fallback": True}

    vocab = tokenizer.get_vocab()
    alphabet = set(_unicode_to_bytes())
    added = set(getattr(tokenizer, "added_tokens_encoder", {}) or {})
    core = [t for t in vocab if t not in added]
    if "\u0120" in "".join(core[:100000]) and all(set(t) <= alphabet for t in core):
        return "byte_level", {}
    if any(t.startswith("\u2581") for t in core):
        fb = any(_BYTE_FALLBACK_RE.match(t) for t in core)
        return "sentencepiece", {"space": "\u2581", "byte_fallback": fb}
    warnings.warn(
        f"could not recognise the tokenizer kind of {type(tokenizer).__name__}; "
        "taking tokens as their UTF-8 text",
        stacklevel=3,
    )
    return "raw", {}


# Well-known end-of-turn / end-of-text tokens added to the default EOS set when the tokenizer
# has them as special tokens.
_EXTRA_EOS_TOKENS = (
    "<|im_end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<eos>",
    "</s>",
    "<|eot_id|>",
    "<|end_of_text|>",
    "<|end|>",
    "<｜end▁of▁sentence｜>",
)


def _special_ids(tokenizer) -> set[int]:
    added = dict(getattr(tokenizer, "added_tokens_decoder", {}) or {})
    special = {int(i) for i in getattr(tokenizer, "all_special_ids", []) or []}
    return special | {int(i) for i, a in added.items() if getattr(a, "special", False)}


def default_eos_ids(tokenizer) -> tuple[int, ...]:
    """The library's one EOS rule: the ids after which a constrained output may end.

    ``tokenizer.eos_token_id`` (an int or a list), plus every *special* token among the well-known
    end-of-turn / end-of-text markers (``<|im_end|>``, ``<end_of_turn>``, ``<|endoftext|>``,
    ``<eos>``, ``</s>``, ``<|eot_id|>``, ``<|end_of_text|>``, ``<|end|>``, DeepSeek's end of
    sentence), sorted. Chat models end a turn with such a marker, which is not always the
    tokenizer's ``eos_token``. Every entry point (``LogitsProcessor``, ``HFModel``, ``generate``,
    infilling, diffusion) uses this set unless ``eos_ids`` is passed explicitly.
    """
    eos: set[int] = set()
    eid = getattr(tokenizer, "eos_token_id", None)
    if isinstance(eid, int):
        eos.add(eid)
    elif isinstance(eid, (list, tuple)):
        eos.update(int(e) for e in eid)
    added = dict(getattr(tokenizer, "added_tokens_decoder", {}) or {})
    special = _special_ids(tokenizer)
    by_content = {a.content: int(i) for i, a in added.items()}
    for t in _EXTRA_EOS_TOKENS:
        i = by_content.get(t)
        if i is not None and i in special:
            eos.add(i)
    return tuple(sorted(eos))


# --------------------------------------------------------------------------------------
# Trie
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class TokenTrie:
    """Flat token trie in DFS preorder (children in increasing byte order).

    ``node_byte[i]`` labels the edge into node ``i`` (root is node 0), ``node_depth[i]`` is its
    depth, ``node_subtree[i]`` the size of its subtree including itself (so the next sibling of
    ``i`` is ``i + node_subtree[i]``), and ``tok_ids[tok_ptr[i]:tok_ptr[i+1]]`` the token ids
    whose bytes end exactly at node ``i`` (increasing).
    """

    node_byte: np.ndarray  # uint8[n_nodes]
    node_depth: np.ndarray  # int32[n_nodes]
    node_subtree: np.ndarray  # int32[n_nodes]
    tok_ptr: np.ndarray  # int32[n_nodes + 1]
    tok_ids: np.ndarray  # int32[n_tokens]
    max_depth: int

    @property
    def n_nodes(self) -> int:
        return int(self.node_byte.shape[0])


def _build_trie(entries: list[tuple[bytes, int]]) -> TokenTrie:
    entries = sorted(entries)
    n = len(entries)
    lens = np.fromiter((len(b) for b, _ in entries), dtype=np.int64, count=n)
    offs = np.zeros(n + 1, np.int64)
    np.cumsum(lens, out=offs[1:])
    buf = np.frombuffer(b"".join(b for b, _ in entries), dtype=np.uint8)
    if buf.size == 0:
        buf = np.zeros(1, np.uint8)
    ids = np.fromiter((i for _, i in entries), dtype=np.int32, count=n)
    node_byte, node_depth, node_subtree, tok_node, n_nodes, max_len = build_trie(
        buf, offs, int(offs[-1]) + 1
    )
    counts = np.bincount(tok_node, minlength=n_nodes)[:n_nodes] if n else np.zeros(n_nodes, np.int64)
    tok_ptr = np.zeros(n_nodes + 1, np.int32)
    np.cumsum(counts, out=tok_ptr[1:])
    # tok_node is non-decreasing (see native.vocab_kernels.build_trie), so ids are already grouped by node.
    arrays = [
        np.ascontiguousarray(node_byte[:n_nodes]),
        np.ascontiguousarray(node_depth[:n_nodes]),
        np.ascontiguousarray(node_subtree[:n_nodes]),
        tok_ptr,
        ids,
    ]
    for a in arrays:
        a.setflags(write=False)
    return TokenTrie(*arrays, max_depth=int(max_len))


# --------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------


class Vocabulary:
    """Token id -> bytes table of a model's output layer.

    Attributes:
        size: logits width (>= number of tokenizer tokens); ids without a token map to ``None``.
        token_bytes: ``size`` entries, the bytes each id decodes to, or ``None`` for ids a
            constraint never allows (no token, or a special/control token that is not EOS).
            Special EOS tokens have ``b""``.
        eos_ids: sorted unique ``int32`` array of end-of-sequence ids.
        words: ``(size + 31) // 32``, the width of a 32-bit token bitmask.
        fingerprint: sha256 hex digest over size, token bytes and EOS ids.
        trie: the :class:`TokenTrie` of all ids with non-empty bytes except EOS (lazy, cached).
    """

    def __init__(self, token_bytes: Sequence[bytes | None], eos_ids: Iterable[int] = (), size: int | None = None):
        tokens = list(token_bytes)
        if size is None:
            size = len(tokens)
        size = int(size)
        if size < len(tokens):
            extra = [i for i in range(size, len(tokens)) if tokens[i] is not None]
            if extra:
                raise ValueError(f"size={size} is smaller than the vocabulary: ids {extra[:5]}... have bytes")
            tokens = tokens[:size]
        tokens.extend([None] * (size - len(tokens)))
        for i, t in enumerate(tokens):
            if t is not None and not isinstance(t, bytes):
                if isinstance(t, (bytearray, memoryview)):
                    tokens[i] = bytes(t)
                else:
                    raise TypeError(f"token {i} is {type(t).__name__}, expected bytes or None")
        eos = np.unique(np.asarray([int(e) for e in eos_ids], dtype=np.int64))
        if eos.size and (eos[0] < 0 or eos[-1] >= size):
            raise ValueError(f"EOS ids {eos.tolist()} out of range for size {size}")
        for e in eos.tolist():
            if tokens[e] is None:
                tokens[e] = b""
        self.size: int = size
        self.token_bytes: list[bytes | None] = tokens
        self.eos_ids: np.ndarray = eos.astype(np.int32)
        self.eos_ids.setflags(write=False)
        self.words: int = (size + 31) // 32
        self._eos_set = frozenset(eos.tolist())

    def __repr__(self) -> str:
        n = sum(t is not None for t in self.token_bytes)
        return f"Vocabulary(size={self.size}, tokens={n}, eos={self.eos_ids.tolist()})"

    def __len__(self) -> int:
        return self.size

    # ---------------------------------------------------------------- constructors

    @classmethod
    def from_bytes(
        cls, tokens: list[bytes | None], eos_ids: Iterable[int] = (), size: int | None = None
    ) -> "Vocabulary":
        """Vocabulary from explicit per-id bytes (``None`` = never allowed)."""
        return cls(tokens, eos_ids=eos_ids, size=size)

    @classmethod
    def from_hf(cls, tokenizer, size: int | None = None, eos_ids: Iterable[int] | None = None) -> "Vocabulary":
        """Vocabulary of a Hugging Face tokenizer.

        * Model tokens map to bytes according to the tokenizer kind (see
          :func:`detect_tokenizer_kind`): byte-level BPE through the inverse GPT-2 byte table;
          sentencepiece with ``▁`` -> space and ``<0xNN>`` -> one byte; otherwise UTF-8 text.
        * Added tokens are raw text (HF decodes them verbatim, not through the byte-level
          decoder): special ones (``all_special_ids`` or flagged special) become ``None`` unless
          they are EOS; non-special ones become their UTF-8 content.
        * ``eos_ids`` defaults to :func:`default_eos_ids` (the one EOS rule of the library).
        * ``size`` (the logits width) defaults to ``len(tokenizer)``; extra ids are ``None``.
        """
        n = len(tokenizer)
        kind, opts = detect_tokenizer_kind(tokenizer)
        added = dict(getattr(tokenizer, "added_tokens_decoder", {}) or {})
        special_ids = _special_ids(tokenizer)

        if eos_ids is None:
            eos = set(default_eos_ids(tokenizer))
        else:
            eos = {int(e) for e in eos_ids}

        strs = tokenizer.convert_ids_to_tokens(list(range(n)))
        if kind == "byte_level":
            conv = _byte_level_bytes
        elif kind == "sentencepiece":
            space, fb = opts.get("space", "\u2581"), opts.get("byte_fallback", True)
            conv = lambda s: _sentencepiece_bytes(s, space, fb)  # noqa: E731
        else:
            conv = lambda s: s.encode("utf-8")  # noqa: E731

        tokens: list[bytes | None] = [None] * n
        for i, s in enumerate(strs):
            if s is None:
                continue
            if i in special_ids:
                tokens[i] = b"" if i in eos else None
            elif i in added:
                tokens[i] = added[i].content.encode("utf-8")
            else:
                tokens[i] = conv(s)
        if size is None:
            size = n
        return cls(tokens, eos_ids=eos, size=size)

    # ---------------------------------------------------------------- queries

    def is_eos(self, token_id: int) -> bool:
        return int(token_id) in self._eos_set

    def decode(self, ids) -> bytes:
        """Concatenated bytes of ``ids``; ``None`` and EOS ids contribute nothing."""
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        out = []
        tb, eos, size = self.token_bytes, self._eos_set, self.size
        for i in ids:
            i = int(i)
            if not 0 <= i < size:
                raise ValueError(f"token id {i} out of range [0, {size})")
            b = tb[i]
            if b is not None and i not in eos:
                out.append(b)
        return b"".join(out)

    @functools.cached_property
    def fingerprint(self) -> str:
        h = hashlib.sha256()
        h.update(b"constrain.Vocabulary/1\0")
        h.update(self.size.to_bytes(8, "little"))
        for t in self.token_bytes:
            if t is None:
                h.update(b"\xff\xff\xff\xff")
            else:
                h.update(len(t).to_bytes(4, "little"))
                h.update(t)
        h.update(self.eos_ids.astype("<i4").tobytes())
        return h.hexdigest()

    @functools.cached_property
    def byte_table(self) -> tuple[np.ndarray, list[int]]:
        """Every token's bytes in one uint8 array and the offsets of each id's bytes (``size + 1``
        Python ints): ``flat[off[t]:off[t + 1]]`` is a view, no copy (a parser fed per token
        skips ``np.frombuffer``). Built once per vocabulary (a join of the tokens)."""
        parts = [b or b"" for b in self.token_bytes]
        off = np.zeros(len(parts) + 1, dtype=np.int64)
        np.cumsum([len(b) for b in parts], out=off[1:])
        flat = np.frombuffer(b"".join(parts), dtype=np.uint8)  # a view of bytes: read-only
        return flat, off.tolist()

    def __getstate__(self) -> dict:
        # the byte table is rebuilt, not pickled: an unpickled array is writeable, another numba
        # type for the feed kernel (a JIT compilation inside the first feed's time budget)
        state = self.__dict__.copy()
        state.pop("byte_table", None)
        return state

    @functools.cached_property
    def trie(self) -> TokenTrie:
        eos = self._eos_set
        entries = [(b, i) for i, b in enumerate(self.token_bytes) if b and i not in eos]
        return _build_trie(entries)


# --------------------------------------------------------------------------------------
# The one cached constructor every entry point uses
# --------------------------------------------------------------------------------------

# id(tokenizer) -> (weak reference, {(size, eos ids): Vocabulary}); an entry dies with its tokenizer.
_WEAK_CACHE: dict[int, tuple[weakref.ref, dict[tuple, Vocabulary]]] = {}
# Tokenizers that cannot be weakly referenced: the last few, strongly held (bounded).
_STRONG_CACHE: "OrderedDict[tuple, tuple[object, Vocabulary]]" = OrderedDict()
_STRONG_CACHE_SIZE = 4
_CACHE_LOCK = threading.Lock()


def _forget(key: int) -> None:
    with _CACHE_LOCK:
        _WEAK_CACHE.pop(key, None)


def clear_vocabulary_cache() -> None:
    """Drop every cached vocabulary (tests; memory)."""
    with _CACHE_LOCK:
        _WEAK_CACHE.clear()
        _STRONG_CACHE.clear()


def logits_width(model, tokenizer=None) -> int:
    """The width of ``model``'s logits, the size every vocabulary for it must have: the rows of
    its output embedding, else ``config.vocab_size``, else a ``vocab_size`` attribute, else
    ``len(tokenizer)``. Padded embeddings (SmolLM2, Qwen...) are wider than the tokenizer."""
    try:
        emb = model.get_output_embeddings()
        if emb is not None and hasattr(emb, "weight"):
            return int(emb.weight.shape[0])
    except Exception:
        pass
    n = getattr(getattr(model, "config", None), "vocab_size", None) or getattr(model, "vocab_size", None)
    if isinstance(n, int) and n > 0:
        return n
    if tokenizer is None:
        raise ValueError(f"cannot tell the logits width of {type(model).__name__}; pass a tokenizer")
    return len(tokenizer)


def vocabulary_for(tokenizer, size: int | None = None, eos_ids: Iterable[int] | None = None) -> Vocabulary:
    """The `Vocabulary` of ``tokenizer`` for logits ``size`` wide: the one constructor behind the
    ``LogitsProcessor``, ``HFModel``/``generate``, ``infill`` and ``diffusion_generate``.

    * ``tokenizer`` may be a HF tokenizer, a `Vocabulary`, or an object with a ``.vocabulary``
      attribute (a `Vocabulary`); a vocabulary is returned as is when ``size`` is None or equal to
      its size, and re-sized (extra ids never allowed) when ``size`` is larger.
    * ``size`` is the logits width (see :func:`logits_width`); None means ``len(tokenizer)``.
    * ``eos_ids`` defaults to :func:`default_eos_ids`.
    * HF tokenizers: built with `Vocabulary.from_hf` once per (tokenizer object, size, eos ids)
      and cached for as long as the tokenizer lives (weak reference; a tokenizer that cannot be
      weakly referenced shares a 4-entry LRU). Building costs about 0.3 s at 49k tokens, 3 s at 262k.
    """
    if size is not None:
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
            raise TypeError(f"size must be an int, not {type(size).__name__}")
        if size <= 0:
            raise ValueError(f"size must be positive, got {size}")
        size = int(size)
    eos_key = None if eos_ids is None else tuple(sorted({int(e) for e in eos_ids}))
    given = tokenizer if isinstance(tokenizer, Vocabulary) else getattr(tokenizer, "vocabulary", None)
    if isinstance(given, Vocabulary):
        same_eos = eos_key is None or eos_key == tuple(given.eos_ids.tolist())
        if (size is None or size == given.size) and same_eos:
            return given
        return Vocabulary(given.token_bytes, eos_ids=given.eos_ids if eos_key is None else eos_key,
                          size=given.size if size is None else size)
    if tokenizer is None or isinstance(tokenizer, (str, bytes, int, float, list, tuple, dict)):
        raise TypeError(f"expected a Hugging Face tokenizer or a Vocabulary, got {type(tokenizer).__name__}")
    key = (size, eos_key)
    with _CACHE_LOCK:
        entry = _WEAK_CACHE.get(id(tokenizer))
        if entry is not None and entry[0]() is tokenizer and key in entry[1]:
            return entry[1][key]
        strong = _STRONG_CACHE.get((id(tokenizer), key))
        if strong is not None and strong[0] is tokenizer:
            _STRONG_CACHE.move_to_end((id(tokenizer), key))
            return strong[1]
    vocab = Vocabulary.from_hf(tokenizer, size=size, eos_ids=eos_key)
    with _CACHE_LOCK:
        try:
            entry = _WEAK_CACHE.get(id(tokenizer))
            if entry is None or entry[0]() is not tokenizer:
                ref = weakref.ref(tokenizer)
                weakref.finalize(tokenizer, _forget, id(tokenizer))
                entry = _WEAK_CACHE[id(tokenizer)] = (ref, {})
            entry[1][key] = vocab
        except TypeError:  # not weakly referenceable
            _STRONG_CACHE[(id(tokenizer), key)] = (tokenizer, vocab)
            while len(_STRONG_CACHE) > _STRONG_CACHE_SIZE:
                _STRONG_CACHE.popitem(last=False)
    return vocab
