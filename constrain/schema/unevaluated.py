"""``unevaluatedProperties`` / ``unevaluatedItems`` (draft 2019-09 annotation semantics).

Without applicators they are exactly ``additionalProperties`` / ``items`` (`lower_unevaluated`).
Beside applicators that always apply (``allOf``, ``$ref``; a failing member fails the whole
schema, so its annotations never matter), the evaluated locations are known statically: the
union of the ``properties`` / ``patternProperties`` of every member (recursively), or every
location once some member has ``additionalProperties`` or its own ``unevaluatedProperties``; for
arrays the longest ``prefixItems``, or every item once a member has ``items`` (2020-12) /
``additionalItems`` / ``unevaluatedItems``. The keyword then becomes one more ``allOf`` member
(`close_unevaluated`): ``{properties: {evaluated: true}, patternProperties: {...: true},
additionalProperties: U}`` (or ``{prefixItems: [true] * n, items: U}``), exactly its meaning.

Applicators whose members apply conditionally (``anyOf``, ``oneOf``, ``if``,
``dependentSchemas``) and, for items, ``contains`` beside ``allOf`` make the evaluated set depend
on the instance: refused (`walk_evaluated` returns None).
"""

from __future__ import annotations

_CONDITIONAL = ("anyOf", "oneOf", "if", "dependentSchemas", "dependencies", "$dynamicRef", "$recursiveRef")
_APPLICATORS = ("allOf", "anyOf", "oneOf", "if", "dependentSchemas", "$dynamicRef", "$recursiveRef",
                "dependencies")
_ALL = "all"


class UnevaluatedMixin:
    def lower_unevaluated(self, s: dict) -> dict:
        """``unevaluatedProperties``/``unevaluatedItems`` in a schema without applicators are
        exactly ``additionalProperties``/``items`` (nothing else evaluates a location), except
        that from 2020-12 on ``contains`` evaluates the items it matches: the items after
        ``prefixItems`` then match ``contains`` or ``unevaluatedItems``."""
        if any(k in s for k in _APPLICATORS):
            return s
        if "unevaluatedProperties" in s:
            u = s.pop("unevaluatedProperties")
            s.setdefault("additionalProperties", u)
        if "unevaluatedItems" in s and not isinstance(s.get("items"), list):
            u = s.pop("unevaluatedItems")
            if "contains" in s and self.draft >= 2020 and "items" not in s and u not in (True, {}):
                u = {"anyOf": [s["contains"], u]}
            s.setdefault("items", u)
        return s

    def close_unevaluated(self, s: dict, ptr: str, base: str) -> dict:
        """``s`` (with ``$ref``/``allOf`` beside ``unevaluated*``) with each ``unevaluated*``
        keyword replaced by the closing ``allOf`` member of the module docstring, when the
        evaluated set is static; otherwise ``s`` unchanged (refused later)."""
        if self.draft < 2019 or not ("allOf" in s or "$ref" in s):
            return s
        s = dict(s)
        closing = []
        for kw, kind in (("unevaluatedProperties", "props"), ("unevaluatedItems", "items")):
            if kw not in s:
                continue
            u = s[kw]
            body = {k: v for k, v in s.items() if k not in ("unevaluatedProperties", "unevaluatedItems")}
            ev = self.walk_evaluated(body, base, kind, 0)
            if ev is None:
                continue
            del s[kw]
            if ev is _ALL or u is True or u == {}:
                continue
            if kind == "props":
                props, pats = ev
                closing.append({"properties": {k: True for k in sorted(props)},
                                "patternProperties": {p: True for p in sorted(pats)},
                                "additionalProperties": u})
            else:
                closing.append({"prefixItems": [True] * ev, "items": u})
        if closing:
            s["allOf"] = list(s.get("allOf", ())) + closing
        return s

    def walk_evaluated(self, s, base: str, kind: str, depth: int):
        """What always-applying subschemas of ``s`` evaluate: ``(property names, patterns)`` or
        the longest prefix length, `_ALL`, or None when it depends on the instance."""
        if s is True or s is False or s == {}:
            return (set(), set()) if kind == "props" else 0
        if not isinstance(s, dict) or depth > 30 or any(k in s for k in _CONDITIONAL):
            return None
        if kind == "props":
            if "additionalProperties" in s or "unevaluatedProperties" in s:
                return _ALL
            props = set(s["properties"]) if isinstance(s.get("properties"), dict) else set()
            pats = set(s["patternProperties"]) if isinstance(s.get("patternProperties"), dict) else set()
            acc = (props, pats)
        else:
            items = s.get("items")
            if "unevaluatedItems" in s or (items is not None and not isinstance(items, list)) \
                    or (isinstance(items, list) and "additionalItems" in s):
                return _ALL
            if "contains" in s and self.draft >= 2020:
                return None
            prefix = s.get("prefixItems") if self.draft >= 2020 else items
            acc = len(prefix) if isinstance(prefix, list) else 0
        subs = []
        if isinstance(s.get("allOf"), list):
            subs += [(m, base) for m in s["allOf"]]
        if "$ref" in s:
            node, nbase, key = self.resolve(s["$ref"], base, "")
            if key is None:
                return None
            subs.append((node, nbase))
        for m, mbase in subs:
            ev = self.walk_evaluated(m, self.base_of(m, mbase) if isinstance(m, dict) else mbase, kind, depth + 1)
            if ev is None or ev is _ALL:
                return ev
            acc = (acc[0] | ev[0], acc[1] | ev[1]) if kind == "props" else max(acc, ev)
        return acc

    def merge_member_unevaluated(self, p: dict, ptr: str, base: str) -> dict:
        """An ``allOf`` member holding ``unevaluated*``: its own evaluation decides (siblings'
        annotations do not reach it), so it is closed on its own before merging; refused when
        that is not exact."""
        p = self.close_unevaluated(p, ptr, base) if ("allOf" in p or "$ref" in p) else self.lower_unevaluated(dict(p))
        if "unevaluatedProperties" in p or "unevaluatedItems" in p:
            kw = "unevaluatedProperties" if "unevaluatedProperties" in p else "unevaluatedItems"
            self.unsupported(kw, ptr, "inside allOf, beside applicators whose members apply conditionally")
            p = {k: v for k, v in p.items() if k not in ("unevaluatedProperties", "unevaluatedItems")}
        return p

