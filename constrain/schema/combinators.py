"""Combinators: ``allOf`` (merged into one schema), ``anyOf``/``oneOf`` (alternatives; ``oneOf``
only when the branches are provably disjoint or made so), ``not``."""

from __future__ import annotations

import math
import re
from fractions import Fraction

from .common import _INTERNAL, _KNOWN, _META, _json_eq, _json_type, _norm_items, _ptr_join


_UNSAT = object()  # merge_keyword: the two values exclude each other
_KEEP = object()   # merge_keyword: keep the first member's value
_LOWER_BOUNDS = ("minimum", "minLength", "minItems", "minProperties", "minContains")
_UPPER_BOUNDS = ("maximum", "maxLength", "maxItems", "maxProperties", "maxContains")
_SUBSCHEMA_KEYWORDS = ("additionalProperties", "items", "additionalItems", "propertyNames", "contains", "not")
_ITEM_KEYWORDS = ("items", "prefixItems", "additionalItems")
_STRING_KEYWORDS = ("pattern", "format", "minLength", "maxLength", "_not_strings", "contentMediaType",
                    "contentEncoding", "_patterns", "_formats", "_string_langs")


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
    def alternatives(self, s: dict, k: str, ptr: str, base: str, exclusive: bool = False) -> str | None:
        """``anyOf``/``oneOf`` (key ``k``) of ``s``: one grammar alternative per branch, each
        merged with the sibling keywords. ``oneOf`` only when its branches are provably
        disjoint, or rewritten into disjoint ones (`oneof_required`). A sibling
        ``unevaluated*`` keyword is judged per branch, which is exact only when one branch holds
        at a time: ``oneOf``, ``exclusive`` (the two sides of ``if``) or provably disjoint
        ``anyOf`` branches; otherwise refused."""
        branches = s.pop(k)
        if not isinstance(branches, list) or not branches:
            raise self.invalid(f"{k} must be a non-empty array", ptr)
        rest = {kk: v for kk, v in s.items() if kk in _KNOWN or kk in _INTERNAL}
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
        uneval = {kk: rest.pop(kk) for kk in ("unevaluatedProperties", "unevaluatedItems") if kk in rest}
        if uneval and k == "anyOf" and not exclusive and len(branches) > 1 \
                and not self.disjoint(branches, base, ptr, rest):
            kw = next(iter(uneval))
            self.unsupported(kw, ptr, "beside anyOf whose branches may hold together (the evaluated "
                             "locations would depend on which branches hold)")
            uneval = {}
        for i, b in enumerate(branches):
            bp = _ptr_join(ptr, k, i)
            if uneval:  # judged on the branch's and the siblings' evaluation (`close_unevaluated`)
                syms.append(self.gen({"allOf": [rest, b], **uneval}, bp, base))
            elif rest:
                merged = self.merge_allof({"allOf": [rest, b]}, bp, base)
                syms.append(self.gen(merged, bp, base) if merged is not False else None)
            else:
                syms.append(self.gen(b, bp, base))
        return self.alt(syms, "any")

    def apply_if(self, s: dict, ptr: str, base: str):
        """Pops ``if``/``then``/``else``; the branch schema that applies when ``if`` is trivially
        true or false (None: nothing to add). Otherwise, when the condition's negation is exact
        (`negate_condition`), ``s`` gets ``anyOf: [if ∧ then, ¬if ∧ else]`` (exactly the
        keyword's meaning) and the string "anyOf" is returned; else `unsupported`."""
        cond, then, els = s.pop("if"), s.pop("then", True), s.pop("else", True)
        cond = self.deref_full(cond, base, _ptr_join(ptr, "if"))
        branch = then if (cond is True or cond == {}) else (els if cond is False else None)
        if branch is None:
            if (then is True or then == {}) and (els is True or els == {}):
                return None
            neg = self.negate_condition(cond)
            if neg is None:
                self.unsupported("if", ptr, "if/then/else whose 'if' cannot be negated exactly (only "
                                 "type, const/enum, required and properties of const/enum/type conditions)")
                return None
            s["anyOf"] = [{"allOf": [cond, then]}, {"allOf": [neg, els]}]
            return "anyOf"
        return None if branch is True or branch == {} else branch

    @staticmethod
    def negate_condition(cond) -> dict | None:
        """An exact schema for the instances ``cond`` rejects, for conditions made of ``type``,
        ``const``/``enum``, ``required`` and ``properties`` whose subschemas are ``const``/``enum``/``type`` (each
        negated by `apply_not`); None otherwise. Object keywords hold for non-objects, so their
        negations are objects: a required key absent, or a listed property present with a
        value its subschema rejects."""
        if not isinstance(cond, dict):
            return None
        keys = {k for k in cond if k in _KNOWN}
        if not keys or not keys <= {"type", "required", "properties", "const", "enum"}:
            return None
        branches = []
        for k in ("type", "const", "enum"):
            if k in keys:
                branches.append({"not": {k: cond[k]}})
        req = cond.get("required", [])
        props = cond.get("properties", {})
        if not isinstance(req, list) or not isinstance(props, dict):
            return None
        for r in req:
            branches.append({"type": "object", "_forbidden": [r]})
        for k, sub in props.items():
            if sub is True or sub == {}:
                continue
            if sub is False:
                branches.append({"type": "object", "required": [k]})
                continue
            if not isinstance(sub, dict) or not {x for x in sub if x in _KNOWN} <= {"const", "enum", "type"}:
                return None
            branches.append({"type": "object", "required": [k], "properties": {k: {"not": sub}}})
        if not branches:
            return False
        return branches[0] if len(branches) == 1 else {"anyOf": branches}

    # -- not ----------------------------------------------------------------------------------------
    def apply_not(self, s, ptr, base):
        n = s.pop("not")
        if n is False:
            return s
        if n is True or n == {}:
            return None
        if isinstance(n, dict):
            keys = {k for k in n if k in _KNOWN}
            if not keys:  # only annotations / unknown keywords: the empty schema
                return None
            if ("enum" in s and isinstance(s["enum"], list)) or "const" in s:
                # finitely many values: keep those the negated schema rejects (checked by value)
                vals = [s["const"]] if "const" in s else s["enum"]
                if "const" in s and "enum" in s:
                    vals = [v for v in s["enum"] if _json_eq(v, s["const"])]
                keep = [v for v in vals if self.value_ok(v, {"not": n}, ptr, base)]
                s.pop("const", None)
                s["enum"] = keep
                return s if keep else None
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
                    if t == "string" and not any(k in s for k in _STRING_KEYWORDS):
                        # any string but these: the trie complement (`jsontext._not_keys_pattern`)
                        s["_not_strings"] = list(s.get("_not_strings", [])) + [v for v in vals if isinstance(v, str)]
                        rem.append(t)
                        continue
                    self.unsupported("not", ptr, f"excluding {t} values")
                    rem.append(t)
                s["type"] = rem
                if not rem and not s.get("_extra_enum"):
                    return None
                return s
            if keys == {"required"} and n["required"] and isinstance(n["required"], list):
                # not required: some listed key is absent (objects); other types pass
                keys_ = list(dict.fromkeys(n["required"]))
                if len(keys_) == 1:
                    return {**s, "_forbidden": list(s.get("_forbidden", [])) + keys_}
                return {**s, "anyOf": [{"_forbidden": [k]} for k in keys_]}
        self.unsupported("not", ptr, "only 'not' of a type, an enum/const over null/boolean, "
                                     "or required keys is compiled")
        return s

    # -- allOf merge ---------------------------------------------------------------------------------
    def merge_allof(self, s, ptr, base):
        parts = s.pop("allOf")
        if not isinstance(parts, list):
            raise self.invalid("allOf must be an array", ptr)
        out = dict(s)
        for i, p in enumerate(parts):
            p = self.deref_full(p, base, _ptr_join(ptr, "allOf", i))
            if isinstance(p, dict) and ("unevaluatedProperties" in p or "unevaluatedItems" in p):
                p = self.merge_member_unevaluated(p, _ptr_join(ptr, "allOf", i), base)
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
        if "if" in a and "if" in b:
            b = self.if_as_anyof(b, ptr, base)
            if b is False:
                return False
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
            if k in ("pattern", "format") and isinstance(u, str) and isinstance(v, str):
                # both hold: the second one joins the list the string compiler intersects
                out[f"_{k}s"] = list(out.get(f"_{k}s", ())) + [v]
                continue
            m = self.merge_keyword(k, u, v, a, b, ptr, base)
            if m is _UNSAT:
                return False
            if m is not _KEEP:
                out[k] = m
        return out

    def if_as_anyof(self, b: dict, ptr: str, base: str):
        """``b`` with its ``if``/``then``/``else`` rewritten by `apply_if` (an ``anyOf`` of the two
        exact sides, crossed with an ``anyOf`` already there, or the one side that applies), so
        that two members with ``if`` can be merged; False when unsatisfiable."""
        q = dict(b)
        prior = q.pop("anyOf", None)
        side = self.apply_if(q, ptr, base)
        if side == "anyOf":
            if prior is not None:
                if len(prior) * 2 > 64:
                    self.unsupported("allOf", ptr, f"'if' beside anyOf of {len(prior)} branches")
                q["anyOf"] = [{"allOf": [x, y]} for x in prior for y in q["anyOf"]]
            return q
        if prior is not None:
            q["anyOf"] = prior
        if side is None:
            return q
        return False if side is False else self.merge2(q, side, ptr, base)

    def merge_keyword(self, k: str, u, v, a: dict, b: dict, ptr: str, base: str):
        """The value of keyword ``k`` in the intersection of two schemas holding ``u`` and ``v``
        (different values); `_UNSAT` when no instance can satisfy both, `_KEEP` to keep ``u``."""
        if k == "type":
            r = _type_meet(u, v)
            return sorted(r) if r else _UNSAT
        if k in ("required", "_forbidden", "_patterns", "_formats", "_string_langs"):
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
