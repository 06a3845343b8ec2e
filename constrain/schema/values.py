"""``enum`` and ``const``: literal JSON texts."""

from __future__ import annotations

import json
import math
import re

from ..regex import parser as rxp
from .common import _KNOWN, _json_type
from .jsontext import _tree_json


_ENUM_REGEX_MAX_VALUES = 256  # beyond these, enum/const values become a literal trie of rules
_ENUM_REGEX_MAX_CHARS = 4096


class ValuesMixin:
    # -- enum / const -------------------------------------------------------------------------------------
    def enum(self, vals, s, types, ptr, base) -> str | None:
        ok = []
        for v in vals:
            t = _json_type(v)
            if t not in types and not (t == "integer" and "number" in types) \
                    and not (t == "number" and "integer" in types and float(v).is_integer()):
                continue
            r = self.value_ok(v, s, ptr, base)
            if r:
                ok.append(v)
        if len(ok) > _ENUM_REGEX_MAX_VALUES or sum(len(self.dump(v)) for v in ok) > _ENUM_REGEX_MAX_CHARS:
            return self.literal_trie(sorted({self.dump(v) for v in ok}))
        alts = list(dict.fromkeys(self.literal_pattern(v) for v in ok))
        if not alts:
            return None
        # a few values: one terminal, every JSON spelling of each value (escapes, 1 vs 1.0)
        return self.rx("|".join(f"(?:{a})" for a in alts) if len(alts) > 1 else alts[0])

    def literal_trie(self, texts: list[str]) -> str | None:
        """A radix trie of rules over literal terminals deriving exactly the (sorted, distinct)
        ``texts``: linear in their total length, O(1) regex work per edge (the engine glues
        literal DFAs from per-character ones). Values are written in their canonical JSON
        spelling only (``json.dumps``: a large enum is not matched through ``\\u`` escapes or
        as ``1.0`` for ``1``), an under-approximation. Built with an explicit stack: any depth."""
        if not texts:
            return None
        root = self.nt("trie")
        stack = [(0, len(texts), 0, root)]
        while stack:
            lo, hi, off, node = stack.pop()
            if len(texts[lo]) == off:  # a text ends here (sorted: it comes first)
                self.rule(node)
                lo += 1
            a = lo
            while a < hi:
                ch = texts[a][off]
                b = a + 1
                while b < hi and texts[b][off] == ch:
                    b += 1
                if b - a == 1:
                    self.rule(node, self.literal(texts[a][off:]))
                else:
                    first, last = texts[a], texts[b - 1]
                    n = off + 1
                    while n < len(first) and n < len(last) and first[n] == last[n]:
                        n += 1
                    child = self.nt("trie")
                    self.rule(node, self.literal(first[off:n]), child)
                    stack.append((a, b, n, child))
                a = b
        return root

    def literal_pattern(self, v) -> str:
        if isinstance(v, bool) or v is None:
            return json.dumps(v)
        if isinstance(v, (int, float)):
            if isinstance(v, float) and not math.isfinite(v):
                raise self.invalid("non-finite number", "")
            if float(v).is_integer() and abs(v) < 1e300:
                iv = int(v)
                return re.escape(str(iv)) + r"(?:\.0+)?"
            return re.escape(json.dumps(v))
        if isinstance(v, str):
            return self.string_literal(v)
        return re.escape(self.dump(v))

    def string_literal(self, v: str) -> str:
        tree = rxp.Concat(tuple(rxp.Chars(((ord(c), ord(c)),)) for c in v)) if v else rxp.EPSILON
        return '"' + (_tree_json(tree) or "") + '"'

    def dump(self, v) -> str:
        return json.dumps(v, ensure_ascii=False, separators=(",", ":"))

    def value_ok(self, v, s, ptr, base) -> bool:
        """Whether an enum value satisfies the other keywords of its schema."""
        if isinstance(v, dict) and any(k in v for k in s.get("_forbidden", ())):
            return False  # `not: {required: [k]}` and absent dependency triggers
        if isinstance(v, str) and not all(d.fullmatch(v.encode("utf-8")) for _, d in s.get("_string_langs", ())):
            return False  # a string language of `oneof_strings`
        rest = {k: x for k, x in s.items() if k in _KNOWN and k not in ("enum", "const", "type")}
        extra = [{"pattern": p} for p in s.get("_patterns", ())] + [{"format": f} for f in s.get("_formats", ())]
        if extra:  # patterns and formats merged in from allOf members
            rest["allOf"] = list(rest.get("allOf", ())) + extra
        if not rest:
            return True
        try:
            import jsonschema
        except ImportError:  # pragma: no cover
            self.unsupported("enum", ptr, "enum with sibling keywords needs the jsonschema package")
            return True
        sub = dict(rest)
        if isinstance(self.root, dict):
            for k in ("$defs", "definitions"):
                if k in self.root:
                    sub[k] = self.root[k]
        try:
            cls = jsonschema.validators.validator_for({"$schema": self.root.get("$schema")} if isinstance(self.root, dict) and isinstance(self.root.get("$schema"), str) else {},
                                                      default=jsonschema.Draft202012Validator)
            return cls(sub, format_checker=cls.FORMAT_CHECKER).is_valid(v)
        except Exception:
            self.unsupported("enum", ptr, "cannot check enum values against sibling keywords")
            return True
