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
        comma = self.P[","]
        k = len(P)
        F = max(k, mn)

        def item(i):
            return P[i] if i < k else R

        # tail after F items
        if R is None or (mx is not None and mx <= F):
            tail_first = tail_more = self.nt("eps")
            self.rule(tail_first)
        elif mx is None:
            lst = self.nt("list")
            self.rule(lst, R)
            self.rule(lst, lst, comma, R)
            tail_first = self.nt("tail")
            self.rule(tail_first)
            self.rule(tail_first, lst)
            lst2 = self.nt("list")  # after at least one item: (, R)*
            self.rule(lst2)
            self.rule(lst2, lst2, comma, R)
            tail_more = lst2
        else:
            n = mx - F
            chain = self.nt("ch")
            self.rule(chain)
            for _ in range(n - 1):
                c2 = self.nt("ch")
                self.rule(c2)
                self.rule(c2, comma, R, chain)
                chain = c2
            tail_more = self.nt("ch")
            self.rule(tail_more)
            self.rule(tail_more, comma, R, chain)
            tail_first = self.nt("ch")
            self.rule(tail_first)
            self.rule(tail_first, R, chain)
        # optional prefix items m..F-1 (only when k > mn)
        nxt = tail_more
        for i in range(F - 1, mn - 1, -1):
            O = self.nt("opt")
            self.rule(O)
            if i == 0:
                self.rule(O, item(0), nxt)
            else:
                self.rule(O, comma, item(i), nxt)
            nxt = O
        req = []
        for i in range(mn):
            if i:
                req.append(comma)
            req.append(item(i))
        body = self.nt("arr")
        if mn == 0 and F == 0:
            after = tail_first
        elif mn == 0:
            after = nxt  # optional chain starting at index 0 (first item has no comma)
        else:
            after = nxt if F > mn else tail_more
        if mn == 0 and F == 0:
            self.rule(body, self.P["["], after, self.P["]"])
        else:
            self.rule(body, self.P["["], *req, after, self.P["]"])
        if mn == 0:
            pass
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
