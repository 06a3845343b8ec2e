"""Code-point ranges → UTF-8 byte-range sequences.

``sequences(lo, hi)`` yields lists of byte ranges ``[(b0lo, b0hi), (b1lo, b1hi), ...]`` whose
concatenations are exactly the UTF-8 encodings of the code points in ``[lo, hi]`` (surrogates
excluded). The split follows the standard construction (as in RE2 and Rust's regex-syntax): first by
encoded length, then so that every continuation byte spans a full or single range.
"""

from __future__ import annotations

from typing import Iterator

_LENGTH_BOUNDS = (0x7F, 0x7FF, 0xFFFF)


def _encode(c: int) -> bytes:
    return chr(c).encode("utf-8")


def sequences(lo: int, hi: int) -> Iterator[list[tuple[int, int]]]:
    stack = [(lo, hi)]
    while stack:
        lo, hi = stack.pop()
        if lo > hi:
            continue
        if lo <= 0xDFFF and hi >= 0xD800:  # surrogates have no encoding
            stack.append((0xE000, hi))
            stack.append((lo, 0xD7FF))
            continue
        split = False
        for b in _LENGTH_BOUNDS:
            if lo <= b < hi:
                stack.append((b + 1, hi))
                stack.append((lo, b))
                split = True
                break
        if split:
            continue
        if hi <= 0x7F:
            yield [(lo, hi)]
            continue
        for i in range(1, 4):
            m = (1 << (6 * i)) - 1
            if (lo & ~m) != (hi & ~m):
                if lo & m:
                    stack.append(((lo | m) + 1, hi))
                    stack.append((lo, lo | m))
                    split = True
                    break
                if (hi & m) != m:
                    stack.append((hi & ~m, hi))
                    stack.append((lo, (hi & ~m) - 1))
                    split = True
                    break
        if split:
            continue
        a, b = _encode(lo), _encode(hi)
        yield list(zip(a, b))
