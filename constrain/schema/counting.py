"""Counted repetition in O(log N) rules: ``X{n}``, ``X{0,d}``, ``X{lo,hi}`` built from doubling
rules, so ``maxLength: 2147483647`` or ``maxItems: 1000000`` cost a few dozen rules, not N.

``E_k`` derives exactly ``2^k`` copies (``E_{k+1} -> E_k E_k``); ``L_k`` derives ``0 .. 2^k - 1``
copies (``L_{k+1} -> L_k | E_k L_k``); ``X{0,d}`` with ``2^k <= d`` is ``L_k | E_k X{0,d-2^k}``.
Every alternative covers a disjoint range of counts, so each count has exactly one derivation
(no ambiguity for the Earley parser), and a parse keeps O(log N) items per position: the
instances of ``E_j`` alive at a position are aligned on multiples of ``2^j``.
"""

from __future__ import annotations

__all__ = ["CountingMixin"]


class CountingMixin:
    """Needs ``nt``/``rule`` and a ``counted`` dict (the memo of symbols per (X, count)) from the
    compiler core."""

    def _count_memo(self) -> dict:
        return self.counted

    def epsilon(self) -> str:
        """A symbol deriving only the empty string."""
        memo = self._count_memo()
        if "eps" not in memo:
            memo["eps"] = e = self.nt("eps")
            self.rule(e)
        return memo["eps"]

    def power(self, x: str, k: int) -> str:
        """``x`` repeated exactly ``2^k`` times."""
        if k == 0:
            return x
        memo = self._count_memo()
        key = ("E", x, k)
        if key not in memo:
            half = self.power(x, k - 1)
            memo[key] = e = self.nt("pow")
            self.rule(e, half, half)
        return memo[key]

    def below_power(self, x: str, k: int) -> str:
        """``x`` repeated 0 .. 2^k - 1 times."""
        if k == 0:
            return self.epsilon()
        memo = self._count_memo()
        key = ("L", x, k)
        if key not in memo:
            prev = self.below_power(x, k - 1)
            memo[key] = a = self.nt("upto")
            self.rule(a, prev)
            self.rule(a, self.power(x, k - 1), prev)
        return memo[key]

    def exactly(self, x: str, n: int) -> str:
        """``x`` repeated exactly ``n`` times (n >= 0): one rule over the powers of n's bits."""
        if n == 0:
            return self.epsilon()
        parts = [self.power(x, k) for k in range(n.bit_length()) if n >> k & 1]
        if len(parts) == 1:
            return parts[0]
        memo = self._count_memo()
        key = ("X", x, n)
        if key not in memo:
            memo[key] = a = self.nt("times")
            self.rule(a, *parts)
        return memo[key]

    def up_to(self, x: str, d: int) -> str:
        """``x`` repeated 0 .. d times (d >= 0)."""
        if d == 0:
            return self.epsilon()
        k = d.bit_length() - 1  # 2^k <= d < 2^(k+1)
        if d == (1 << (k + 1)) - 1:
            return self.below_power(x, k + 1)
        memo = self._count_memo()
        key = ("U", x, d)
        if key not in memo:
            memo[key] = a = self.nt("upto")
            self.rule(a, self.below_power(x, k))
            self.rule(a, self.power(x, k), self.up_to(x, d - (1 << k)))
        return memo[key]

    def star(self, x: str) -> str:
        """``x`` repeated any number of times (left-recursive, unambiguous)."""
        memo = self._count_memo()
        key = ("S", x)
        if key not in memo:
            memo[key] = a = self.nt("star")
            self.rule(a)
            self.rule(a, a, x)
        return memo[key]

    def between(self, x: str, lo: int, hi: int | None) -> str:
        """``x`` repeated lo .. hi times (hi None: unbounded)."""
        rest = self.star(x) if hi is None else self.up_to(x, hi - lo)
        if lo == 0:
            return rest
        a = self.nt("rep")
        self.rule(a, self.exactly(x, lo), rest)
        return a
