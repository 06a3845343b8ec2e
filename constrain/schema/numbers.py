"""Numbers: ``minimum``/``maximum``/``exclusive*`` as digit-by-digit regexes, ``multipleOf``
as enumerations or residue automata."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

from .common import _ENUM_MULTIPLES_MAX, _MOD_MAX, _is_pow10
from .jsontext import _INTEGER, _NUMBER


def _same_len(a: str, b: str) -> str:
    n = len(a)
    if a == b:
        return a
    if a == "0" * n and b == "9" * n:
        return f"[0-9]{{{n}}}" if n > 1 else "[0-9]"
    if n == 1:
        return f"[{a}-{b}]"
    if a[0] == b[0]:
        return a[0] + "(?:" + _same_len(a[1:], b[1:]) + ")"
    parts = [a[0] + "(?:" + _same_len(a[1:], "9" * (n - 1)) + ")"]
    if int(b[0]) - int(a[0]) > 1:
        parts.append(f"[{int(a[0]) + 1}-{int(b[0]) - 1}][0-9]{{{n - 1}}}")
    parts.append(b[0] + "(?:" + _same_len("0" * (n - 1), b[1:]) + ")")
    return "(?:" + "|".join(parts) + ")"


def _nat_range(lo: int, hi: int | None) -> str | None:
    """Decimal strings (no leading zeros) of the integers in [lo, hi] (hi None = unbounded)."""
    if hi is not None and hi < lo:
        return None
    parts = []
    L = len(str(lo))
    Lmax = len(str(hi)) if hi is not None else L
    for n in range(L, Lmax + 1):
        a = max(lo, 0 if n == 1 else 10 ** (n - 1))
        b = 10 ** n - 1 if hi is None else min(hi, 10 ** n - 1)
        if a <= b:
            parts.append(_same_len(str(a), str(b)))
    if hi is None:
        parts.append(f"[1-9][0-9]{{{L},}}")
    return "(?:" + "|".join(parts) + ")" if parts else None


def _int_range(lo: int | None, hi: int | None) -> str | None:
    alts = []
    if hi is None or hi >= 0:
        p = _nat_range(max(lo, 0) if lo is not None else 0, hi)
        if p:
            alts.append(p)
    if lo is None or lo < 0:  # negatives: -y with y in [max(1, -hi), -lo]
        ylo = 1 if hi is None or hi >= 0 else -hi
        yhi = None if lo is None else -lo
        p = _nat_range(max(ylo, 1), yhi)
        if p:
            alts.append("-" + p)
    return "(?:" + "|".join(alts) + ")" if alts else None


class _Frac:
    """Fraction digit strings ``f`` with bounds on the value ``0.f`` (digit-by-digit automaton)."""

    FREE, POS = "FREE", "POS"  # lower states: any; must be > 0
    ZERO = "ZERO"              # upper state: must be all zeros

    def __init__(self):
        self.memo = {}

    def norm_lo(self, digits, incl):
        if digits is None:
            return self.FREE
        d = digits.rstrip("0")
        if not d:
            return self.FREE if incl else self.POS
        return (d, incl)

    def norm_hi(self, digits, incl):
        if digits is None:
            return self.FREE
        d = digits.rstrip("0")
        if not d:
            return self.ZERO if incl else None
        return (d, incl)

    def seq(self, lo, hi):
        """(empty_ok, regex of the non-empty digit strings or None)."""
        key = (lo, hi)
        if key in self.memo:
            return self.memo[key]
        if hi is None:
            r = (False, None)
        elif lo == self.FREE and hi == self.FREE:
            r = (True, "[0-9]+")
        elif lo == self.FREE and hi == self.ZERO:
            r = (True, "0+")
        elif lo == self.POS and hi == self.FREE:
            r = (False, "[0-9]*[1-9][0-9]*")
        elif lo == self.POS and hi == self.ZERO:
            r = (False, None)
        else:
            empty_ok = (lo == self.FREE) and (hi in (self.FREE, self.ZERO) or isinstance(hi, tuple))
            groups: dict = {}
            for d in "0123456789":
                nl = self._step_lo(lo, d)
                nh = self._step_hi(hi, d)
                if nl is False or nh is False or nh is None:
                    continue
                groups.setdefault((nl, nh), []).append(d)
            alts = []
            for (nl, nh), ds in groups.items():
                e, p = self.seq(nl, nh)
                cls = ds[0] if len(ds) == 1 else f"[{''.join(ds)}]"
                if p is None and not e:
                    continue
                tail = "" if p is None else (f"(?:{p})?" if e else f"(?:{p})")
                alts.append(cls + tail)
            r = (empty_ok, ("(?:" + "|".join(alts) + ")") if alts else None)
        self.memo[key] = r
        return r

    def _step_lo(self, lo, d):
        if lo == self.FREE:
            return self.FREE
        if lo == self.POS:
            return self.FREE if d != "0" else self.POS
        digits, incl = lo
        if d > digits[0]:
            return self.FREE
        if d < digits[0]:
            return False
        return self.norm_lo(digits[1:], incl)

    def _step_hi(self, hi, d):
        if hi == self.FREE:
            return self.FREE
        if hi == self.ZERO:
            return self.ZERO if d == "0" else False
        digits, incl = hi
        if d < digits[0]:
            return self.FREE
        if d > digits[0]:
            return False
        return self.norm_hi(digits[1:], incl)


def _split_dec(x: Decimal) -> tuple[int, str]:
    """Non-negative decimal → (integer part, fraction digits)."""
    s = format(x, "f")
    if "." in s:
        i, f = s.split(".")
    else:
        i, f = s, ""
    return int(i), f


def _pos_dec(lo: Decimal | None, lo_incl: bool, hi: Decimal | None, hi_incl: bool) -> str | None:
    """JSON numbers without exponent, non-negative, without sign, in the range (lo ≥ 0)."""
    fr = _Frac()
    lo = lo if lo is not None else Decimal(0)
    if lo < 0:
        lo, lo_incl = Decimal(0), True
    if hi is not None and (hi < lo or (hi == lo and not (lo_incl and hi_incl))):
        return None
    il, fl = _split_dec(lo)
    alts = []

    def emit(int_pat, flo, fhi):
        e, p = fr.seq(flo, fhi)
        if p is None and not e:
            return
        frac = "" if p is None else (f"(?:\\.{p})?" if e else f"\\.{p}")
        alts.append(f"(?:{int_pat}){frac}")

    if hi is None:
        emit(str(il), fr.norm_lo(fl, lo_incl), fr.FREE)
        p = _nat_range(il + 1, None)
        if p:
            emit(p, fr.FREE, fr.FREE)
    else:
        ih, fh = _split_dec(hi)
        if il == ih:
            emit(str(il), fr.norm_lo(fl, lo_incl), fr.norm_hi(fh, hi_incl))
        else:
            emit(str(il), fr.norm_lo(fl, lo_incl), fr.FREE)
            if ih - il > 1:
                emit(_nat_range(il + 1, ih - 1), fr.FREE, fr.FREE)
            emit(str(ih), fr.FREE, fr.norm_hi(fh, hi_incl))
    return "(?:" + "|".join(alts) + ")" if alts else None


def _dec_range(lo, lo_incl, hi, hi_incl) -> str | None:
    """JSON numbers (no exponent) in the range; bounds are Decimal or None."""
    alts = []
    if hi is None or hi > 0 or (hi == 0 and hi_incl):
        p = _pos_dec(lo if lo is not None and lo > 0 else Decimal(0),
                     lo_incl if lo is not None and lo > 0 else (lo is None or lo < 0 or lo_incl),
                     hi, hi_incl)
        if p:
            alts.append(p)
    if lo is None or lo < 0:  # -y, y in (max(0, -hi), -lo]
        if hi is not None and hi < 0:
            ylo, ylo_incl = -hi, hi_incl
        else:
            ylo, ylo_incl = Decimal(0), False
        yhi = None if lo is None else -lo
        p = _pos_dec(ylo, ylo_incl, yhi, lo_incl)
        if p:
            alts.append("-" + p)
    return "(?:" + "|".join(alts) + ")" if alts else None


class NumbersMixin:
    def number(self, s, t, ptr) -> str | None:
        def num(k):
            v = s.get(k)
            if v is None or isinstance(v, bool):
                return None
            if not isinstance(v, (int, float)):
                raise self.invalid(f"{k} must be a number", ptr)
            return Decimal(str(v)) if isinstance(v, float) else Decimal(v)

        lo, hi = num("minimum"), num("maximum")
        lo_incl = hi_incl = True
        emin, emax = s.get("exclusiveMinimum"), s.get("exclusiveMaximum")
        if isinstance(emin, bool):  # draft 4
            lo_incl = not emin
        elif emin is not None:
            e = num("exclusiveMinimum")
            if lo is None or e >= lo:
                lo, lo_incl = e, False
        if isinstance(emax, bool):
            hi_incl = not emax
        elif emax is not None:
            e = num("exclusiveMaximum")
            if hi is None or e <= hi:
                hi, hi_incl = e, False
        mult = s.get("multipleOf", s.get("divisibleBy"))
        if mult is not None:
            if isinstance(mult, bool) or not isinstance(mult, (int, float)) or mult <= 0:
                raise self.invalid("multipleOf must be a positive number", ptr)
            fm = Fraction(str(mult))
            if fm.denominator == 1 and int(fm) == 1:
                t, mult = "integer", None
            elif fm.denominator == 1:
                t = "integer"
            elif t == "integer" and (1 / fm).denominator == 1:
                mult = None  # every integer is a multiple of 1/k
            elif fm.numerator == 1 and 10 % fm.denominator == 0 or _is_pow10(fm):
                pass
            else:
                self.unsupported("multipleOf", ptr, f"non-integer multipleOf {mult}")
                mult = None
        if t == "integer":
            ilo = None if lo is None else (math.ceil(lo) if lo_incl else math.floor(lo) + 1)
            ihi = None if hi is None else (math.floor(hi) if hi_incl else math.ceil(hi) - 1)
            if ilo is not None and ihi is not None and ilo > ihi:
                return None
            if mult is not None:
                return self.int_multiple(int(Fraction(str(mult))), ilo, ihi, ptr)
            if ilo is None and ihi is None:
                return self.rx(_INTEGER)
            p = _int_range(ilo, ihi)
            return self.rx(p) if p else None
        if mult is not None:
            fm = Fraction(str(mult))
            if _is_pow10(fm):  # at most k fraction digits
                k = len(str(fm.denominator)) - 1
                if lo is not None or hi is not None:
                    self.unsupported("multipleOf", ptr, "decimal multipleOf combined with bounds")
                return self.rx(rf"-?(?:0|[1-9][0-9]*)(?:\.[0-9]{{1,{k}}})?")
            self.unsupported("multipleOf", ptr, f"multipleOf {mult}")
        if lo is None and hi is None:
            return self.rx(_NUMBER)
        if lo is not None and hi is not None and (lo > hi or (lo == hi and not (lo_incl and hi_incl))):
            return None
        p = _dec_range(lo, lo_incl, hi, hi_incl)
        return self.rx(p) if p else None

    def int_multiple(self, m: int, lo, hi, ptr) -> str | None:
        if lo is not None and hi is not None:
            first = -((-lo) // m) * m
            count = (hi - first) // m + 1 if hi >= first else 0
            if count <= 0:
                return None
            if count <= _ENUM_MULTIPLES_MAX:
                vals = [str(first + i * m) for i in range(count)]
                return self.rx("|".join(vals))
        if m > _MOD_MAX:
            self.unsupported("multipleOf", ptr, f"modulus {m} > {_MOD_MAX} with unbounded range")
            return self.rx(_int_range(lo, hi) or _INTEGER)
        # residue automaton over digits as right-linear rules; bounds: sign only
        allow_pos = hi is None or hi > 0
        allow_neg = lo is None or lo < 0
        allow_zero = (lo is None or lo <= 0) and (hi is None or hi >= 0)
        bounded = (lo is not None and lo not in (0, 1)) or (hi is not None and hi not in (0, -1))
        if bounded:
            self.unsupported("multipleOf", ptr, "multipleOf with bounds other than a sign, over a large range")
        R = [self.nt("mod") for _ in range(m)]
        for r in range(m):
            groups: dict[int, list[str]] = {}
            for d in range(10):
                groups.setdefault((10 * r + d) % m, []).append(str(d))
            for tgt, ds in groups.items():
                self.rule(R[r], self.rx(f"[{''.join(ds)}]"), R[tgt])
        self.rule(R[0])
        pos = self.nt("pos")
        groups = {}
        for d in range(1, 10):
            groups.setdefault(d % m, []).append(str(d))
        for tgt, ds in groups.items():
            self.rule(pos, self.rx(f"[{''.join(ds)}]"), R[tgt])
        alts = []
        if allow_zero:
            alts.append(self.lit("0"))
        if allow_pos:
            alts.append(pos)
        if allow_neg:
            alts.append(self.seq([self.lit("-"), pos]))
        return self.alt(alts, "int")
