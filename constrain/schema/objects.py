"""Objects: ``properties``, ``required``, ``additionalProperties``, ``patternProperties``,
``propertyNames``, ``min/maxProperties``; keys in declaration order or any order."""

from __future__ import annotations

import itertools
import re

from ..regex import charset as cs
from ..regex import parser as rxp
from ..regex.automata import build_dfa, same_language
from .errors import SchemaLimitExceeded
from .common import _ANY_ORDER_REQUIRED_MAX, _KNOWN, _json_eq, _ptr_join
from .keysets import TooLarge, key_regions
from .jsontext import _ANY_DFA, _ANY_TREE, _tree_json, _tree_len


def _tree_fullmatch_key(pnames, name: str) -> bool:
    """Whether a declared key satisfies a propertyNames schema (checked with jsonschema semantics)."""
    if not isinstance(pnames, dict):
        return bool(pnames)
    try:
        import jsonschema
        return jsonschema.Draft202012Validator(pnames, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER).is_valid(name)
    except Exception:  # pragma: no cover
        return True


_FREE_ORDER_MAX = 5  # required keys without a declared schema: any order among up to this many
_DEPENDENCY_KEYS_MAX = 5  # keys with dependencies: 2^n object variants (present/absent per key)
_DEPENDENCY_KEYWORDS = ("dependentRequired", "dependentSchemas", "dependencies")


class ObjectsMixin:
    def obj_dependent(self, s: dict, ptr: str, base: str) -> str | None:
        """The object alternative of ``s`` with ``dependentRequired``/``dependentSchemas``/
        ``dependencies`` compiled exactly: one variant per choice of which trigger keys are
        present (present: ``required`` plus the dependency; absent: the key is forbidden), at most
        2^`_DEPENDENCY_KEYS_MAX` variants."""
        deps: dict[str, list] = {}  # trigger key -> schemas that apply when it is present
        for kw in _DEPENDENCY_KEYWORDS:
            v = s.get(kw)
            if v is None:
                continue
            if not isinstance(v, dict):
                raise self.invalid(f"{kw} must be an object", ptr, kw)
            for key, d in v.items():
                if isinstance(d, list):
                    if not all(isinstance(x, str) for x in d):
                        raise self.invalid(f"{kw} lists must hold strings", _ptr_join(ptr, kw, key), kw)
                    if d:
                        deps.setdefault(key, []).append({"required": d})
                elif isinstance(d, (dict, bool)) and kw != "dependentRequired":
                    if d is not True and d != {}:
                        deps.setdefault(key, []).append(d)
                else:
                    raise self.invalid(f"{kw} values must be arrays of keys or schemas",
                                       _ptr_join(ptr, kw, key), kw)
        rest = {k: v for k, v in s.items() if k not in _DEPENDENCY_KEYWORDS}
        if not deps:
            return self.obj(rest, ptr, base)
        if len(deps) > _DEPENDENCY_KEYS_MAX:
            kw = next(k for k in _DEPENDENCY_KEYWORDS if k in s)
            self.unsupported(kw, ptr, f"{len(deps)} keys with dependencies (at most {_DEPENDENCY_KEYS_MAX})")
            return self.obj(rest, ptr, base)
        keys = list(deps)
        syms = []
        for present in itertools.product((True, False), repeat=len(keys)):
            parts = [rest, {"_forbidden": [k for k, p in zip(keys, present) if not p]}]
            for k, p in zip(keys, present):
                if p:
                    parts += [{"required": [k]}] + deps[k]
            merged = self.merge_allof({"allOf": parts}, ptr, base)
            if merged is not False:
                syms.append(self.gen({**merged, "type": "object"}, ptr, base))
        return self.alt(syms, "deps")

    # -- objects -----------------------------------------------------------------------------------------
    def key_pattern(self, name: str) -> str:
        return self.string_literal(name) + self.colon

    def obj(self, s, ptr, base) -> str | None:
        """An object: declared properties (in ``properties`` order), then required keys without a
        declared schema (in any order among themselves), then extra members (additional or
        pattern properties), with ``min/maxProperties`` counted."""
        props, req, forbidden = self.object_keywords(s, ptr)
        pnames = s.get("propertyNames")
        pn_tree = None
        if pnames is not None and pnames is not True and pnames != {}:
            if pnames is False:
                return None if req else self.seq([self.P["{"], self.P["}"]], "obj")
            pn_tree = self.key_tree(pnames, _ptr_join(ptr, "propertyNames"), base)
        pprops = s.get("patternProperties") or {}
        declared = self.declared_members(props, req, forbidden, pprops, pnames if pn_tree is not None else None,
                                         ptr, base)
        if declared is None:
            return None
        undeclared = self.required_members(s, props, req, forbidden, pprops,
                                           pnames if pn_tree is not None else None, ptr, base)
        if undeclared is None:
            return None
        names = set(props) | {name for name, _, _ in undeclared}
        extras = self.extra_members(s, names, forbidden, pn_tree, ptr, base)
        minp, maxp = self.count_bounds(s, ptr)
        members = declared + undeclared
        nreq = sum(1 for d in members if d[2])
        if (maxp is not None and nreq > maxp) or (minp > len(members) and not extras):
            return None
        if minp > nreq and extras and minp > len(members):
            self.unsupported("minProperties", ptr, "would need extra keys, which may repeat (JSON "
                             "objects with duplicate keys count once)")
            minp = 0
        if self.o.any_order:
            if minp > nreq or maxp is not None:
                self.unsupported("minProperties" if minp > nreq else "maxProperties", ptr,
                                 "with any_order=True")
            return self.obj_any_order(members, extras, ptr)
        return self.obj_ordered(declared, undeclared, extras, minp, maxp)

    def object_keywords(self, s, ptr) -> tuple[dict, list, set]:
        """(properties, required keys without repeats, forbidden keys), validated."""
        props = s.get("properties", {})
        if not isinstance(props, dict):
            raise self.invalid("properties must be an object", ptr)
        req = s.get("required", [])
        if not isinstance(req, list) or not all(isinstance(r, str) for r in req):
            raise self.invalid("required must be an array of strings", ptr)
        if self.draft <= 3:
            req = [k for k, v in props.items() if isinstance(v, dict) and v.get("required") is True]
        return props, list(dict.fromkeys(req)), set(s.get("_forbidden", []))

    def count_bounds(self, s, ptr) -> tuple[int, int | None]:
        minp, maxp = s.get("minProperties", 0), s.get("maxProperties")
        for k, v in (("minProperties", minp), ("maxProperties", maxp)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0):
                raise self.invalid(f"{k} must be a non-negative integer", ptr)
        return int(minp), (None if maxp is None else int(maxp))

    def declared_members(self, props, req, forbidden, pprops, pnames, ptr, base) -> list | None:
        """[(name, value symbol, required)] for ``properties`` (a value schema also meets the
        patternProperties its name matches); None when a required one is unsatisfiable."""
        declared = []
        for name, sub in props.items():
            pp = _ptr_join(ptr, "properties", name)
            usable = name not in forbidden and (pnames is None or _tree_fullmatch_key(pnames, name))
            matching = [psub for pat, psub in pprops.items() if re.search(pat, name)]
            if usable and matching:
                merged = self.merge_allof({"allOf": [sub, *matching]}, pp, base)
                sym = self.gen(merged, pp, base) if merged is not False else None
            else:
                sym = self.gen(sub, pp, base) if usable else None
            if sym is None:
                if name in req:
                    return None
                continue
            declared.append((name, sym, name in req))
        return declared

    def required_members(self, s, props, req, forbidden, pprops, pnames, ptr, base) -> list | None:
        """[(name, value symbol, True)] for required keys without a declared schema: their value
        meets the matching patternProperties, else additionalProperties."""
        out = []
        for r in req:
            if r in props:
                continue
            if r in forbidden or (pnames is not None and not _tree_fullmatch_key(pnames, r)):
                return None
            matching = [psub for pat, psub in pprops.items() if re.search(pat, r)]
            sub = {"allOf": matching} if matching else s.get("additionalProperties", True)
            sym = self.gen(sub, _ptr_join(ptr, "required"), base)
            if sym is None:
                return None
            out.append((r, sym, True))
        return out

    def extra_members(self, s, names, forbidden, pn_tree, ptr, base) -> list:
        """[(key terminal, value symbol)] for members beyond the named keys ``names``."""
        pprops = s.get("patternProperties") or {}
        addl = s.get("additionalProperties", True)
        pnames = s.get("propertyNames")
        if pprops:
            return self.pattern_members(pprops, addl, names, forbidden, pn_tree, ptr, base)
        if addl is False:
            return []
        v = self.gen(addl, _ptr_join(ptr, "additionalProperties"), base)
        if v is None:
            return []
        if pn_tree is None:
            return [(self.not_keys(sorted(names | forbidden), colon=True), v)]
        if any(_tree_fullmatch_key(pnames, n) for n in names | forbidden):
            self.unsupported("propertyNames", ptr, "a declared key also satisfies propertyNames")
        body = _tree_json(pn_tree)
        return [] if body is None else [(self.rx(f'"{body}"' + self.colon), v)]

    def pattern_members(self, pprops, addl, names, forbidden, pn_tree, ptr, base) -> list:
        """Extra members whose keys match a pattern (and, with ``additionalProperties``, those
        matching none): one pattern schema for all, or one region per set of matched patterns
        (`key_regions`, plain-ASCII keys) when schemas differ or additional keys are allowed."""
        same = all(_json_eq(pprops[p], next(iter(pprops.values()))) for p in pprops)
        if pn_tree is None and self.keys_universal(pprops, ptr):
            if not same:
                return self.region_members(pprops, False, names | forbidden, ptr, base)
            # every key matches a pattern: additionalProperties never applies, and the declared
            # keys (whose schemas were merged with the pattern's) are excluded
            pat, psub = next(iter(pprops.items()))
            v = self.gen(psub, _ptr_join(ptr, "patternProperties", pat), base)
            return [] if v is None else [(self.not_keys(sorted(names | forbidden), colon=True), v)]
        if pn_tree is not None:
            self.unsupported("propertyNames", ptr, "together with patternProperties")
        if not same or any(re.search(p, n) for p in pprops for n in names | forbidden):
            return self.region_members(pprops, addl, names | forbidden, ptr, base)
        # keys matching a pattern: exact over all of Unicode; keys matching none: a region
        extras = [] if addl is False else self.region_members(pprops, addl, names | forbidden, ptr, base,
                                                              only_unmatched=True)
        for pat, psub in pprops.items():
            pp = _ptr_join(ptr, "patternProperties", pat)
            tree = self.search_tree(pat, pp)
            body = None if tree is None else _tree_json(tree)
            v = None if body is None else self.gen(psub, pp, base)
            if v is not None:
                extras.append((self.rx(f'"{body}"' + self.colon), v))
        return extras

    def region_members(self, pprops, addl, excluded: set, ptr, base, only_unmatched: bool = False) -> list:
        """One extra member per region of keys matching exactly a set of patterns (value: all
        their schemas) or none (value: ``addl``, skipped when False); declared and forbidden
        keys ``excluded``. Refused (`unsupported`) when the regions are too large to express."""
        pats = list(pprops)
        trees = [self.search_tree(p, _ptr_join(ptr, "patternProperties", p)) for p in pats]
        if any(t is None for t in trees):
            return []
        try:
            regions = key_regions(trees, sorted(excluded))
        except TooLarge as e:
            self.unsupported("patternProperties", ptr, f"key regions too large to express ({e})")
            return []
        extras = []
        for hit, key_rx in sorted(regions.items(), key=lambda kv: sorted(kv[0])):
            if hit and only_unmatched:
                continue
            if hit:
                sub = {"allOf": [pprops[pats[k]] for k in sorted(hit)]}
                sp = _ptr_join(ptr, "patternProperties", pats[min(hit)])
            elif addl is False:
                continue
            else:
                sub, sp = addl, _ptr_join(ptr, "additionalProperties")
            v = self.gen(sub, sp, base)
            if v is not None:
                extras.append((self.rx(f'"{key_rx}"' + self.colon), v))
        return extras

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

    def obj_ordered(self, declared, undeclared, extras, minp, maxp) -> str:
        """``{`` declared members in order (optional ones may be skipped), then the undeclared
        required keys in any order (at most `_FREE_ORDER_MAX` of them; more keep their order),
        then extra members, counted against ``minp``/``maxp`` (O(log) rules, `CountingMixin`)."""
        comma = self.P[","]
        free = undeclared if 1 < len(undeclared) <= _FREE_ORDER_MAX else []
        fixed = declared + [d for d in undeclared if not free]
        kv, X = self.member_rules(fixed + free, extras)
        n, full = len(fixed), (1 << len(free)) - 1
        counting = minp > 0 or maxp is not None
        memo = {}

        def sep(e):
            return [comma] if e else []

        def state(i, c, e, mask=0):
            """Members fixed[i:] (then the free keys not in ``mask``) still to come; c counted
            so far (capped at the largest bound); e: something already emitted."""
            key = (i, min(c, max(minp, maxp or 0)) if counting else 0, e, mask)
            if key in memo:
                return memo[key]
            A = memo[key] = self.nt("o")
            if i < n:
                if maxp is None or c < maxp:
                    self.rule(A, *sep(e), kv[i], state(i + 1, c + 1, True))
                if not fixed[i][2]:
                    self.rule(A, state(i + 1, c, e))
            elif mask != full:
                for j in range(len(free)):
                    if not mask >> j & 1 and (maxp is None or c < maxp):
                        self.rule(A, *sep(e), kv[n + j], state(i, c + 1, True, mask | 1 << j))
            else:
                tail = self.extra_tail(X, max(0, minp - c) if counting else 0,
                                       None if maxp is None else maxp - c, e)
                if tail is not None:
                    self.rule(A, tail)
            return A

        O = self.nt("obj")
        self.rule(O, self.P["{"], state(0, 0, False), self.P["}"])
        return O

    def extra_tail(self, X, lo: int, hi: int | None, emitted: bool) -> str | None:
        """lo..hi extra members ``X`` (None when impossible), each after a comma when something
        was emitted before it."""
        if hi is not None and hi < lo:
            return None
        if X is None or hi == 0:
            return self.epsilon() if lo == 0 else None
        cx = self.seq([self.P[","], X], "cx")
        if emitted:
            return self.between(cx, lo, hi)
        first = self.seq([X, self.between(cx, max(lo - 1, 0), None if hi is None else hi - 1)], "xs")
        return first if lo else self.alt([self.epsilon(), first], "xs")

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
