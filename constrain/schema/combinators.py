"""Combinators: ``allOf`` (merged into one schema), ``anyOf``/``oneOf`` (alternatives; ``oneOf``
only when the branches are provably disjoint or made so), ``not``."""

from __future__ import annotations

import itertools
import math
import re
import warnings
from fractions import Fraction

from ..errors import ConstraintError
from ..regex.automata import build_dfa
from .common import _KNOWN, _META, _ONEOF_REQUIRED_MAX, _json_eq, _json_type, _norm_items, _ptr_join


_UNSAT = object()  # merge_keyword: the two values exclude each other
_KEEP = object()   # merge_keyword: keep the first member's value
_LOWER_BOUNDS = ("minimum", "minLength", "minItems", "minProperties", "minContains")
_UPPER_BOUNDS = ("maximum", "maxLength", "maxItems", "maxProperties", "maxContains")
_SUBSCHEMA_KEYWORDS = ("additionalProperties", "items", "additionalItems", "propertyNames", "contains", "not")
_ITEM_KEYWORDS = ("items", "prefixItems", "additionalItems")


# instance types and the keywords that apply to them (a branch with none of them, and no
# applicator, value or reference keyword, allows every instance of the type)
_TYPE_FAMILIES = {"null": {"null"}, "boolean": {"boolean"}, "string": {"string"},
                  "number": {"number", "integer"}, "array": {"array"}, "object": {"object"}}
_TYPE_KEYWORDS = {
    "null": set(), "boolean": set(),
    "string": {"pattern", "format", "minLength", "maxLength", "contentMediaType", "contentEncoding"},
    "number": {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "divisibleBy"},
    "array": {"items", "prefixItems", "additionalItems", "minItems", "maxItems", "uniqueItems", "contains",
              "minContains", "maxContains", "unevaluatedItems"},
    "object": {"properties", "required", "additionalProperties", "patternProperties", "propertyNames",
               "minProperties", "maxProperties", "dependencies", "dependentRequired", "dependentSchemas",
               "unevaluatedProperties"},
}
_GENERAL_KEYWORDS = {"enum", "const", "allOf", "anyOf", "oneOf", "not", "if", "then", "else", "$ref",
                     "$dynamicRef", "$recursiveRef", "extends", "disallow"}


def _universal_for(s: dict, t: str, types: set) -> bool:
    """Whether schema ``s`` (allowing ``types``) accepts every instance of type family ``t``."""
    if t == "number":
        if "number" not in types:
            return False
    elif t not in types:
        return False
    if s.get("format") is not None and t == "string":
        return False
    if s.get("required") is True:  # draft 3 spelling, inside properties only
        return False
    return not any(k in s for k in _GENERAL_KEYWORDS | _TYPE_KEYWORDS[t])


def _of_type(x, t: str) -> bool:
    """Whether JSON value ``x`` is an instance of type ``t`` (integers are numbers)."""
    jt = _json_type(x)
    return jt == t or (t == "number" and jt == "integer")


def _interval(s: dict):
    """(lo, lo_inclusive, hi, hi_inclusive) of the numbers a schema allows (None: unbounded)."""
    lo, hi, lo_in, hi_in = s.get("minimum"), s.get("maximum"), True, True
    emin, emax = s.get("exclusiveMinimum"), s.get("exclusiveMaximum")
    if isinstance(emin, bool):
        lo_in = not emin
    elif isinstance(emin, (int, float)) and (lo is None or emin >= lo):
        lo, lo_in = emin, False
    if isinstance(emax, bool):
        hi_in = not emax
    elif isinstance(emax, (int, float)) and (hi is None or emax <= hi):
        hi, hi_in = emax, False
    lo = lo if isinstance(lo, (int, float)) and not isinstance(lo, bool) else None
    hi = hi if isinstance(hi, (int, float)) and not isinstance(hi, bool) else None
    return lo, lo_in, hi, hi_in


def _intervals_disjoint(a, b) -> bool:
    def before(x, y):  # x's upper end lies below y's lower end
        return x[2] is not None and y[0] is not None and (x[2] < y[0] or (x[2] == y[0] and not (x[3] and y[1])))
    return before(a, b) or before(b, a)


def _length_range(s: dict) -> tuple[int, int | None]:
    lo, hi = s.get("minLength", 0), s.get("maxLength")
    lo = lo if isinstance(lo, int) and not isinstance(lo, bool) else 0
    return lo, (hi if isinstance(hi, int) and not isinstance(hi, bool) else None)


def _dfas_disjoint(a, b) -> bool:
    """Whether two byte DFAs (trimmed: -1 is dead) accept no common string (product search)."""
    seen = {(0, 0)}
    stack = [(0, 0)]
    while stack:
        p, q = stack.pop()
        if a.accepting[p] and b.accepting[q]:
            return False
        both = (a.transitions[p] >= 0) & (b.transitions[q] >= 0)
        for byte in both.nonzero()[0]:
            nxt = (int(a.transitions[p, byte]), int(b.transitions[q, byte]))
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return True


def _type_meet(u, v) -> set:
    """The instance types both ``type`` values allow (integer is a number)."""
    ua = {u} if isinstance(u, str) else set(u)
    va = {v} if isinstance(v, str) else set(v)
    out = set()
    for t in ua:
        for w in va:
            if t == w:
                out.add(t)
            elif {t, w} == {"number", "integer"}:
                out.add("integer")
    return out


def _merge_items(a: dict, b: dict) -> tuple[dict, dict]:
    """When both schemas constrain array items: ``a`` with per-position ``prefixItems`` and
    ``items`` meeting both, ``b`` without item keywords (any draft's spelling)."""
    if not (any(k in a for k in _ITEM_KEYWORDS) and any(k in b for k in _ITEM_KEYWORDS)):
        return a, b
    pa, ra = _norm_items(a)
    pb, rb = _norm_items(b)
    n = max(len(pa), len(pb))
    pre = [{"allOf": [pa[i] if i < len(pa) else ra, pb[i] if i < len(pb) else rb]} for i in range(n)]
    a = {k: v for k, v in a.items() if k not in _ITEM_KEYWORDS}
    b = {k: v for k, v in b.items() if k not in _ITEM_KEYWORDS}
    a["prefixItems"] = pre
    if not (ra is True and rb is True):
        a["items"] = {"allOf": [ra, rb]}
    return a, b


class CombinatorsMixin:
    # -- anyOf / oneOf / if ----------------------------------------------------------------------
    def alternatives(self, s: dict, k: str, ptr: str, base: str) -> str | None:
        """``anyOf``/``oneOf`` (key ``k``) of ``s``: one grammar alternative per branch, each
        merged with the sibling keywords. ``oneOf`` only when its branches are provably
        disjoint, or rewritten into disjoint ones (`oneof_required`)."""
        branches = s.pop(k)
        if not isinstance(branches, list) or not branches:
            raise self.invalid(f"{k} must be a non-empty array", ptr)
        rest = {kk: v for kk, v in s.items() if kk in _KNOWN}
        if k == "oneOf" and len(branches) > 1:
            exact = self.oneof_required(branches, base, ptr)
            if exact is not None:
                if not exact:
                    return None
                branches = exact
            elif not self.disjoint(branches, base, ptr, rest):
                split = self.oneof_branches(branches, rest, base, ptr)
                if split is None:
                    self.unsupported("oneOf", ptr, "branches are not provably disjoint "
                                     "(use anyOf, or strict=False to treat oneOf as anyOf)")
                elif not split:
                    return None
                else:
                    branches = split
        syms = []
        for i, b in enumerate(branches):
            bp = _ptr_join(ptr, k, i)
            if rest:
                merged = self.merge_allof({"allOf": [rest, b]}, bp, base)
                syms.append(self.gen(merged, bp, base) if merged is not False else None)
            else:
                syms.append(self.gen(b, bp, base))
        return self.alt(syms, "any")

    def apply_if(self, s: dict, ptr: str):
        """Pops ``if``/``then``/``else``; the branch schema that applies when ``if`` is trivially
        true or false (None: nothing to add). A non-trivial ``if`` goes through `unsupported`."""
        cond, then, els = s.pop("if"), s.pop("then", True), s.pop("else", True)
        branch = then if (cond is True or cond == {}) else (els if cond is False else None)
        if branch is None:
            self.unsupported("if", ptr, "if/then/else with a non-trivial 'if'")
            return None
        return None if branch is True or branch == {} else branch

    # -- not ----------------------------------------------------------------------------------------
    def apply_not(self, s, ptr, base):
        n = s.pop("not")
        if n is False or (isinstance(n, dict) and not any(k in _KNOWN for k in n)
                          and n is not True and n != {} and False):
            return s
        if n is True or n == {}:
            return None
        if isinstance(n, dict):
            keys = {k for k in n if k in _KNOWN}
            if not keys:  # only annotations / unknown keywords: the empty schema
                return None
            if keys == {"type"}:
                t = n["type"]
                ts = {t} if isinstance(t, str) else set(t)
                allowed = set(self.types_of(s, ptr))
                if "number" in ts:
                    ts |= {"integer"}
                if "integer" in ts and "number" in allowed and "number" not in ts:
                    self.unsupported("not", ptr, "non-integer numbers only")
                    return s
                left = [t for t in allowed if t not in ts]
                if not left:
                    return None
                s["type"] = left
                return s
            if keys <= {"enum", "const"}:
                vals = list(n.get("enum", [])) + ([n["const"]] if "const" in n else [])
                # excluding values is exact for types whose values are all listed; otherwise refuse
                allowed = set(self.types_of(s, ptr))
                rem = []
                for t in allowed:
                    if t == "null" and any(v is None for v in vals):
                        continue
                    if t == "boolean" and any(v is True for v in vals) and any(v is False for v in vals):
                        continue
                    if t == "boolean":
                        keep = [b for b in (True, False) if not any(v is b for v in vals)]
                        if keep and len(keep) < 2:
                            s.setdefault("_extra_enum", []).extend(keep)
                            continue
                    if t in ("null", "boolean") or not any(_json_type(v) in (t,) or
                                                           (t == "number" and _json_type(v) == "integer")
                                                           for v in vals):
                        rem.append(t)
                        continue
                    self.unsupported("not", ptr, f"excluding {t} values")
                    rem.append(t)
                s["type"] = rem
                if not rem and not s.get("_extra_enum"):
                    return None
                return s
            if keys == {"required"} and n["required"]:
                # not required: some of the listed keys absent; exact when one key
                req = n["required"]
                if len(req) == 1:
                    s.setdefault("_forbidden", []).append(req[0])
                    return s
        self.unsupported("not", ptr, "only 'not' of a type, an enum/const over null/boolean, "
                                     "or one required key is compiled")
        return s

    # -- oneOf disjointness ---------------------------------------------------------------------------
    def oneof_required(self, branches, base, ptr) -> list | None:
        """``oneOf`` whose branches only require keys, as exact disjoint object branches: branch
        i holds and every other branch j fails, i.e. some key of ``R_j - R_i`` is absent (one
        branch per choice of the absent keys, at most `_ONEOF_REQUIRED_MAX`). None when the
        branches are not all of that form (or would need too many branches)."""
        reqs = []
        for b in branches:
            b = self.deref(b, base)
            if not isinstance(b, dict) or {k for k in b if k in _KNOWN} != {"required"} \
                    or not isinstance(b["required"], list) \
                    or not all(isinstance(x, str) for x in b["required"]):
                return None
            reqs.append(set(b["required"]))
        out = []
        for i, ri in enumerate(reqs):
            choices = [sorted(rj - ri) for j, rj in enumerate(reqs) if j != i]
            if any(not c for c in choices):
                continue  # another branch holds whenever this one does
            combos = 1
            for c in choices:
                combos *= len(c)
            if len(out) + combos > _ONEOF_REQUIRED_MAX:
                return None
            for absent in itertools.product(*choices):
                out.append({"type": "object", "required": sorted(ri), "_forbidden": sorted(set(absent))})
        return out

    def oneof_branches(self, branches: list, rest: dict, base: str, ptr: str) -> list | None:
        """``oneOf`` branches rewritten into pairwise disjoint ones, or None (refuse).

        Exact steps: an instance type that two branches allow without any keyword applying to
        it matches both, so no instance of that type is valid (the type is dropped); the
        remaining types are checked with `disjoint_on`. Objects that still overlap are split by
        an *under-approximation* that is sound: branch i forbids, for each overlapping branch j,
        one key j requires and i does not (or requires a key that a closed j rejects)."""
        derefd = [self.deref(b, base) for b in branches]
        if not all(isinstance(b, (dict, bool)) for b in derefd):
            return None
        outer = set(self.types_of(rest, ptr)) if "type" in rest else None
        infos = [None if b is False else self.branch_info({} if b is True else b, base, ptr, outer)
                 for b in derefd]
        live = [x for x in infos if x is not None]
        kept = set().union(*(x["types"] for x in live)) if live else set()
        for t, family in _TYPE_FAMILIES.items():
            if sum(1 for x in live if _universal_for(x["schema"], t, x["types"])) >= 2:
                kept -= family
        if not kept:
            return []
        overlap = {t for t in kept for x, y in itertools.combinations(live, 2)
                   if t in x["types"] & y["types"] and not self.disjoint_on(t, x, y)}
        if overlap - {"object"}:
            return None
        out = []
        for i, x in enumerate(infos):
            if x is None:
                continue
            extra: dict = {"type": sorted(kept & x["types"])}
            if not extra["type"]:
                continue
            if "object" in overlap and "object" in x["types"]:
                split = self.split_objects(x, [y for j, y in enumerate(infos) if j != i and y is not None])
                if split is None:
                    return None
                extra.update(split)
            out.append({"allOf": [derefd[i], extra]})
        return out

    def split_objects(self, x: dict, others: list) -> dict | None:
        """Keywords keeping branch ``x``'s objects out of every other branch (see
        `oneof_branches`); None when some overlap cannot be cut this way."""
        forbid, require = [], []
        for y in others:
            if "object" not in y["types"] or self.disjoint_on("object", x, y):
                continue
            keys = sorted(y["req"] - x["req"])
            if keys:
                forbid.append(keys[0])
                continue
            keys = sorted(x["props"] - y["props"]) if y["closed"] else []
            if not keys:
                return None
            require.append(keys[0])
        if set(forbid) & (set(require) | x["req"]):
            return None
        return {"_forbidden": forbid, "required": sorted(x["req"] | set(require))}

    def disjoint(self, branches, base, ptr, within: dict | None = None) -> bool:
        """Whether no instance satisfies two of ``branches`` (checked pairwise on
        over-approximations, so True is a proof). ``within``: sibling keywords every instance
        also meets (its ``type`` narrows each branch)."""
        outer = set(self.types_of(within, ptr)) if within and "type" in within else None
        infos = []
        for b in branches:
            b = self.deref(b, base)
            if b is False:
                continue
            if not isinstance(b, dict):
                return False
            infos.append(self.branch_info(b, base, ptr, outer))
        return all(self.disjoint_pair(x, y) for x, y in itertools.combinations(infos, 2))

    def branch_info(self, b: dict, base: str, ptr: str, outer: set | None) -> dict:
        """What a branch allows, over-approximated: instance types, enum values, string lengths
        and pattern/format, number interval, object discriminators and closedness."""
        types = set(self.types_of(b, ptr))
        if "number" in types:
            types.add("integer")
        if outer is not None:
            types &= outer | ({"integer"} if "number" in outer else set())
        vals = [b["const"]] if "const" in b else (list(b["enum"]) if isinstance(b.get("enum"), list) else None)
        props = b.get("properties") if isinstance(b.get("properties"), dict) else {}
        req = set(b.get("required", [])) if isinstance(b.get("required"), list) else set()
        discr = {}
        for k, v in props.items():
            v = self.deref(v, base)
            if isinstance(v, dict) and ("const" in v or "enum" in v) and k in req:
                discr[k] = [v["const"]] if "const" in v else list(v["enum"])
        closed = b.get("additionalProperties") is False and not b.get("patternProperties")
        return {"types": types, "vals": vals, "discr": discr, "req": req, "props": set(props),
                "closed": closed, "schema": b, "ptr": ptr}

    def disjoint_pair(self, a: dict, b: dict) -> bool:
        return all(self.disjoint_on(t, a, b) for t in a["types"] & b["types"])

    def disjoint_on(self, t: str, a: dict, b: dict) -> bool:
        """Whether no instance of type ``t`` satisfies both branches (True is a proof)."""
        va = None if a["vals"] is None else [x for x in a["vals"] if _of_type(x, t)]
        vb = None if b["vals"] is None else [x for x in b["vals"] if _of_type(x, t)]
        if va == [] or vb == []:
            return True
        if va is not None and vb is not None:
            return not any(_json_eq(x, y) for x in va for y in vb)
        if t == "object":
            if any(not any(_json_eq(x, y) for x in a["discr"][k] for y in b["discr"][k])
                   for k in set(a["discr"]) & set(b["discr"])):
                return True
            return bool((a["closed"] and b["req"] - a["props"]) or (b["closed"] and a["req"] - b["props"]))
        if t in ("number", "integer"):
            return _intervals_disjoint(_interval(a["schema"]), _interval(b["schema"]))
        if t == "string":
            return self.strings_disjoint(a, b, va, vb)
        return False

    def strings_disjoint(self, a: dict, b: dict, va, vb) -> bool:
        """String branches: disjoint length ranges, enum strings outside the other's pattern or
        format, or pattern/format languages with an empty product."""
        la, lb = _length_range(a["schema"]), _length_range(b["schema"])
        if la[1] is not None and la[1] < lb[0] or lb[1] is not None and lb[1] < la[0]:
            return True
        da, db = self.string_dfa(a), self.string_dfa(b)
        if va is not None and db is not None:
            return not any(db.fullmatch(x.encode("utf-8")) for x in va)
        if vb is not None and da is not None:
            return not any(da.fullmatch(x.encode("utf-8")) for x in vb)
        return da is not None and db is not None and _dfas_disjoint(da, db)

    def string_dfa(self, info: dict):
        """Byte DFA of the string values allowed by pattern/format (None: not constrained so, or
        not compilable); cached in ``info``."""
        if "dfa" not in info:
            s = info["schema"]
            info["dfa"] = None
            if "pattern" in s or "format" in s:
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        tree = self.string_tree({k: s[k] for k in ("pattern", "format") if k in s}, info["ptr"])
                    info["dfa"] = None if tree is None else build_dfa(tree)
                except ConstraintError:
                    info["dfa"] = None
        return info["dfa"]

    # -- allOf merge ---------------------------------------------------------------------------------
    def merge_allof(self, s, ptr, base):
        parts = s.pop("allOf")
        if not isinstance(parts, list):
            raise self.invalid("allOf must be an array", ptr)
        out = dict(s)
        for i, p in enumerate(parts):
            p = self.deref_full(p, base, _ptr_join(ptr, "allOf", i))
            if isinstance(p, dict) and ("unevaluatedProperties" in p or "unevaluatedItems" in p):
                self.unsupported("unevaluatedProperties" if "unevaluatedProperties" in p
                                 else "unevaluatedItems", _ptr_join(ptr, "allOf", i), "inside allOf")
                p = {k: v for k, v in p.items() if k not in ("unevaluatedProperties", "unevaluatedItems")}
            if p is False:
                return False
            if p is True:
                continue
            out = self.merge2(out, p, _ptr_join(ptr, "allOf", i), base)
            if out is False:
                return False
        return out

    def merge2(self, a: dict, b: dict, ptr: str, base: str):
        """One schema equivalent to ``allOf: [a, b]`` (False: unsatisfiable); keywords that cannot
        be intersected exactly go through `unsupported`."""
        if not isinstance(b, dict):
            raise self.invalid("allOf members must be schemas", ptr)
        a, b = _merge_items(a, b)
        a, b = self.close_objects(a, b, ptr), self.close_objects(b, a, ptr)
        out = dict(a)
        for k, v in b.items():
            if k not in out:
                out[k] = v
                continue
            u = out[k]
            if (k in _META and k not in ("$defs", "definitions")) or _json_eq(u, v):
                continue
            m = self.merge_keyword(k, u, v, a, b, ptr, base)
            if m is _UNSAT:
                return False
            if m is not _KEEP:
                out[k] = m
        return out

    def merge_keyword(self, k: str, u, v, a: dict, b: dict, ptr: str, base: str):
        """The value of keyword ``k`` in the intersection of two schemas holding ``u`` and ``v``
        (different values); `_UNSAT` when no instance can satisfy both, `_KEEP` to keep ``u``."""
        if k == "type":
            r = _type_meet(u, v)
            return sorted(r) if r else _UNSAT
        if k in ("required", "_forbidden"):
            return list(dict.fromkeys(list(u) + list(v)))
        if k in ("properties", "patternProperties", "$defs", "definitions"):
            m = dict(u)
            for pk, pv in v.items():
                m[pk] = {"allOf": [m[pk], pv]} if pk in m else pv
            return m
        if k in _LOWER_BOUNDS or (k == "exclusiveMinimum" and not isinstance(u, bool) and not isinstance(v, bool)):
            return max(u, v)
        if k in _UPPER_BOUNDS or (k == "exclusiveMaximum" and not isinstance(u, bool) and not isinstance(v, bool)):
            return min(u, v)
        if k == "uniqueItems":
            return bool(u) or bool(v)
        if k == "enum":
            return [x for x in u if any(_json_eq(x, y) for y in v)]
        if k == "const":
            return _UNSAT
        if k in _SUBSCHEMA_KEYWORDS and isinstance(u, (dict, bool)) and isinstance(v, (dict, bool)):
            return self.merge_subschema(k, u, v, a, b, ptr)
        if k == "prefixItems" or (k == "items" and isinstance(u, list) and isinstance(v, list)):
            n = max(len(u), len(v))
            return [{"allOf": [u[i] if i < len(u) else {}, v[i] if i < len(v) else {}]} for i in range(n)]
        if k in ("anyOf", "oneOf"):  # allOf(anyOf A, anyOf B) = anyOf(a ∧ b)
            if len(u) * len(v) > 64:
                self.unsupported("allOf", ptr, f"two {k} of {len(u)}x{len(v)} branches")
                return _KEEP
            if k == "oneOf" and not (self.disjoint(u, base, ptr) and self.disjoint(v, base, ptr)):
                self.unsupported("oneOf", ptr, "branches are not provably disjoint")
            return [{"allOf": [x, y]} for x in u for y in v]
        if k == "multipleOf":
            fu, fv = Fraction(str(u)), Fraction(str(v))
            if fu.denominator == 1 and fv.denominator == 1:
                return math.lcm(int(fu), int(fv))
            self.unsupported("allOf", ptr, "two non-integer multipleOf")
        elif k in ("pattern", "format"):
            self.unsupported("allOf", ptr, f"two different '{k}' values cannot be intersected")
        elif k in _KNOWN:
            self.unsupported("allOf", ptr, f"merging '{k}'")
        return _KEEP  # unknown keywords: keep the first

    def merge_subschema(self, k: str, u, v, a: dict, b: dict, ptr: str):
        if k == "not":
            return {"anyOf": [u, v]}
        if k == "additionalProperties" and (set(a.get("properties", {})) != set(b.get("properties", {}))
                                            or a.get("patternProperties") or b.get("patternProperties")):
            self.unsupported("allOf", ptr, "merging additionalProperties of objects with different properties")
            return _KEEP
        if k == "contains":
            self.unsupported("allOf", ptr, "two 'contains'")
            return _KEEP
        return {"allOf": [u, v]}

    def close_objects(self, a: dict, b: dict, ptr: str) -> dict:
        """``a`` with the keys that ``b`` declares (``properties``, or ``required`` keys of either)
        but ``a`` does not given ``a``'s ``additionalProperties`` schema explicitly: in ``allOf`` each
        member judges every key by its own ``properties``, so once merged a key declared only in
        ``b`` must still satisfy ``a``'s ``additionalProperties``. A key matching one of ``a``'s
        ``patternProperties`` keeps the pattern's schema (the merged object applies it)."""
        addl = a.get("additionalProperties", True)
        if addl is True or addl == {}:
            return a
        if not isinstance(addl, (dict, bool)):
            raise self.invalid("additionalProperties must be a schema", ptr)
        own = a.get("properties") if isinstance(a.get("properties"), dict) else {}
        pats = a.get("patternProperties") if isinstance(a.get("patternProperties"), dict) else {}
        other = b.get("properties") if isinstance(b.get("properties"), dict) else {}
        req = [r for m in (a, b) if isinstance(m.get("required"), list) for r in m["required"]]
        new = [k for k in list(other) + [r for r in req if isinstance(r, str)]
               if k not in own and not any(re.search(p, k) for p in pats)]
        if any(p not in pats for p in (b.get("patternProperties") or {})):
            # a key matching only b's pattern must satisfy a's additionalProperties too
            self.unsupported("allOf", ptr, "patternProperties of one member beside "
                             "additionalProperties of another")
        if not new:
            return a
        props = dict(own)
        for k in dict.fromkeys(new):
            props[k] = addl
        return {**a, "properties": props}
