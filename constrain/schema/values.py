"""``enum`` and ``const``: literal JSON texts."""

from __future__ import annotations

import json
import math
import re

from ..regex import parser as rxp
from .common import _KNOWN, _json_type
from .jsontext import _tree_json


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
        alts = []
        for v in ok:
            alts.append(self.literal_pattern(v))
        alts = list(dict.fromkeys(alts))
        if not alts:
            return None
        # strings and scalars in one terminal (a trie-shaped regex is cheap); objects/arrays too
        return self.rx("|".join(f"(?:{a})" for a in alts) if len(alts) > 1 else alts[0])

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
        rest = {k: x for k, x in s.items() if k in _KNOWN and k not in ("enum", "const", "type")}
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
