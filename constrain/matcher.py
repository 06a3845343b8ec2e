"""The compiled-constraint and matcher contracts (architecture §2.2-2.4) shared by every constraint.

``Constraint.compile(vocab)`` returns a `CompiledConstraint` (immutable, shared by all sequences,
cached per (constraint, vocabulary)); ``compiled.matcher()`` returns a `Matcher`, the per-sequence
state every sampler and integration uses.

This is the base layer: it imports only `vocab` (and numpy). Boundary checks shared by every
matcher live here: `check_token_id` and `check_bitmask_row`. ``Completable`` (the infilling
mixin) lives in `constrain.completable`; the name is still served from here, lazily, for
modules that import it from ``constrain.matcher``.
"""

from __future__ import annotations

import operator
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict

import numpy as np

from .errors import TokenRejected
from .vocab import Vocabulary


# The last bitmask that passed `check_bitmask_row` in a ``fill_mask``, its row count and the
# vocabulary width it was checked for: a mask per step into one preallocated bitmask then costs one
# identity test and one row test. One tuple, replaced whole, so threads never see a mixed entry.
_LAST_CHECKED: list = [(None, 0, -1)]


def _checked_token_call(fn):
    def checked(self, token_id, *args, **kwargs):
        if type(token_id) is not int:
            token_id = as_token_id(token_id)
        return fn(self, token_id, *args, **kwargs)

    checked.__name__, checked.__qualname__, checked.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
    checked.__wrapped__ = fn
    checked._checked = True
    return checked


def _checked_fill_mask(fn):
    def fill_mask(self, bitmask, row: int = 0) -> None:
        last = _LAST_CHECKED[0]
        if bitmask is last[0] and type(row) is int and 0 <= row < last[1] \
                and last[2] == self.vocab.words:
            return fn(self, bitmask, row)
        arr, row = checked_bitmask_row(bitmask, row, self.vocab.words)
        return fn(self, arr, row)

    fill_mask.__qualname__, fill_mask.__doc__ = fn.__qualname__, fn.__doc__
    fill_mask.__wrapped__ = fn
    fill_mask._checked = True
    return fill_mask


class Matcher(ABC):
    """Per-sequence state of a constraint.

    ``allows`` is cheap (a bit test, or a walk over one token's bytes); ``fill_mask`` writes a whole
    bitmask row; ``advance`` raises `TokenRejected` for a disallowed token and leaves the state
    unchanged. Boundaries: a token id that is not an integer is a ``TypeError``; ``allows`` answers
    False for an integer outside the vocabulary and ``advance`` refuses it (a ``ValueError``);
    ``fill_mask`` checks the bitmask's dtype, shape and row (`check_bitmask_row`). EOS ids are allowed exactly when ``is_accepting()``; after an EOS only EOS is allowed.
    """

    #: Subclasses that check their own arguments (with `as_token_id` and `check_bitmask_row`) set
    #: this True; for the others the base class wraps ``allows``, ``advance`` and ``fill_mask`` with
    #: those checks at class creation (see ``__init_subclass__``; about 0.1 us a call).
    validates_arguments: bool = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("validates_arguments", False):
            return
        for name, wrap in (("allows", _checked_token_call), ("advance", _checked_token_call),
                           ("fill_mask", _checked_fill_mask)):
            fn = cls.__dict__.get(name)
            if fn is not None and not getattr(fn, "__isabstractmethod__", False) \
                    and not getattr(fn, "_checked", False):
                setattr(cls, name, wrap(fn))

    #: True when ``allows`` depends only on the output's bytes (byte-level constraints: regex,
    #: grammar, JSON Schema), so a token whose bytes extend a refused token's bytes is refused too;
    #: samplers then infer such refusals. False for token-level constraints (item sets).
    byte_prefix_closed: bool = False

    @abstractmethod
    def allows(self, token_id: int) -> bool: ...

    @abstractmethod
    def fill_mask(self, bitmask, row: int = 0) -> None: ...

    @abstractmethod
    def advance(self, token_id: int) -> None: ...

    @abstractmethod
    def rollback(self, n: int = 1) -> None: ...

    @abstractmethod
    def fork(self) -> "Matcher": ...

    @abstractmethod
    def is_accepting(self) -> bool: ...

    @abstractmethod
    def is_terminated(self) -> bool: ...

    @property
    @abstractmethod
    def num_tokens(self) -> int:
        """Tokens consumed so far (what ``rollback`` can undo)."""

    def advance_many(self, token_ids) -> None:
        """Consume several tokens; on a rejection the tokens before it stay consumed."""
        for t in token_ids:
            self.advance(int(t))

    def validate_tokens(self, token_ids) -> int:
        """Length of the longest prefix of ``token_ids`` accepted from the current state, with the
        state unchanged afterwards (speculative decoding: accept ``token_ids[:n]``, then
        ``rollback`` what the target model later refuses). Cost: up to ``len(token_ids)``
        advances and one rollback. Errors other than `TokenRejected` (a limit) propagate after
        the state is restored."""
        n = 0
        try:
            for t in token_ids:
                try:
                    self.advance(int(t))
                except TokenRejected:
                    break
                n += 1
        finally:
            if n:
                self.rollback(n)
        return n

    def forced_bytes(self, max_bytes: int = 256) -> bytes:
        """The bytes every accepted continuation starts with (jump-forward decoding), at most
        ``max_bytes``: empty when the next byte is open, when the output may end here (EOS is
        allowed), or for constraints that judge token ids, not bytes (the default). State
        unchanged; may end inside a UTF-8 character."""
        return b""

    def forced_tokens(self, max_tokens: int = 16) -> list[int]:
        """Token ids forced next: while exactly one token (and no EOS) is allowed, that token.
        State unchanged. Cost: one full mask per forced token plus one (a fork's ``fill_mask``);
        for byte-level constraints prefer `forced_bytes` and retokenize."""
        m = self.fork()
        out: list[int] = []
        eos = set(self.vocab.eos_ids.tolist())
        while len(out) < max_tokens:
            allowed = m.allowed_tokens()
            if len(allowed) != 1 or int(allowed[0]) in eos:
                break
            out.append(int(allowed[0]))
            m.advance(out[-1])
        return out

    def allowed_tokens(self) -> np.ndarray:
        """Sorted ids of the allowed tokens (a full mask; for tests and debugging)."""
        from .bitmask import bitmask_to_bool
        vocab = self.vocab
        buf = np.zeros((1, vocab.words), dtype=np.int32)
        self.fill_mask(buf, 0)
        return np.flatnonzero(bitmask_to_bool(buf, vocab.size)[0])


class StateStackMatcher(Matcher):
    """A matcher whose state is one int per consumed token (regex DFA states, trie states):
    ``rollback`` truncates the stack, ``fork`` copies it (O(tokens consumed))."""

    __slots__ = ("_c", "_states", "vocab")

    def __init__(self, compiled, states: list[int] | None = None):
        self._c = compiled
        self.vocab = compiled.vocab
        self._states = states if states is not None else [0]

    @property
    def state(self) -> int:
        return self._states[-1]

    @property
    def num_tokens(self) -> int:
        return len(self._states) - 1

    def rollback(self, n: int = 1) -> None:
        if n < 0 or n > len(self._states) - 1:
            raise ValueError(f"cannot roll back {n} tokens: {len(self._states) - 1} consumed")
        if n:
            del self._states[-n:]

    def fork(self):
        return type(self)(self._c, self._states.copy())


class CompiledConstraint(ABC):
    """A constraint compiled against one vocabulary. Immutable from the user's point of view
    (lazily filled caches are thread-safe); share it between sequences and threads."""

    vocab: Vocabulary

    @abstractmethod
    def matcher(self) -> Matcher: ...


class Constraint(ABC):
    """A constraint spec (``Regex``, ...). ``compile`` caches its result per vocabulary.

    The in-process cache holds at most ``cache_size`` entries and ``cache_bytes`` bytes (sizes
    from ``memory_bytes()``, re-read at each insertion since rows are built lazily); least recently
    used entries go first. ``disk_cache`` (a `constrain.cache.DiskCache`, set by
    `constrain.cache.enable_disk_cache` or the ``CONSTRAIN_CACHE_DIR`` environment variable) is
    consulted on an in-process miss and filled after a compile.
    """

    _cache: "OrderedDict[tuple, CompiledConstraint]" = OrderedDict()
    _cache_lock = threading.Lock()
    cache_size = 64
    cache_bytes = 1 << 30
    disk_cache = None
    _env_checked = False

    @abstractmethod
    def cache_key(self) -> tuple: ...

    @abstractmethod
    def _compile(self, vocab: Vocabulary) -> CompiledConstraint: ...

    def compile(self, vocab: Vocabulary, *, cache: bool = True) -> CompiledConstraint:
        """Compile against ``vocab``; results are cached by (constraint, vocabulary fingerprint)."""
        if not cache:
            return self._compile(vocab)
        key = (type(self).__name__, self.cache_key(), vocab.fingerprint)
        with Constraint._cache_lock:
            hit = Constraint._cache.get(key)
            if hit is not None:
                Constraint._cache.move_to_end(key)
                return hit
        disk = _disk_cache()
        compiled = disk.get(self, vocab) if disk is not None else None
        if compiled is None:
            compiled = self._compile(vocab)
            if disk is not None:
                disk.put(self, vocab, compiled)
        with Constraint._cache_lock:
            Constraint._cache[key] = compiled
            _evict(Constraint._cache, Constraint.cache_size, Constraint.cache_bytes)
        return compiled


def _disk_cache():
    if not Constraint._env_checked:
        Constraint._env_checked = True
        import os
        if Constraint.disk_cache is None and os.environ.get("CONSTRAIN_CACHE_DIR"):
            from .cache import enable_disk_cache
            enable_disk_cache(os.environ["CONSTRAIN_CACHE_DIR"])
    return Constraint.disk_cache


def _evict(cache: "OrderedDict", max_entries: int, max_bytes: int) -> None:
    """Drop least recently used entries until both bounds hold (the newest entry always stays)."""
    while len(cache) > max_entries:
        cache.popitem(last=False)
    sizes = [_size_of(c) for c in cache.values()]
    total = sum(sizes)
    k = 0
    while total > max_bytes and len(cache) > 1:
        cache.popitem(last=False)
        total -= sizes[k]
        k += 1


def _size_of(compiled) -> int:
    size = getattr(compiled, "memory_bytes", None)
    try:
        return int(size()) if size is not None else 0
    except Exception:  # pragma: no cover - a size is an estimate; never fail a compile on it
        return 0


def as_numpy_bitmask(bitmask) -> np.ndarray:
    """A numpy int32 view of a CPU bitmask (numpy array or torch tensor), without copying."""
    if isinstance(bitmask, np.ndarray):
        return bitmask
    if hasattr(bitmask, "numpy"):
        if getattr(bitmask, "is_cuda", False):
            raise ValueError("fill_mask writes host memory: pass a CPU bitmask, then copy it "
                             "to the device (non_blocking) once per step")
        return bitmask.numpy()
    raise TypeError(f"bitmask must be a numpy array or a torch tensor, not {type(bitmask).__name__}")


def as_token_id(token_id) -> int:
    """``token_id`` as a Python int; ``TypeError`` for anything that is not an integer (floats
    such as ``12.5`` or ``12.0``, bools, strings; numpy integers and 0-d integer tensors pass).
    ``allows`` answers False for integers outside the vocabulary. About 0.1 us."""
    if isinstance(token_id, (bool, np.bool_)):
        raise TypeError("token id must be an integer, not bool")
    try:
        return operator.index(token_id)
    except TypeError:
        raise TypeError(f"token id must be an integer, not {type(token_id).__name__}") from None


def check_token_id(token_id, size: int) -> int:
    """``token_id`` as a Python int in ``[0, size)``: `as_token_id`, then ``ValueError`` for an id
    outside the vocabulary (what ``advance`` and id arguments use)."""
    t = as_token_id(token_id)
    if not 0 <= t < size:
        raise ValueError(f"token id {t} out of range [0, {size})")
    return t


def check_bitmask_row(bitmask, row, words: int) -> np.ndarray:
    """The numpy view of ``bitmask`` after checking it can take a mask in row ``row``.

    ``bitmask`` must be a writable 2-D int32 (or uint32) numpy array or CPU tensor with at least
    ``words`` columns (extra columns are the caller's to zero); ``row`` an integer in
    ``[0, rows)`` (negative rows are refused, not wrapped). ``TypeError`` for a wrong type or
    dtype, ``ValueError`` for a wrong shape or row."""
    arr = bitmask if type(bitmask) is np.ndarray else as_numpy_bitmask(bitmask)
    if arr.dtype != np.int32 and arr.dtype != np.uint32:
        raise TypeError(f"bitmask must have dtype int32 (allocate_bitmask), not {arr.dtype}")
    if arr.ndim != 2 or arr.shape[1] < words:
        raise ValueError(f"bitmask must have shape [rows, >= {words}], got {tuple(arr.shape)}")
    if not arr.flags.writeable:
        raise ValueError("bitmask is read-only")
    if isinstance(row, (bool, np.bool_)):
        raise TypeError("row must be an integer, not bool")
    try:
        r = operator.index(row)
    except TypeError:
        raise TypeError(f"row must be an integer, not {type(row).__name__}") from None
    if not 0 <= r < arr.shape[0]:
        raise ValueError(f"row {r} out of range for a bitmask of {arr.shape[0]} rows")
    return arr


def checked_bitmask_row(bitmask, row, words: int) -> tuple:
    """``(bitmask, row)`` ready for a matcher of width ``words``: `check_bitmask_row`'s checks
    (typed errors), ``row`` as an int; a bitmask with more than ``words`` columns gets the extra
    columns of ``row`` zeroed (ids past the vocabulary are never allowed) and comes back as a
    ``words``-column numpy view. Others come back as given (a tensor stays a tensor) and are
    remembered, so the next call with the same bitmask passes a matcher's fast path (identity,
    row and width tests on `_LAST_CHECKED`)."""
    arr = check_bitmask_row(bitmask, row, words)
    row = operator.index(row)
    if arr.shape[1] > words:
        arr[row, words:] = 0
        return arr[:, :words], row
    _LAST_CHECKED[0] = (bitmask, arr.shape[0], words)
    return bitmask, row


def __getattr__(name: str):
    if name == "Completable":  # moved to constrain.completable (kept importable from here)
        from .completable import Completable
        return Completable
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

