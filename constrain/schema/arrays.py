"""Arrays: ``items``/``prefixItems``/``additionalItems``, ``minItems``/``maxItems``, ``contains``."""

from __future__ import annotations

from .common import _META, _json_eq, _json_type, _ptr_join

_ALL_TYPES = ("null", "boolean", "object", "array", "number", "string")


_UNIQUE_DOMAIN_MAX = 8  # uniqueItems over at most this many item values: 2^n states


class ArraysMixin:
    def finite_domain(self, items, base) -> list | None:
        """The distinct values an item schema allows when it lists them (``enum``/``const``,
        ``boolean``, ``null``; at most `_UNIQUE_DOMAIN_MAX`), else None. Values still go
        through the schema's other keywords (`value_ok`) in `unique_array`."""
        b = self.deref(items, base)
        if not isinstance(b, dict):
            return None
        if "const" in b or "enum" in b:
            vals = [b["const"]] if "const" in b else b["enum"]
            if not isinstance(vals, list):
                return None
        elif b.get("type") in ("boolean", "null", ["boolean"], ["null"]) and set(b) <= {"type", *_META}:
            vals = [True, False] if "boolean" in str(b["type"]) else [None]
        else:
            return None
        out = []
        for v in vals:
            if not any(_json_eq(v, w) for w in out):
                out.append(v)
        return out if len(out) <= _UNIQUE_DOMAIN_MAX else None

    def unique_array(self, values: list, s: dict, mn: int, mx: int | None, ptr: str) -> str | None:
        """``uniqueItems`` over a finite item domain, exactly: a state per set of values used so
        far; each value (in any of its JSON spellings) at most once, minItems/maxItems on the
        set's size."""
        items = s.get("items", True)
        types = self.types_of(items, ptr) if isinstance(items, dict) else list(_ALL_TYPES)
        lits = [self.rx(self.literal_pattern(v)) for v in values
                if not isinstance(items, dict) or self.value_ok(v, items, ptr, "")
                and (_json_type(v) in types or (_json_type(v) == "integer" and "number" in types))]
        comma = self.P[","]
        memo: dict = {}

        def state(mask: int, count: int) -> str:
            if mask not in memo:
                A = memo[mask] = self.nt("uniq")
                if count >= mn:
                    self.rule(A)
                if mx is None or count < mx:
                    for i, lit in enumerate(lits):
                        if not mask >> i & 1:
                            self.rule(A, *([comma] if mask else []), lit, state(mask | 1 << i, count + 1))
            return memo[mask]

        body = self.nt("arr")
        self.rule(body, self.P["["], state(0, 0), self.P["]"])
        return body

    # -- arrays ------------------------------------------------------------------------------------------
    def array(self, s, ptr, base) -> str | None:
        items = s.get("items")
        prefix = s.get("prefixItems")
        if isinstance(items, list):  # draft <= 2019 tuple form
            prefix, rest, rest_ptr = items, s.get("additionalItems", True), _ptr_join(ptr, "additionalItems")
        else:
            rest, rest_ptr = (items if items is not None else True), _ptr_join(ptr, "items")
            if prefix is None:
                prefix = []
        mn = s.get("minItems", 0)
        mx = s.get("maxItems")
        for k, v in (("minItems", mn), ("maxItems", mx)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0):
                raise self.invalid(f"{k} must be a non-negative integer", ptr)
        mn, mx = int(mn), (None if mx is None else int(mx))
        if s.get("uniqueItems") is True and not (mx is not None and mx <= 1):
            values = None if prefix or "contains" in s else self.finite_domain(rest, base)
            if values is not None:
                return self.unique_array(values, s, mn, mx, ptr)
            self.unsupported("uniqueItems", ptr, "items from an infinite or large domain")
        contains = s.get("contains")
        P = [self.gen(p, _ptr_join(ptr, "prefixItems" if "prefixItems" in s else "items", i), base)
             for i, p in enumerate(prefix)]
        R = self.gen(rest, rest_ptr, base)
        # the prefix is cut at the first unsatisfiable item
        for i, p in enumerate(P):
            if p is None:
                P = P[:i]
                mx = i if mx is None else min(mx, i)
                R = None
                break
        if R is None:
            mx = len(P) if mx is None else min(mx, len(P))
        if mx is not None and mn > mx:
            return None
        if contains is not None:
            return self.array_contains(s, contains, prefix[:len(P)], P, R, rest, mn, mx, ptr, base)
        return self.array_body(P, R, mn, mx)

    def array_body(self, P, R, mn, mx) -> str:
        """``[`` the prefix items ``P`` (each required up to ``mn``), then items ``R``, ``mn`` to
        ``mx`` items in all (``R`` None: no more items). Counts cost O(log) rules."""
        comma = self.P[","]
        k = len(P)
        F = max(k, mn)
        cr = None if R is None else self.seq([comma, R], "citem")  # ", R"
        # after F items: more R items, each after a comma (tail_more) or, at index 0, without one
        if R is None or (mx is not None and mx <= F):
            tail_first = tail_more = self.epsilon()
        else:
            n = None if mx is None else mx - F
            tail_more = self.between(cr, 0, n)
            more = self.star(cr) if n is None else self.up_to(cr, n - 1)
            tail_first = self.alt([self.epsilon(), self.seq([R, more], "items")], "items")
        # optional prefix items mn..F-1 (only when k > mn)
        nxt = tail_more
        for i in range(F - 1, mn - 1, -1):
            opt = self.nt("opt")
            self.rule(opt)
            self.rule(opt, *([P[i]] if i == 0 else [comma, P[i]]), nxt)
            nxt = opt
        req = []  # the first mn items
        for i in range(min(k, mn)):
            req += [P[i]] if i == 0 else [comma, P[i]]
        if mn > k:
            first = 0 if k else 1
            if not k:
                req.append(R)
            if mn - k - first:
                req.append(self.exactly(cr, mn - k - first))
        if mn == 0:
            after = tail_first if F == 0 else nxt
        else:
            after = nxt if F > mn else tail_more
        body = self.nt("arr")
        self.rule(body, self.P["["], *req, after, self.P["]"])
        return body
