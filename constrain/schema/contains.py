"""``contains`` with ``minContains``/``maxContains`` beside ``prefixItems``/``items`` and
``minItems``/``maxItems``, exactly: a counter over (items so far, matches so far).

Each item is either a *match* (its item schema ∧ ``contains``) or a *non-match*. Without an
upper bound on matches, a non-match may be any item (the grammar is then ambiguous, which does
not change its language: "at least k items match among any items"). With ``maxContains`` a
non-match must fail ``contains``: its item schema ∧ ¬``contains``, which needs the exact
negation of `CombinatorsMixin.negate_condition`; when there is none, ``maxContains`` is refused.

Grammar size: one nonterminal per (item index, match count) pair, the index capped at
``max(len(prefixItems), minItems, 1)`` when ``maxItems`` is absent and the count at
``maxContains`` (or ``minContains``); more than `CONTAINS_STATES_MAX` pairs is refused.
"""

from __future__ import annotations

from .common import _ptr_join

CONTAINS_STATES_MAX = 20_000


def _count(v, name: str, invalid, ptr: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or (isinstance(v, float)
                                                                             and not v.is_integer()):
        raise invalid(f"{name} must be a non-negative integer", ptr, name)
    return int(v)


class ContainsMixin:
    def contains_bounds(self, s: dict, ptr: str) -> tuple[int, int | None]:
        """(minContains, maxContains); both keywords exist from draft 2019-09 on (earlier drafts
        ignore them as unknown keywords)."""
        if self.draft < 2019:
            return 1, None
        minc = _count(s.get("minContains", 1), "minContains", self.invalid, ptr)
        maxc = s.get("maxContains")
        return minc, (None if maxc is None else _count(maxc, "maxContains", self.invalid, ptr))

    def array_contains(self, s, contains, prefix, P, R, rest, mn, mx, ptr, base) -> str | None:
        """The array of ``array_body(P, R, mn, mx)`` with ``minContains``..``maxContains`` items
        matching ``contains`` (``prefix``: the raw schemas of ``P``; ``rest``: of ``R``)."""
        cptr = _ptr_join(ptr, "contains")
        minc, maxc = self.contains_bounds(s, ptr)
        if maxc is not None and minc > maxc:
            return None
        if contains is True or contains == {}:  # every item matches: a bound on the item count
            lo = max(mn, minc)
            hi = maxc if mx is None else (mx if maxc is None else min(mx, maxc))
            return None if hi is not None and lo > hi else self.array_body(P, R, lo, hi)
        if contains is False:
            return self.array_body(P, R, mn, mx) if minc == 0 else None
        if minc == 0 and maxc is None:
            return self.array_body(P, R, mn, mx)
        neg = None
        if maxc is not None:
            neg = self.negate_condition(self.deref_full(contains, base, cptr))
            if neg is None:
                self.unsupported("maxContains", ptr, "'contains' is not a condition whose negation is "
                                 "exact (type, const/enum, required, properties of const/enum/type)")
                maxc = None  # lenient: only the lower bound is enforced
                if minc == 0:
                    return self.array_body(P, R, mn, mx)
        cap = max(len(P), mn, 1) if mx is None else mx
        ccap = minc if maxc is None else maxc
        if (cap + 1) * (ccap + 1) > CONTAINS_STATES_MAX:
            self.unsupported("contains", ptr, f"counting {cap} items x {ccap} matches exceeds "
                             f"{CONTAINS_STATES_MAX} grammar states")
            return self.array_body(P, R, mn, mx)
        pairs: dict = {}

        def pair(i: int):
            """(non-match symbol, match symbol) of item ``i`` (None: no such item / none)."""
            key = min(i, len(P))
            if key not in pairs:
                if i >= len(P) and R is None:
                    pairs[key] = (None, None)
                else:
                    raw, plain = (prefix[i], P[i]) if i < len(P) else (rest, R)
                    pairs[key] = (self._item_and(raw, neg, cptr, base) if maxc is not None else plain,
                                  self._item_and(raw, contains, cptr, base))
            return pairs[key]

        return self._contains_grammar(pair, len(P), minc, maxc, mn, mx, ptr)

    def _item_and(self, item, extra, ptr: str, base: str) -> str | None:
        """The symbol of ``item ∧ extra`` (None: unsatisfiable)."""
        if extra is False:
            return None
        merged = self.merge_allof({"allOf": [item, extra]}, ptr, base)
        return None if merged is False else self.gen(merged, ptr, base)

    def _contains_grammar(self, pair, k: int, minc: int, maxc: int | None, mn: int, mx: int | None,
                          ptr: str) -> str:
        """``[`` items ``]`` through the (index, count) states of the module docstring."""
        comma = self.P[","]
        cap = max(k, mn, 1) if mx is None else mx
        ccap = minc if maxc is None else maxc
        names: dict = {}

        def state(i: int, c: int) -> str:
            if (i, c) not in names:
                names[(i, c)] = self.nt("cnt")
            return names[(i, c)]

        for i in range(cap + 1):
            for c in range(ccap + 1):
                A = state(i, c)
                nxt_c = c + 1 if maxc is not None else min(c + 1, ccap)
                can_match = maxc is None or c < maxc
                if mx is None and i == cap:  # saturated index: (, non-match)* then maybe a match
                    Y, M = pair(i)
                    loop = self.star(self.seq([comma, Y], "citem")) if Y is not None else self.epsilon()
                    if maxc is None and c == ccap:
                        self.rule(A, loop)
                        continue
                    B = self.nt("cnt")
                    self.rule(A, loop, B)
                    if c >= minc:
                        self.rule(B)
                    if M is not None and can_match:
                        self.rule(B, comma, M, state(i, nxt_c))
                    continue
                if i >= mn and c >= minc:
                    self.rule(A)
                if mx is not None and i >= mx:
                    continue
                Y, M = pair(i)
                sep = [] if i == 0 else [comma]
                ni = i + 1
                if Y is not None:
                    self.rule(A, *sep, Y, state(ni, c))
                if M is not None and can_match:
                    self.rule(A, *sep, M, state(ni, nxt_c))
        body = self.nt("arr")
        self.rule(body, self.P["["], state(0, 0), self.P["]"])
        return body
