"""Term matching shared by every engine: a normalizer and a compiler for the pattern language.

Why outside the local provider: tenant block/allow lists apply to every provider's results and
must match on the same normalized text as the built-in engine (`1d10t` has to hit a tenant's
`idiot`). The pattern language is described in `mmservice/moderation/terms/README.md`.
"""
from mmservice.moderation.textmatch.normalize import NameHints, Normalized, normalize
from mmservice.moderation.textmatch.patterns import PatternCompiler, bounded, pattern_regex

__all__ = ["NameHints", "Normalized", "PatternCompiler", "bounded", "normalize", "pattern_regex"]
