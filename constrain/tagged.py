"""``Tagged``: free text, and wherever a trigger appears, a tag ``begin + body + end``; repeatable.

The general structural-tag constraint (what xgrammar calls a structural tag with triggers and
llguidance writes as Lark with ``%json`` bodies): the output is free text in which the first
occurrence of a *trigger* (e.g. ``<tool_call>``) must start one of the tags whose ``begin`` starts
with that trigger; the tag's ``body`` constraint (JSON Schema, regex, grammar, choice, or a
composite) applies until its ``end`` string, then free text resumes. Free text is one lexeme per
stretch (a DFA of "no trigger yet", see `constrain.textscan`), so it costs a DFA step per byte;
however the tokenizer splits a trigger, a tag starts exactly where the trigger's bytes complete,
even in the middle of a token. Compiles to one grammar (`constrain.compose`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .compose import CFGBuilder, GrammarConstraint, accepts
from .errors import InvalidSyntax
from .textscan import avoid_pattern, until_pattern

__all__ = ["Tag", "Tagged", "TagMatch"]

_MAX_UNROLL = 64


@dataclass(frozen=True)
class Tag:
    """``begin`` (a literal that starts with one of the triggers), a ``body`` constraint (or a
    literal str), and an ``end`` literal (may be empty). ``name`` labels it in `Tagged.parse`."""

    begin: str
    body: Any
    end: str = ""
    name: str | None = None


@dataclass(frozen=True)
class TagMatch:
    """One tag found by `Tagged.parse`: its index in ``Tagged.tags``, the tag and the body text."""

    index: int
    tag: Tag
    body: str


class Tagged(GrammarConstraint):
    """Free text with tags (see the module docstring).

    Parameters
    ----------
    tags : list[Tag]
        The tags (may be empty: free text that never contains a trigger).
    triggers : list[str], optional
        Strings that open a tag; each tag's ``begin`` must start with one (the longest that
        fits is used). Default: every tag's ``begin``.
    text : bool
        True: free text before, between and after tags. False: only ``separator`` there.
    min_tags, max_tags : int
        How many tags the output holds (``max_tags=None``: unbounded; at most 64 otherwise).
    separator : str
        Regex used instead of free text when ``text=False`` (bounded whitespace by default).
    limits : GrammarLimits, optional

    Raises
    ------
    InvalidSyntax
        A tag whose ``begin`` starts with no trigger, an empty ``begin`` or trigger,
        ``min_tags > max_tags``, or ``min_tags > 0`` without tags.
    UnsupportedFeature
        A token-level body (``Items``).
    """

    def __init__(self, tags, triggers=None, *, text: bool = True, min_tags: int = 0,
                 max_tags: int | None = None, separator: str = r"[ \t\r\n]{0,8}", limits=None):
        self.tags = tuple(tags)
        for k, t in enumerate(self.tags):
            if not isinstance(t, Tag):
                raise TypeError(f"tags[{k}] is {type(t).__name__}, expected Tag")
            if not t.begin:
                raise InvalidSyntax(f"tags[{k}] has an empty begin string")
        self.triggers = tuple(dict.fromkeys(triggers if triggers is not None
                                            else [t.begin for t in self.tags]))
        self.text, self.separator = bool(text), separator
        self.min_tags, self.max_tags = int(min_tags), max_tags
        if max_tags is not None and not 0 <= min_tags <= max_tags:
            raise InvalidSyntax(f"need 0 <= min_tags <= max_tags, got {min_tags}, {max_tags}")
        if max(min_tags, max_tags or 0) > _MAX_UNROLL:
            raise InvalidSyntax(f"min_tags and max_tags are at most {_MAX_UNROLL}")
        if min_tags and not self.tags:
            raise InvalidSyntax("min_tags > 0 needs at least one tag")
        if self.text and not self.triggers:
            raise InvalidSyntax("free text needs at least one trigger (or a tag)")
        self.tag_trigger = tuple(self._trigger_of(k, t) for k, t in enumerate(self.tags))
        self._init_grammar(self._make_cfg(), limits)

    def _trigger_of(self, k: int, tag: Tag) -> int:
        fits = [i for i, w in enumerate(self.triggers) if tag.begin.startswith(w)]
        if self.text and not fits:
            raise InvalidSyntax(f"tags[{k}].begin {tag.begin!r} starts with none of the triggers "
                                f"{list(self.triggers)!r}")
        return max(fits, key=lambda i: len(self.triggers[i])) if fits else -1

    def _make_cfg(self):
        b = CFGBuilder()
        if self.text:
            gap_end = b.terminal(avoid_pattern(self.triggers), "free")
            until = {i: b.terminal(until_pattern(self.triggers, i), "until")
                     for i in sorted(set(self.tag_trigger))}
        else:
            gap_end = b.terminal(self.separator, "sep")
        tag_syms = []
        for k, t in enumerate(self.tags):
            sym = b.fresh("tag")
            body = b.part(t.body)
            if self.text:
                i = self.tag_trigger[k]
                b.rule(sym, until[i], b.literal(t.begin[len(self.triggers[i]):]), body,
                       b.literal(t.end))
            else:
                b.rule(sym, gap_end, b.literal(t.begin), body, b.literal(t.end))
            tag_syms.append(sym)
        lo, hi = self.min_tags, self.max_tags
        cap = hi if hi is not None else lo
        seg = [b.fresh("seg") for _ in range(cap + 1)]
        for c in range(cap + 1):
            if c >= lo:
                b.rule(seg[c], gap_end)
            if hi is None or c < hi:
                nxt = seg[min(c + 1, cap)]
                for sym in tag_syms:
                    b.rule(seg[c], sym, nxt)
        return b.build(seg[0])

    def __repr__(self) -> str:
        return (f"Tagged({len(self.tags)} tags, triggers={list(self.triggers)!r}, text={self.text}, "
                f"min_tags={self.min_tags}, max_tags={self.max_tags})")

    # -- reading outputs ------------------------------------------------------------------------

    def _next_trigger(self, text: str, pos: int) -> tuple[int, int] | None:
        """(start, end) of the first trigger occurrence in ``text[pos:]`` by end position."""
        if not self.text:
            starts = [text.find(t.begin, pos) for t in self.tags]
            starts = [s for s in starts if s >= 0]
            return (min(starts), min(starts)) if starts else None
        best = None
        for w in self.triggers:
            s = text.find(w, pos)
            if s >= 0 and (best is None or s + len(w) < best[1]):
                best = (s, s + len(w))
        return best

    def parse(self, text: str | bytes) -> list:
        """Split an output into free-text strings and `TagMatch` objects, in order.

        Raises ValueError when ``text`` is not an output of this constraint (e.g. cut short).
        """
        text = text.decode("utf-8") if isinstance(text, bytes) else text
        out: list = []
        pos = 0
        while True:
            hit = self._next_trigger(text, pos)
            if hit is None:
                if pos < len(text):
                    out.append(text[pos:])
                return out
            start = hit[0]
            if start > pos:
                out.append(text[pos:start])
            found = self._match_tag(text, start)
            if found is None:
                raise ValueError(f"no complete tag at offset {start}: {text[start:start + 40]!r}")
            out.append(found[0])
            pos = found[1]

    def _match_tag(self, text: str, start: int):
        """The first (shortest) body of a tag at ``start`` that the body constraint accepts and
        that is followed by the tag's end; (TagMatch, offset after the end) or None."""
        for k, t in enumerate(self.tags):
            if not text.startswith(t.begin, start):
                continue
            b0 = start + len(t.begin)
            for e in _body_ends(t.body, text, b0):
                if not t.end or text.startswith(t.end, e):
                    return TagMatch(k, t, text[b0:e]), e + len(t.end)
        return None


def _body_ends(body, text: str, b0: int):
    """Offsets ``e >= b0`` (increasing) where ``text[b0:e]`` is in the body's language. A grammar
    body is run once over the bytes (stopping where it dies): linear, not one parse per offset."""
    engine = getattr(getattr(body, "grammar", body), "engine", None)
    if engine is None or not hasattr(engine, "feed"):
        for e in range(b0, len(text) + 1):
            if accepts(body, text[b0:e]):
                yield e
        return
    from .grammar.chart import Chart

    chart = Chart.initial(engine)
    if chart.accept_at(0):
        yield b0
    for e in range(b0, len(text)):
        if not chart.feed(text[e].encode()):
            return
        if chart.accept_at(chart.n - 1):
            yield e + 1
