"""References: ``$id``/``$anchor`` indexing, ``$ref`` resolution, inlining for merges."""

from __future__ import annotations

from urllib.parse import unquote, urljoin, urldefrag

from .common import _KNOWN, _SUBSCHEMA, _ptr_join


class RefsMixin:
    # -- drafts, ids -------------------------------------------------------------------------
    @staticmethod
    def _detect_draft(root) -> int:
        s = root.get("$schema", "") if isinstance(root, dict) else ""
        if not isinstance(s, str):
            return 2020
        for tag, d in (("draft-03", 3), ("draft-04", 4), ("draft-06", 6), ("draft-07", 7),
                       ("2019-09", 2019), ("2020-12", 2020)):
            if tag in s:
                return d
        return 2020

    def _index(self, node, base, ptr=""):
        if isinstance(node, dict):
            nid = node.get("$id") if "$id" in node else (node.get("id") if self.draft <= 4 else None)
            if isinstance(nid, str):
                if nid.startswith("#") and self.draft <= 7:
                    self.anchors[urljoin(base, nid)] = node
                else:
                    base = urldefrag(urljoin(base, nid))[0]
                    self.ids.setdefault(base, node)
            anc = node.get("$anchor")
            if isinstance(anc, str):
                self.anchors[base + "#" + anc] = node
            danc = node.get("$dynamicAnchor")
            if isinstance(danc, str):
                self.anchors.setdefault(base + "#" + danc, node)
            self._bases = getattr(self, "_bases", {})
            self._bases[id(node)] = base
            for k, v in node.items():
                if k in ("properties", "patternProperties", "$defs", "definitions",
                         "dependentSchemas", "dependencies") and isinstance(v, dict):
                    for kk, vv in v.items():
                        self._index(vv, base, _ptr_join(ptr, k, kk))
                elif k in _SUBSCHEMA and isinstance(v, dict):
                    self._index(v, base, _ptr_join(ptr, k))
                elif k in _SUBSCHEMA and isinstance(v, list):
                    for i, vv in enumerate(v):
                        self._index(vv, base, _ptr_join(ptr, k, i))

    def base_of(self, node, default):
        return getattr(self, "_bases", {}).get(id(node), default)

    # -- $ref ------------------------------------------------------------------------------------
    def resolve(self, ref: str, base: str, ptr: str):
        """(target schema, its base uri, canonical key) for a $ref."""
        if not isinstance(ref, str):
            raise self.invalid("$ref must be a string", ptr)
        absu = urljoin(base, ref)
        doc_uri, frag = urldefrag(absu)
        if doc_uri not in self.ids and not (doc_uri == self.root_base):
            self.unsupported("$ref", ptr, f"remote or unknown reference {ref!r}")
            return True, base, None
        doc = self.ids.get(doc_uri, self.root)
        if frag and not frag.startswith("/"):
            node = self.anchors.get(doc_uri + "#" + frag)
            if node is None:
                raise self.invalid(f"unknown anchor in $ref {ref!r}", ptr)
            return node, self.base_of(node, doc_uri), absu
        node = doc
        for part in (frag.split("/")[1:] if frag else []):
            part = unquote(part).replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise self.invalid(f"$ref {ref!r} does not resolve", ptr)
        return node, self.base_of(node, doc_uri), doc_uri + "#" + frag

    def ref_symbol(self, ref, base, ptr) -> str | None:
        node, nbase, key = self.resolve(ref, base, ptr)
        if key is None:
            return self.gen(True, ptr, base)
        if key in self.memo:
            return self.memo[key]
        A = self.nt("ref")
        self.memo[key] = A
        body = self.gen(node, "#" + key.split("#", 1)[1] if "#" in key else ptr, nbase)
        if body is None:
            self.memo[key] = None  # unsatisfiable target; earlier uses keep a rule-less symbol
            return None
        self.rule(A, body)
        return A

    def deref(self, b, base, depth=0):
        while isinstance(b, dict) and "$ref" in b and depth < 50:
            rest = {k: v for k, v in b.items() if k in _KNOWN and k != "$ref"}
            node, nbase, key = self.resolve(b["$ref"], base, "")
            if key is None or rest:
                return b
            b, base, depth = node, nbase, depth + 1
        return b

    def deref_full(self, p, base, ptr, depth=0):
        """Inline $ref / nested allOf of a schema for merging."""
        if depth > 30:
            self.unsupported("allOf", ptr, "recursive $ref inside allOf")
            return True
        if isinstance(p, dict) and "$ref" in p:
            node, nbase, key = self.resolve(p["$ref"], base, ptr)
            rest = {k: v for k, v in p.items() if k != "$ref"} if self.draft > 7 else {}
            if key is None:
                node = True
            node = self.deref_full(node, nbase, ptr, depth + 1)
            if node is False:
                return False
            if node is True:
                node = {}
            if rest and ("unevaluatedProperties" in node or "unevaluatedItems" in node):
                node = self.merge_member_unevaluated(node, ptr, nbase)  # it sees its own evaluation only
            merged = self.merge2(dict(node), rest, ptr, base) if rest else dict(node)
            return merged
        if isinstance(p, dict) and "allOf" in p:
            q = dict(p)
            r = self.merge_allof(q, ptr, base)
            return r
        if p == {}:
            return True
        return p
