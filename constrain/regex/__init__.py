"""Regular-expression constraints: ``re`` syntax → minimal byte DFA → token index."""

from .api import CompiledRegex, Regex, RegexLimits, RegexMatcher

__all__ = ["Regex", "RegexLimits", "CompiledRegex", "RegexMatcher"]
