"""A disk cache of compiled constraints shared by processes (serving workers, restarts).

An entry is a pickled `CompiledConstraint` keyed by (constraint type and key, vocabulary
fingerprint, library version and source digest). The vocabulary is not stored in entries: it is
pickled by reference and replaced, on load, by the caller's `Vocabulary` (whose fingerprint is in
the key), so an entry costs only the constraint's own arrays and loads in milliseconds. Writes are
atomic (a temporary file, then ``os.replace``), so concurrent processes may share a directory. The
directory is bounded by ``max_bytes``: after each write the least recently used entries (by file
modification time, refreshed on every hit) are deleted.

Use it explicitly (``DiskCache(path).compile(constraint, vocab)``) or for every ``compile`` call
of the process with `enable_disk_cache` (or the ``CONSTRAIN_CACHE_DIR`` environment variable).
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import pickle
import tempfile
import time
from pathlib import Path

from .matcher import CompiledConstraint, Constraint
from .vocab import Vocabulary

__all__ = ["DiskCache", "enable_disk_cache", "disable_disk_cache", "stable_key", "library_digest"]

CACHE_FORMAT = 5  # 5: walkers carry their DFA-state covers (`grammar_kernels.dfa_cover`); 4: native signature table, no Python templates; 3: engines carry `tables.EarleyTables` (the numba Earley core); 2: the grammar engine split into modules
DEFAULT_MAX_BYTES = 2 << 30  # 2 GiB
_SUFFIX = ".pkl"


@functools.lru_cache(maxsize=None)
def library_digest() -> str:
    """``__version__`` plus a digest of the package's Python sources: an entry written by other
    code is never loaded (pickled layouts change between commits of one version)."""
    from . import __version__

    h = hashlib.sha256(f"constrain {__version__} format {CACHE_FORMAT}\0".encode())
    root = Path(__file__).resolve().parent
    for p in sorted(root.rglob("*.py")):
        h.update(str(p.relative_to(root)).encode() + b"\0")
        h.update(p.read_bytes())
    return h.hexdigest()[:24]


def stable_key(constraint: Constraint) -> str:
    """A text key of ``constraint`` that is equal across processes (``cache_key()`` may hold ids,
    e.g. a grammar built from the IR: its IR's text is used instead)."""
    from .grammar.api import Grammar

    key = constraint.cache_key()
    if isinstance(constraint, Grammar) and constraint.text is None:
        key = ("cfg", repr(constraint.cfg), constraint.limits)
    return f"{type(constraint).__module__}.{type(constraint).__qualname__}:{key!r}"


class _Pickler(pickle.Pickler):
    def __init__(self, file, vocab: Vocabulary):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._refs = _vocab_refs(vocab)

    def persistent_id(self, obj):
        return self._refs.get(id(obj))


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, vocab: Vocabulary):
        super().__init__(file)
        self._objs = {name: getattr(vocab, attr) for name, attr in _REF_ATTRS.items()}
        self._objs["vocab"] = vocab

    def persistent_load(self, pid):
        try:
            return self._objs[pid]
        except KeyError:
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r}") from None


_REF_ATTRS = {"trie": "trie", "token_bytes": "token_bytes", "eos_ids": "eos_ids"}


def _vocab_refs(vocab: Vocabulary) -> dict[int, str]:
    refs = {id(getattr(vocab, attr)): name for name, attr in _REF_ATTRS.items()}
    refs[id(vocab)] = "vocab"
    return refs


class DiskCache:
    """Compiled constraints on disk, bounded by ``max_bytes`` (LRU by modification time).

    ``get`` costs one file read and an unpickle (no compile); ``put`` a pickle and an atomic
    rename, then a directory scan when the budget may be exceeded. A corrupt or stale entry is a
    miss (and is deleted), never an error.
    """

    def __init__(self, directory: str | os.PathLike | None = None, *, max_bytes: int = DEFAULT_MAX_BYTES):
        if directory is None:
            directory = os.environ.get("CONSTRAIN_CACHE_DIR") or os.path.join(
                os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "constrain")
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, not {max_bytes}")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes = int(max_bytes)
        self.hits = self.misses = 0

    def path_for(self, constraint: Constraint | str, vocab: Vocabulary) -> Path:
        """The entry's file; ``constraint`` may be a text key of the caller's own (e.g. a serving
        spec's canonical text), so a hit needs no constraint object at all."""
        key = constraint if isinstance(constraint, str) else stable_key(constraint)
        h = hashlib.sha256()
        for part in (key, vocab.fingerprint, library_digest()):
            h.update(part.encode("utf-8", "surrogatepass") + b"\0")
        return self.directory / (h.hexdigest() + _SUFFIX)

    def get(self, constraint: Constraint | str, vocab: Vocabulary) -> CompiledConstraint | None:
        """The stored compile of ``constraint`` (or of a text key), or None."""
        path = self.path_for(constraint, vocab)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            self.misses += 1
            return None
        try:
            compiled = _Unpickler(io.BytesIO(data), vocab).load()
        except Exception:  # stale layout, truncated file: a miss, and the entry goes
            self.misses += 1
            path.unlink(missing_ok=True)
            return None
        self.hits += 1
        try:
            os.utime(path)
        except OSError:
            pass
        return compiled

    def put(self, constraint: Constraint | str, vocab: Vocabulary, compiled: CompiledConstraint) -> Path:
        """Store ``compiled`` (a regex's background row build is waited for first, so the entry
        holds every row)."""
        wait = getattr(compiled, "wait_ready", None)
        if wait is not None:
            wait()
        buf = io.BytesIO()
        _Pickler(buf, vocab).dump(compiled)
        path = self.path_for(constraint, vocab)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(buf.getbuffer())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._evict()
        return path

    def compile(self, constraint: Constraint, vocab: Vocabulary) -> CompiledConstraint:
        """``constraint`` compiled against ``vocab``: from disk when present, else compiled and stored."""
        compiled = self.get(constraint, vocab)
        if compiled is None:
            compiled = constraint.compile(vocab, cache=False)
            self.put(constraint, vocab, compiled)
        return compiled

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.directory.glob("*" + _SUFFIX))

    def clear(self) -> None:
        for p in self.directory.glob("*" + _SUFFIX):
            p.unlink(missing_ok=True)

    def _evict(self) -> None:
        entries = []
        for p in self.directory.glob("*" + _SUFFIX):
            try:
                st = p.stat()
            except FileNotFoundError:  # removed by another process
                continue
            entries.append((st.st_mtime, st.st_size, p))
        total = sum(e[1] for e in entries)
        for _, size, p in sorted(entries):
            if total <= self.max_bytes:
                break
            p.unlink(missing_ok=True)
            total -= size
        # stale temporary files of crashed writers
        now = time.time()
        for p in self.directory.glob(".tmp-*"):
            try:
                if now - p.stat().st_mtime > 3600:
                    p.unlink(missing_ok=True)
            except FileNotFoundError:
                pass


def enable_disk_cache(directory: str | os.PathLike | None = None, *,
                      max_bytes: int = DEFAULT_MAX_BYTES) -> DiskCache:
    """Make every ``Constraint.compile(vocab)`` of this process (in-process cache misses only)
    read and write ``directory``. Returns the cache."""
    cache = DiskCache(directory, max_bytes=max_bytes)
    Constraint.disk_cache = cache
    return cache


def disable_disk_cache() -> None:
    Constraint.disk_cache = None
