"""A small thread-safe LRU cache bounded by entries and bytes, for automata shared across
grammars (schema terminals recur across schemas: string-length DFAs, key-set complements)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable

__all__ = ["BoundedCache"]


class BoundedCache:
    """``get_or_build(key, build, nbytes)``: the cached value for ``key``, else ``build()`` stored
    (least recently used entries evicted past ``max_entries`` or ``max_bytes``; a value larger
    than ``max_bytes`` is returned uncached). Values are shared: callers must not mutate them."""

    def __init__(self, max_entries: int = 512, max_bytes: int = 64 << 20):
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._data: OrderedDict = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get_or_build(self, key: Hashable, build: Callable[[], Any], nbytes: Callable[[Any], int]) -> Any:
        with self._lock:
            hit = self._data.get(key)
            if hit is not None:
                self._data.move_to_end(key)
                return hit[0]
        value = build()  # outside the lock: builds may be slow, a race builds twice (same value)
        size = int(nbytes(value))
        if size > self.max_bytes:
            return value
        with self._lock:
            if key not in self._data:
                self._data[key] = (value, size)
                self._bytes += size
                while len(self._data) > self.max_entries or self._bytes > self.max_bytes:
                    _, (_, s) = self._data.popitem(last=False)
                    self._bytes -= s
            return self._data[key][0]

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._data)
