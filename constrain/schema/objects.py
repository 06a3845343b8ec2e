"""Objects: ``properties``, ``required``, ``additionalProperties``, ``patternProperties``,
``propertyNames``, ``min/maxProperties``; keys in declaration order or any order."""

from __future__ import annotations

import re

from ..regex import charset as cs
from ..regex import parser as rxp
from ..regex.automata import build_dfa, same_language
from .errors import SchemaLimitExceeded
from .common import _ANY_ORDER_REQUIRED_MAX, _KNOWN, _json_eq, _ptr_join
from .jsontext import _ANY_DFA, _ANY_TREE, _not_keys_pattern, _tree_json, _tree_len


def _tree_fullmatch_key(pnames, name: str) -> bool:
    """Whether a declared key satisfies a propertyNames schema (checked with jsonschema semantics)."""
    if not isinstance(pnames, dict):
        return bool(pnames)
    try:
        import jsonschema
        return jsonschema.Draft202012Validator(pnames, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER).is_valid(name)
    except Exception:  # pragma: no cover
        return True


class ObjectsMixin:
    # -- objects -----------------------------------------------------------------------------------------
    def key_pattern(self, name: str) -> str:
        return self.string_literal(name) + self.colon

    def obj(self, s, ptr, base) -> str | None:
        props = s.get("properties", {})
        if not isinstance(props, dict):
            raise self.invalid("properties must be an object", ptr)
        req = s.get("required", [])
        if not isinstance(req, list):
            raise self.invalid("required must be an array", ptr)
        if self.draft <= 3:
            req = [k for k, v in props.items() if isinstance(v, dict) and v.get("required") is True]
        pprops = s.get("patternProperties") or {}
        addl = s.get("additionalProperties", True)
        pnames = s.get("propertyNames")
        forbidden = set(s.get("_forbidden", []))
        minp = s.get("minProperties", 0)
        maxp = s.get("maxProperties")
        req = list(dict.fromkeys(req))
        # propertyNames restricts declared keys too
        pn_tree = None
        if pnames is not None and pnames is not True and pnames != {}:
            if pnames is False:
                if req:
                    return None
                return self.seq([self.P["{"], self.P["}"]], "obj")
            pn_tree = self.key_tree(pnames, _ptr_join(ptr, "propertyNames"), base)
        declared = []
        for name, sub in props.items():
            if name in forbidden:
                if name in req:
                    return None
                continue
            if pn_tree is not None and not _tree_fullmatch_key(pnames, name):
                if name in req:
                    return None
                continue
            sym = self.gen(sub, _ptr_join(ptr, "properties", name), base)
            for pat, psub in pprops.items():
                if re.search(pat, name):
                    # the value must also satisfy the pattern's schema
                    merged = self.merge_allof({"allOf": [sub, psub]}, _ptr_join(ptr, "properties", name), base)
                    sym = self.gen(merged, _ptr_join(ptr, "properties", name), base) if merged is not False else None
            if sym is None:
                if name in req:
                    return None
                continue
            declared.append((name, sym, name in req))
        names = set(props)
        for r in req:
            if r not in names:
                # a required key without a declared schema: it is an extra key that must appear
                sub = addl
                for pat, psub in pprops.items():
                    if re.search(pat, r):
                        sub = psub if sub is True or sub is addl else {"allOf": [sub, psub]}
                if pn_tree is not None and not _tree_fullmatch_key(pnames, r):
                    return None
                if r in forbidden:
                    return None
                sym = self.gen(sub, _ptr_join(ptr, "required"), base)
                if sym is None:
                    return None
                declared.append((r, sym, True))
                names.add(r)
        # extra keys
        extras = []  # (key terminal, value symbol)
        if pprops:
            if len(pprops) > 1:
                pats = list(pprops)
                if any(not _json_eq(pprops[pats[0]], pprops[p]) for p in pats[1:]):
                    self.unsupported("patternProperties", ptr, "several patterns with different schemas "
                                     "(a key may match more than one)")
            if pn_tree is None and self.keys_universal(pprops, ptr):
                # every key matches a pattern: additionalProperties never applies, and the
                # declared keys (whose schemas were merged with the pattern's above) are excluded
                pat, psub = next(iter(pprops.items()))
                v = self.gen(psub, _ptr_join(ptr, "patternProperties", pat), base)
                if v is not None:
                    extras.append((self.rx(_not_keys_pattern(sorted(names | forbidden)) + self.colon), v))
            else:
                for pat, psub in pprops.items():
                    pp = _ptr_join(ptr, "patternProperties", pat)
                    if any(re.search(pat, n) for n in names):
                        self.unsupported("patternProperties", pp, "a declared property matches the pattern")
                        continue
                    if pn_tree is not None:
                        self.unsupported("propertyNames", ptr, "together with patternProperties")
                    tree = self.search_tree(pat, pp)
                    if tree is None:
                        continue
                    body = _tree_json(tree)
                    v = self.gen(psub, pp, base)
                    if body is None or v is None:
                        continue
                    extras.append((self.rx(f'"{body}"' + self.colon), v))
                if addl is not False:
                    self.unsupported("additionalProperties", ptr, "together with patternProperties "
                                     "(keys would have to avoid every pattern)")
        elif addl is not False:
            v = self.gen(addl, _ptr_join(ptr, "additionalProperties"), base)
            if v is not None:
                if pn_tree is not None:
                    if any(_tree_fullmatch_key(pnames, n) for n in names | forbidden):
                        self.unsupported("propertyNames", ptr, "a declared key also satisfies propertyNames")
                    body = _tree_json(pn_tree)
                    if body is not None:
                        extras.append((self.rx(f'"{body}"' + self.colon), v))
                else:
                    excl = names | forbidden
                    extras.append((self.rx(_not_keys_pattern(sorted(excl)) + self.colon), v))
        for k, v in (("minProperties", minp), ("maxProperties", maxp)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0):
                raise self.invalid(f"{k} must be a non-negative integer", ptr)
        minp = int(minp)
        maxp = None if maxp is None else int(maxp)
        nreq = sum(1 for d in declared if d[2])
        if maxp is not None and nreq > maxp:
            return None
        if minp > len(declared) and not extras:
            return None
        if minp > nreq and extras and minp > len(declared):
            self.unsupported("minProperties", ptr, "would need extra keys, which may repeat (JSON "
                             "objects with duplicate keys count once)")
            minp = 0
        if self.o.any_order:
            if minp > nreq or maxp is not None:
                self.unsupported("minProperties" if minp > nreq else "maxProperties", ptr,
                                 "with any_order=True")
            return self.obj_any_order(declared, extras, ptr)
        return self.obj_ordered(declared, extras, minp, maxp)

    def keys_universal(self, pprops: dict, ptr: str) -> bool:
        """Whether every string matches one of the patterns (``re.search``); builds their DFA."""
        trees = [self.search_tree(p, _ptr_join(ptr, "patternProperties", p)) for p in pprops]
        if any(t is None for t in trees):
            return False
        return same_language(build_dfa(rxp.Alt(tuple(trees))), _ANY_DFA)

    def key_tree(self, pnames, ptr, base):
        pn = self.deref(pnames, base)
        if not isinstance(pn, dict):
            return None
        keys = {k for k in pn if k in _KNOWN}
        if keys - {"pattern", "minLength", "maxLength", "format", "type", "enum", "const"}:
            self.unsupported("propertyNames", ptr, f"keywords {sorted(keys)}")
            return _ANY_TREE
        if pn.get("type", "string") not in ("string", ["string"]):
            return rxp.NOTHING
        if "enum" in pn or "const" in pn:
            vals = pn.get("enum", []) + ([pn["const"]] if "const" in pn else [])
            vals = [v for v in vals if isinstance(v, str)]
            return rxp.Alt(tuple(rxp.Concat(tuple(rxp.Chars(((ord(c), ord(c)),)) for c in v)) for v in vals))
        tree = self.string_tree(pn, ptr)
        mn, mx = pn.get("minLength", 0), pn.get("maxLength")
        if tree is None:
            tree = rxp.Repeat(rxp.Chars(cs.ALL), mn, mx)
        elif mn or mx is not None:
            tlo, thi = _tree_len(tree)
            if not (tlo >= mn and (mx is None or thi <= mx)):
                self.unsupported("propertyNames", ptr, "length bounds with a pattern")
        return tree

    def member_rules(self, declared, extras) -> tuple[list[str], str | None]:
        """One rule per declared property (key then value), and one for any extra member."""
        kv = []
        for name, sym, _r in declared:
            K = self.nt("kv")
            self.rule(K, self.rx(self.key_pattern(name)), sym)
            kv.append(K)
        X = None
        if extras:
            X = self.nt("xkv")
            for kt, v in extras:
                self.rule(X, kt, v)
        return kv, X

    def obj_ordered(self, declared, extras, minp, maxp) -> str:
        comma = self.P[","]
        n = len(declared)
        kv, X = self.member_rules(declared, extras)
        counting = minp > 0 or maxp is not None
        B = maxp if maxp is not None else minp  # counts are tracked up to B (capped for min-only)
        memo = {}

        def state(i, c, e):
            """Properties i.. still to come; c counted so far; e: something already emitted."""
            key = (i, c if counting else 0, e)
            if key in memo:
                return memo[key]
            A = self.nt("o")
            memo[key] = A
            if i == n:
                # extra entries
                if X is None:
                    if not counting or c >= minp:
                        self.rule(A)
                elif not counting:
                    lst = self.nt("xl")
                    self.rule(lst, X)
                    self.rule(lst, lst, comma, X)
                    self.rule(A)
                    if e:
                        self.rule(A, comma, lst)
                    else:
                        self.rule(A, lst)
                else:
                    if c >= minp:
                        self.rule(A)
                    if maxp is None and c >= minp:
                        lst = self.nt("xl")
                        self.rule(lst, X)
                        self.rule(lst, lst, comma, X)
                        self.rule(A, *( [comma, lst] if e else [lst]))
                    elif maxp is None or c < maxp:
                        nc = c + 1 if maxp is not None else min(c + 1, B)
                        self.rule(A, *([comma] if e else []), X, state(n, nc, True))
                return A
            name, _sym, required = declared[i]
            nc = c + 1 if maxp is not None else min(c + 1, B)
            if not counting or maxp is None or c < maxp:
                self.rule(A, *([comma] if e else []), kv[i], state(i + 1, nc, True))
            if not required:
                self.rule(A, state(i + 1, c, e))
            return A

        body = state(0, 0, False)
        O = self.nt("obj")
        self.rule(O, self.P["{"], body, self.P["}"])
        return O

    def obj_any_order(self, declared, extras, ptr) -> str:
        comma = self.P[","]
        reqi = [i for i, d in enumerate(declared) if d[2]]
        if len(reqi) > _ANY_ORDER_REQUIRED_MAX:
            raise SchemaLimitExceeded("any_order_required", _ANY_ORDER_REQUIRED_MAX,
                                      "required keys (any_order tracks every subset)",
                                      keyword="required", pointer=ptr)
        bit = {i: 1 << j for j, i in enumerate(reqi)}
        full = (1 << len(reqi)) - 1
        kv, X = self.member_rules(declared, extras)
        memo = {}

        def st(mask, e):
            key = (mask, e)
            if key in memo:
                return memo[key]
            A = self.nt("ao")
            memo[key] = A
            if mask == full:
                self.rule(A)
            pre = [comma] if e else []
            for i in range(len(declared)):
                self.rule(A, *pre, kv[i], st(mask | bit.get(i, 0), True))
            if X is not None:
                self.rule(A, *pre, X, st(mask, True))
            return A

        O = self.nt("obj")
        self.rule(O, self.P["{"], st(0, False), self.P["}"])
        return O
