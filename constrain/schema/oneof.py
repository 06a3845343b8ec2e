"""``oneOf``: proving branches disjoint (per instance type: enum values, number intervals, string
lengths and pattern/format automata, object discriminators) or rewriting them into disjoint ones
(required-only branches exactly; types two branches leave unconstrained dropped; overlapping
objects split by a key)."""

from __future__ import annotations

import itertools
import warnings

from ..errors import ConstraintError
from ..regex.automata import build_dfa
from .common import _KNOWN, _ONEOF_REQUIRED_MAX, _json_eq, _json_type

# instance types and the keywords that apply to them (a branch with none of them, and no
# applicator, value or reference keyword, allows every instance of the type)
_TYPE_FAMILIES = {"null": {"null"}, "boolean": {"boolean"}, "string": {"string"},
                  "number": {"number", "integer"}, "array": {"array"}, "object": {"object"}}
_TYPE_KEYWORDS = {
    "null": set(), "boolean": set(),
    "string": {"pattern", "format", "minLength", "maxLength", "contentMediaType", "contentEncoding",
               "_patterns", "_formats", "_string_langs"},
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


class OneOfMixin:
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
        remaining types are checked with `disjoint_on`. Objects that still overlap are rewritten
        exactly when every failure is expressible (`oneof_objects_exact`), else split by an
        *under-approximation* that is sound: branch i forbids, for each overlapping branch j,
        one key j requires and i does not (or requires a key that a closed j rejects)."""
        derefd = [self.flat_or_deref(b, base, ptr) for b in branches]
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
        resolved, gone = [], set()
        for fam in sorted({"number" if t == "integer" else t for t in overlap - {"object"}}):
            if fam == "array":
                return None
            part = self.resolve_family(fam, derefd, base, ptr)
            if part is None:
                return None
            resolved += part
            gone |= _TYPE_FAMILIES[fam]
        exact = self.oneof_objects_exact(infos, base, ptr) if "object" in overlap else None
        out = []
        for i, x in enumerate(infos):
            if x is None:
                continue
            extra: dict = {"type": sorted((kept - gone) & x["types"])}
            if not extra["type"]:
                continue
            if exact is not None and "object" in extra["type"]:
                others = [t for t in extra["type"] if t != "object"]
                if others:
                    out.append({"allOf": [derefd[i], {"type": others}]})
                out += [{"allOf": [derefd[i], {"type": "object", **cut}]} for cut in exact[i]]
                continue
            if "object" in overlap and "object" in x["types"]:
                split = self.split_objects(x, [y for j, y in enumerate(infos) if j != i and y is not None])
                if split is None:
                    return None
                extra.update(split)
            out.append({"allOf": [derefd[i], extra]})
        return out + resolved

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

    def flat_or_deref(self, b, base: str, ptr: str):
        """Branch ``b`` with ``$ref`` and ``allOf`` merged in when that merge is exact (so its
        ``type`` and keywords are seen), else only dereferenced; False when unsatisfiable."""
        d = self.deref(b, base)
        if not (isinstance(d, dict) and ("allOf" in d or "$ref" in d)):
            return d
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                flat = self.flat_branch(d, base, ptr)
        except (ConstraintError, UserWarning):
            return d
        return False if flat is None else flat

    def disjoint(self, branches, base, ptr, within: dict | None = None) -> bool:
        """Whether no instance satisfies two of ``branches`` (checked pairwise on
        over-approximations, so True is a proof). ``within``: sibling keywords every instance
        also meets (its ``type`` narrows each branch)."""
        outer = set(self.types_of(within, ptr)) if within and "type" in within else None
        infos = []
        for b in branches:
            b = self.flat_or_deref(b, base, ptr)
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
