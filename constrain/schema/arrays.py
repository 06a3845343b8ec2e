"""Arrays: ``items``/``prefixItems``/``additionalItems``, ``minItems``/``maxItems``, ``contains``."""

from __future__ import annotations

from .common import _ptr_join


class ArraysMixin:
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
            self.unsupported("uniqueItems", ptr)
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
            return self.array_contains(s, contains, P, R, rest, mn, mx, ptr, base)
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

    def array_contains(self, s, contains, P, R, rest, mn, mx, ptr, base):
        cptr = _ptr_join(ptr, "contains")
        minc = s.get("minContains", 1)
        maxc = s.get("maxContains")
        if maxc is not None:
            self.unsupported("maxContains", ptr)
        if minc == 0:
            return self.array_body(P, R, mn, mx)
        if contains is False:
            return None
        if P or mn > 1 or mx is not None or minc != 1 or R is None:
            self.unsupported("contains", cptr, "contains together with prefixItems, minItems > 1, "
                             "maxItems or minContains")
            return self.array_body(P, R, mn, mx)
        merged = self.merge_allof({"allOf": [rest if rest is not None else True, contains]}, cptr, base) \
            if rest not in (True, {}) else contains
        C = self.gen(merged, cptr, base) if merged is not False else None
        if C is None:
            return None
        comma = self.P[","]
        pre = self.nt("pre")  # (R ,)*
        self.rule(pre)
        self.rule(pre, pre, R, comma)
        post = self.nt("post")  # (, R)*
        self.rule(post)
        self.rule(post, post, comma, R)
        body = self.nt("arr")
        self.rule(body, self.P["["], pre, C, post, self.P["]"])
        return body
