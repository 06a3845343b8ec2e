"""Regexes (Python ``re`` syntax, over the *decoded* string value) for JSON Schema ``format`` values.

Each pattern is fully anchored (it must match the whole string value) and deliberately a *subset*
of what the format's RFC allows where the full grammar is impractical: every string the pattern
accepts is a valid instance of the format (so strict mode never emits an invalid value), but a few
exotic valid values are not generated (for example IPv6 zone ids, IPv4-in-IPv6 suffixes, quoted
e-mail local parts, leap seconds). ``formats.FORMATS`` maps the format name to its pattern; the
schema compiler converts the pattern to a JSON string terminal (escaping ``"``, ``\\`` and control
characters) with `constrain.schema.jsontext`. Formats no draft defines are annotations (the JSON
Schema specification: unknown formats are ignored by validators); the compiler ignores them with
a `UserWarning`.
"""

from __future__ import annotations

__all__ = ["FORMATS", "UNCHECKED_FORMATS", "format_pattern"]

_D2 = r"[0-9]{2}"
_DATE = r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
# RFC 3339 full-date with the per-month day limit (February: 29, leap years not tracked, so the
# 29th of February is allowed only... every year would be wrong): days 29 of February are refused.
_DATE_EXACT = (r"[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
               r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
               r"|02-(?:0[1-9]|1[0-9]|2[0-8]))")
_TIME = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?(?:[zZ]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
_DUR_T = r"T(?:[0-9]+H(?:[0-9]+M(?:[0-9]+S)?)?|[0-9]+M(?:[0-9]+S)?|[0-9]+S)"
_DURATION = (r"P(?:(?:[0-9]+Y(?:[0-9]+M(?:[0-9]+D)?)?|[0-9]+M(?:[0-9]+D)?|[0-9]+D)(?:" + _DUR_T + r")?"
             r"|" + _DUR_T + r"|[0-9]+W)")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
_H16 = r"[0-9a-fA-F]{1,4}"
_IPV6 = ("(?:"
         rf"(?:{_H16}:){{7}}{_H16}"
         rf"|(?:{_H16}:){{1,7}}:"
         rf"|(?:{_H16}:){{1,6}}:{_H16}"
         rf"|(?:{_H16}:){{1,5}}(?::{_H16}){{1,2}}"
         rf"|(?:{_H16}:){{1,4}}(?::{_H16}){{1,3}}"
         rf"|(?:{_H16}:){{1,3}}(?::{_H16}){{1,4}}"
         rf"|(?:{_H16}:){{1,2}}(?::{_H16}){{1,5}}"
         rf"|{_H16}:(?::{_H16}){{1,6}}"
         rf"|:(?::{_H16}){{1,7}}"
         r"|::"
         ")")
# labels of at most 62 characters, at most 4 labels: never longer than 253 characters in total.
# No label has "--" in its 3rd and 4th characters: RFC 5891 reserves those for IDNA A-labels
# ("xn--" + Punycode), whose validity (Punycode decoding, then IDNA2008 rules on the U-label) is
# not a regular language we check, so A-labels are never generated (``xn--X`` and
# ``XN--aa---o47jg78q`` are invalid hostnames a plain label regex would accept).
_AN = "[A-Za-z0-9]"
_AH = "[A-Za-z0-9-]"
_LABEL = rf"{_AN}(?:{_AN}|{_AH}{_AN}|{_AH}{_AH}{_AN}|{_AH}(?:{_AN}{_AH}|-{_AN}){_AH}{{0,57}}{_AN})?"
_HOSTNAME = rf"{_LABEL}(?:\.{_LABEL}){{0,3}}"
# drafts 4 to 7 define hostname by RFC 1123 alone (their test suites count "xn--" labels and
# "--" in positions 3-4 as valid): any letter-digit-hyphen label
_LABEL_RFC1123 = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,60}[A-Za-z0-9])?"
_HOSTNAME_RFC1123 = rf"{_LABEL_RFC1123}(?:\.{_LABEL_RFC1123}){{0,3}}"
_EMAIL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@" + _HOSTNAME
# RFC 5321 bounds the local part to 64 octets: with maxLength, a bounded subset (at most 4 atoms
# of at most 64 characters and a hostname: at most 511 characters) avoids the length
# product when maxLength is at least that (every match still matches `_EMAIL`)
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
EMAIL_BOUNDED = (rf"{_ATEXT}{{1,64}}(?:\.{_ATEXT}{{1,64}}){{0,3}}@" + _HOSTNAME, 511)
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# RFC 3986 URI (absolute: scheme required), ASCII only, percent-encodings well formed.
_UNRES = r"A-Za-z0-9\-._~"
_SUBD = r"!$&'()*+,;="
_PCT = r"%[0-9A-Fa-f]{2}"
_PCHAR = rf"(?:[{_UNRES}{_SUBD}:@]|{_PCT})"
_URI_TAIL = (rf"(?://(?:(?:[{_UNRES}{_SUBD}:]|{_PCT})*@)?(?:[{_UNRES}{_SUBD}]|{_PCT})*(?::[0-9]*)?"
             rf"(?:/{_PCHAR}*)*"
             rf"|/(?:{_PCHAR}+(?:/{_PCHAR}*)*)?"
             rf"|{_PCHAR}+(?:/{_PCHAR}*)*"
             r"|)"
             rf"(?:\?(?:{_PCHAR}|[/?])*)?(?:#(?:{_PCHAR}|[/?])*)?")
_URI = r"[A-Za-z][A-Za-z0-9+.-]*:" + _URI_TAIL
_PCHAR_NC = rf"(?:[{_UNRES}{_SUBD}@]|{_PCT})"
_AUTH = rf"(?:(?:[{_UNRES}{_SUBD}:]|{_PCT})*@)?(?:[{_UNRES}{_SUBD}]|{_PCT})*(?::[0-9]*)?"
_QF = rf"(?:\?(?:{_PCHAR}|[/?])*)?(?:#(?:{_PCHAR}|[/?])*)?"
_URI_REF = (rf"(?:{_URI}|(?://{_AUTH}(?:/{_PCHAR}*)*|/(?:{_PCHAR}+(?:/{_PCHAR}*)*)?"
            rf"|{_PCHAR_NC}+(?:/{_PCHAR}*)*|){_QF})")
_JSON_POINTER = r"(?:/(?:[^/~]|~[01])*)*"

FORMATS: dict[str, str] = {
    "date-time": rf"{_DATE_EXACT}[Tt]{_TIME}",
    "date": _DATE_EXACT,
    "time": _TIME,
    "duration": _DURATION,
    "email": _EMAIL,
    "hostname": _HOSTNAME,
    "ipv4": _IPV4,
    "ipv6": _IPV6,
    "uri": _URI,
    "uri-reference": _URI_REF,
    "uuid": _UUID,
    "json-pointer": _JSON_POINTER,
}

UNCHECKED_FORMATS = frozenset({"idn-email", "idn-hostname", "iri", "iri-reference", "uri-template",
                               "relative-json-pointer", "regex"})
"""Formats a draft defines that have no pattern here: refused (an ASCII subset would reject valid
values the official test suite expects accepted). Any name in neither table is unknown to every
draft: an annotation only (the schema compiler warns and ignores it)."""


def format_pattern(name: str, draft: int) -> str | None:
    """The pattern of format ``name`` under ``draft`` (4, 6, 7, 2019, 2020), or None if unknown."""
    if name == "hostname" and draft <= 7:
        return _HOSTNAME_RFC1123
    return FORMATS.get(name)
