"""``oneOf`` branches that overlap on objects, rewritten exactly.

An object is valid against ``oneOf`` when exactly one branch accepts it: branch ``i`` holds and
every other branch ``j`` fails. On objects, "``j`` fails given ``i`` holds" is a disjunction of
*atoms*, each an object keyword the compiler already has:

- a key ``j`` requires and ``i`` does not is absent (``_forbidden``);
- a property ``p`` of ``j`` is present with a value ``j``'s subschema rejects: ``required: [p]``
  with ``properties: {p: {not: S}}`` when ``S`` is made of ``type``/``const``/``enum`` (negated
  exactly), or ``p``'s values under ``i`` are a finite ``const``/``enum`` (the values ``S``
  rejects, checked one by one);
- ``j`` is closed (``additionalProperties: false``) and ``i`` is closed too: one of ``i``'s
  keys that ``j`` does not declare is present.

Keywords of ``j`` that ``i`` carries identically (same ``properties`` entry, same keyword value)
cannot fail under ``i`` and give no atom; keywords of other instance types never apply. Any other
keyword of ``j`` (``patternProperties``, ``minProperties``, a non-negatable subschema ...) makes
the rewrite fail (None: the caller falls back or refuses). Branch ``i``'s objects are then the
product over ``j`` of one atom each (choices absorbed by a smaller choice are dropped), at most
`_ONEOF_REQUIRED_MAX` products over the whole ``oneOf``.
"""

from __future__ import annotations

import itertools
import json

from .common import _INTERNAL, _KNOWN

# keywords that apply to instances of other types only (they never fail on an object)
_NON_OBJECT = {"pattern", "format", "minLength", "maxLength", "contentMediaType", "contentEncoding",
               "_patterns", "_formats", "_string_langs", "_not_strings",
               "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "divisibleBy",
               "items", "prefixItems", "additionalItems", "minItems", "maxItems", "uniqueItems", "contains",
               "minContains", "maxContains", "unevaluatedItems"}
_NEGATABLE = {"type", "const", "enum"}
_STRING_ONLY = {"pattern", "format", "minLength", "maxLength", "_patterns", "_formats", "_string_langs"}


class _NotExact(Exception):
    """A keyword of a branch whose failure cannot be written exactly as atoms."""


class OneOfObjectsMixin:
    def oneof_objects_exact(self, infos: list, base: str, ptr: str) -> list | None:
        """Per branch (None entries: dropped branches) a list of keyword dicts whose union is
        exactly that branch's objects matching no other branch ([]: none do); None when some
        failure is not expressible (see the module docstring) or past the product bound."""
        from .common import _ONEOF_REQUIRED_MAX
        out, total = [], 0
        for i, x in enumerate(infos):
            if x is None or "object" not in x["types"]:
                out.append(None)
                continue
            choices = []
            try:
                for j, y in enumerate(infos):
                    if j == i or y is None or "object" not in y["types"] or self.disjoint_on("object", x, y):
                        continue
                    atoms = self.failure_atoms(x["schema"], y["schema"], base, ptr)
                    if not atoms:
                        break  # j holds on every object i accepts
                    choices.append(frozenset(atoms))
                else:
                    choices = _absorb(choices)
                    prods = _products(choices, x["req"], _ONEOF_REQUIRED_MAX - total,
                                      self.__dict__.get("_atom_schemas", {}))
                    if prods is None:
                        return None
                    total += len(prods)
                    out.append(prods)
                    continue
            except _NotExact:
                return None
            out.append([])
        return out

    def failure_atoms(self, si: dict, sj: dict, base: str, ptr: str) -> list:
        """Atoms (hashable tuples) whose disjunction is exactly "an object accepted by ``si``
        fails ``sj``"; raises `_NotExact`."""
        atoms = []
        closed_i = si.get("additionalProperties") is False and not si.get("patternProperties")
        props_i = si.get("properties") if isinstance(si.get("properties"), dict) else {}
        req_i = set(si.get("required", [])) if isinstance(si.get("required"), list) else set()
        props_j = sj.get("properties") if isinstance(sj.get("properties"), dict) else {}
        for k, v in sj.items():
            if (k not in _KNOWN and k not in _INTERNAL) or k in _NON_OBJECT:
                continue
            if k == "type":
                continue  # j allows objects (else disjoint); only objects are judged here
            if k in ("required", "_forbidden", "properties", "additionalProperties"):
                continue  # below
            if k in si and si[k] == v and k not in ("patternProperties",):
                continue
            raise _NotExact(k)
        if not isinstance(sj.get("required", []), list) or not isinstance(sj.get("_forbidden", []), list):
            raise _NotExact("required")
        for r in sj.get("required", []):
            if r not in req_i:
                atoms.append(("absent", r))
        for r in sj.get("_forbidden", []):
            if r not in set(si.get("_forbidden", [])) and not (closed_i and r not in props_i):
                atoms.append(("present", r))
        for p, sub in props_j.items():
            atoms += self.property_failure(p, sub, si, props_i, closed_i, base)
        addl = sj.get("additionalProperties", True)
        if addl is not True and addl != {}:
            same = si.get("additionalProperties") == addl and set(props_i) == set(props_j) \
                and si.get("patternProperties") == sj.get("patternProperties")
            if not same:
                if addl is not False or sj.get("patternProperties") or not closed_i:
                    raise _NotExact("additionalProperties")
                atoms += [("present", p) for p in props_i if p not in props_j]
        elif sj.get("patternProperties") and si.get("patternProperties") != sj.get("patternProperties"):
            raise _NotExact("patternProperties")
        return list(dict.fromkeys(atoms))

    def property_failure(self, p: str, sub, si: dict, props_i: dict, closed_i: bool, base: str) -> list:
        """Atoms for "property ``p`` is present with a value ``sub`` rejects", under ``si``."""
        sub = self.deref(sub, base)
        if sub is True or (isinstance(sub, dict) and not any(k in _KNOWN or k in _INTERNAL for k in sub)):
            return []
        if p not in props_i and (closed_i or p in set(si.get("_forbidden", []))):
            return []  # p cannot be present under i
        if sub is False:
            return [("present", p)]
        if not isinstance(sub, dict):
            raise _NotExact("properties")
        mine = self.deref(props_i.get(p, True), base)
        if mine == sub:
            return []
        if isinstance(mine, dict) and ("const" in mine or isinstance(mine.get("enum"), list)):
            vals = [mine["const"]] if "const" in mine else list(mine["enum"])
            bad = [v for v in vals if not self.value_ok(v, {"allOf": [sub]}, "", base)]
            return [("value", p, self.atom_key({"enum": bad}))] if bad else []
        known = {k: v for k, v in sub.items() if k in _KNOWN or k in _INTERNAL}
        if "type" in known and "string" in _types_of(known) and set(known) - {"type"} <= _STRING_ONLY:
            return self.string_failure(p, mine, sub, known["type"], base)
        if not set(known) <= _NEGATABLE:
            # only a value of a type ``sub`` rejects outright is expressible: exact when the
            # values ``mine`` allows never have a type ``sub`` allows
            if "type" not in known or _types_of(mine) & _types_of(known):
                raise _NotExact("properties")
            known = {"type": known["type"]}
        neg = _negate_values(known, _types_of(mine))
        return [] if neg is None else [("value", p, self.atom_key(neg))]

    def string_failure(self, p: str, mine, sub: dict, types, base: str) -> list:
        """Atoms for "``p`` present with a value ``sub`` (``type`` and string keywords) rejects":
        a type it does not allow, or a string of ``mine`` outside ``sub``'s (the "exactly one"
        string product of the two, `resolve_family`, taken under ``mine``)."""
        within = _types_of(mine)
        parts = []
        neg = _negate_values({"type": types}, within)
        if neg is not None:
            parts += neg["anyOf"]
        if "string" in within:
            strs = self.resolve_family("string", [mine if isinstance(mine, dict) else {}, sub], base, "")
            if strs is None:
                raise _NotExact("properties")
            parts += strs
        return [("value", p, self.atom_key({"anyOf": parts}))] if parts else []

    def atom_key(self, schema: dict) -> str:
        """A hashable name for a value schema of an atom (kept in ``self._atom_schemas``)."""
        reg = self.__dict__.setdefault("_atom_schemas", {})
        try:
            key = json.dumps(schema, sort_keys=True)
        except (TypeError, ValueError):  # compiled string languages: named by number
            key = f"#{len(reg)}"
        reg[key] = schema
        return key


_ALL_TYPES = ("null", "boolean", "string", "number", "array", "object")


def _types_of(s) -> set:
    """The instance types a subschema's ``type`` keyword allows (all when absent or not a dict;
    ``integer`` stands for the integers only)."""
    t = s.get("type") if isinstance(s, dict) else None
    if t is None:
        return set(_ALL_TYPES)
    ts = {t} if isinstance(t, str) else set(t) if isinstance(t, list) else set(_ALL_TYPES)
    if "number" in ts:
        ts.add("integer")
    return ts


def _negate_values(s: dict, within: set) -> dict | None:
    """An exact schema for the values of types ``within`` (see `_types_of`) that ``s``
    (``type``/``const``/``enum`` only) rejects, written with keywords the compiler enforces
    (numbers as open intervals between the excluded ones); None when there are none."""
    t = s.get("type", list(_ALL_TYPES))
    types = {t} if isinstance(t, str) else set(t)
    if not all(isinstance(x, str) for x in types):
        raise _NotExact("type")
    if "integer" in types and "number" not in types:
        if "number" in within:  # the non-integer numbers would be rejected: not expressible
            raise _NotExact("type")
        types.add("number")  # the numbers ``within`` allows are integers: all accepted
    if "integer" in within:
        within = within | {"number"}  # numbers here: those the enclosing schema allows
    types.discard("integer")
    within = within - {"integer"}
    out = [{"type": sorted(within - types)}]
    types &= within
    vals = [s["const"]] if "const" in s else (s["enum"] if "enum" in s else None)
    if vals is not None and not isinstance(vals, list):
        raise _NotExact("enum")
    if vals is None:
        return {"anyOf": out} if out[0]["type"] else None
    for ty in sorted(types):
        mine = [v for v in vals if _kind(v) == ty or (ty == "integer" and _kind(v) == "number"
                                                      and float(v).is_integer())]
        if ty in ("object", "array") and mine:
            raise _NotExact("enum")
        if ty == "null" or ty == "boolean":
            rest = [v for v in ([None] if ty == "null" else [True, False]) if v not in mine]
            if rest:
                out.append({"enum": rest})
        elif ty == "string" and mine:
            out.append({"type": "string", "not": {"enum": mine}})
        elif ty in ("number", "integer") and mine:
            cuts = sorted(set(mine))
            out.append({"type": ty, "exclusiveMaximum": cuts[0]})
            out.append({"type": ty, "exclusiveMinimum": cuts[-1]})
            out += [{"type": ty, "exclusiveMinimum": lo, "exclusiveMaximum": hi} for lo, hi in zip(cuts, cuts[1:])]
        else:
            out.append({"type": ty})
    out = [o for o in out if o.get("type") != []]
    return {"anyOf": out} if out else None


def _kind(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(v), "?")


def _absorb(choices: list) -> list:
    """Drops each disjunction implied by a smaller (subset) one."""
    uniq = sorted(set(choices), key=len)
    return [c for n, c in enumerate(uniq) if not any(o < c for o in uniq[:n])]


def _products(choices: list, req_i: set, budget: int, schemas: dict) -> list | None:
    """One keyword dict per consistent pick of an atom from each choice (value atoms name their
    schema in ``schemas``); None past ``budget``."""
    count = 1
    for c in choices:
        count *= len(c)
        if count > budget * 8:
            return None
    out, seen = [], set()
    for pick in itertools.product(*[sorted(c) for c in choices]):
        atoms = frozenset(pick)
        if atoms in seen:
            continue
        seen.add(atoms)
        present = {a[1] for a in atoms if a[0] in ("present", "value")}
        absent = {a[1] for a in atoms if a[0] == "absent"}
        if present & absent or absent & req_i:
            continue
        s: dict = {}
        if present:
            s["required"] = sorted(present)
        if absent:
            s["_forbidden"] = sorted(absent)
        values = [a for a in atoms if a[0] == "value"]
        if values:
            props: dict = {}
            for _, p, sub in sorted(values):
                props.setdefault(p, []).append(schemas[sub])
            s["properties"] = {p: (v[0] if len(v) == 1 else {"allOf": v}) for p, v in props.items()}
        out.append((atoms, s))
    # a pick whose atoms contain another pick's atoms adds nothing to the union
    sets = sorted(out, key=lambda t: len(t[0]))
    kept = [s for n, (a, s) in enumerate(sets) if not any(b < a for b, _ in sets[:n])]
    return None if len(kept) > budget else kept
