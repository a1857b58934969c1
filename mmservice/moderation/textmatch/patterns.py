"""Compile the term pattern language (see `moderation/terms/README.md`) into regular expressions.

Why a compiler with the slots passed in: the built-in lists and each tenant's lists name their
own slots; one compiler per slot table, no module global. Matching stays linear-time by
construction: the normalizer caps letter runs at two and every repeat here is bounded
(`c{1,2}`), so a hostile 10 000-character input cannot make the regex engine backtrack for long.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

_SEP = " ?"
_SUFFIX = {"": None, "=": "", "~": "(?:s|es|ed|d|ing|ings|er|ers)?", "*": "[a-z0-9]*"}
_WORD = re.compile(r"[a-z0-9]+[=~*]?")


def _word_regex(word: str) -> str:
    mark = word[-1] if word[-1] in "=~*" else ""
    stem = word[:-1] if mark else word
    out = []
    for m in re.finditer(r"(.)\1*", stem):
        ch, n = re.escape(m.group(1)), len(m.group(0))
        out.append(f"{ch}{{1,2}}" if n == 1 else f"{ch}{{2}}")
    suffix = _SUFFIX[mark]
    if suffix is None:  # default: optional plural s on words of three letters or more
        suffix = "s?" if len(stem) >= 3 and not stem.endswith("s") else ""
    return "".join(out) + suffix


class _Parser:
    """pattern := seq; seq := item (' ' item)*; item := atom '?'?;
    atom := '(' seq ('|' seq)* ')' | '{slot}' | '_' | '#' | '<num>' | '<year>' | word ('|' word)*"""

    def __init__(self, text: str, compiler: PatternCompiler, stack: tuple[str, ...]):
        self.s, self.i, self.compiler, self.stack = text.strip(), 0, compiler, stack
        self.depth = 0  # inside parentheses "|" separates sequences, not words

    def error(self, msg: str) -> ValueError:
        return ValueError(f"term pattern {self.s!r} at {self.i}: {msg}")

    def parse(self) -> str:
        out = self.seq(top=True)
        if self.i != len(self.s):
            raise self.error("unexpected character")
        return out

    def seq(self, top: bool = False) -> str:
        parts: list[str] = []
        while self.i < len(self.s):
            c = self.s[self.i]
            if c == " ":
                self.i += 1
                continue
            if c in ")|" and not top:
                break
            if c in ")|":
                raise self.error("unbalanced")
            atom = self.atom()
            optional = self.i < len(self.s) and self.s[self.i] == "?"
            if optional:
                self.i += 1
            piece = atom if not parts else _SEP + atom
            parts.append(f"(?:{piece})?" if optional else piece)
        if not parts:
            raise self.error("empty sequence")
        return "".join(parts)

    def atom(self) -> str:
        c = self.s[self.i]
        if c == "_":  # any one whole word (anchored at both ends, so it cannot split a word)
            self.i += 1
            return r"(?<![a-z0-9])[a-z0-9]+(?![a-z0-9])"
        if self.s.startswith("<num>", self.i):  # any number ("level 3")
            self.i += 5
            return r"(?<![a-z0-9])[0-9]{1,6}(?![a-z0-9])"
        if self.s.startswith("<year>", self.i):  # a year from 1500 to 2099
            self.i += 6
            return r"(?<![a-z0-9])(?:1[5-9][0-9]{2}|20[0-9]{2})(?![a-z0-9])"
        if c == "#":  # start of a sentence (the matcher puts "#" before every text)
            self.i += 1
            return "#"
        if c == "(":
            self.i += 1
            self.depth += 1
            alts = [self.seq()]
            while self.i < len(self.s) and self.s[self.i] == "|":
                self.i += 1
                alts.append(self.seq())
            if self.i >= len(self.s) or self.s[self.i] != ")":
                raise self.error("missing )")
            self.i += 1
            self.depth -= 1
            return "(?:" + "|".join(alts) + ")"
        if c == "{":
            end = self.s.find("}", self.i)
            if end < 0:
                raise self.error("missing }")
            name = self.s[self.i + 1:end]
            self.i = end + 1
            return self.compiler.slot(name, self.stack)
        words = []
        while True:
            m = _WORD.match(self.s, self.i)
            if not m:
                raise self.error("expected a word")
            words.append(_word_regex(m.group(0)))
            self.i = m.end()
            if self.depth == 0 and self.i < len(self.s) and self.s[self.i] == "|":
                self.i += 1
                continue
            break
        return words[0] if len(words) == 1 else "(?:" + "|".join(words) + ")"


class PatternCompiler:
    """Patterns to regex source, against one table of slots (slot name -> phrases).

    Slot expansions are cached on the compiler, so build one per slot table and reuse it."""

    def __init__(self, slots: Mapping[str, Sequence[str]]):
        self.slots = slots
        self._slot_cache: dict[tuple[str, tuple[str, ...]], str] = {}

    def pattern(self, pattern: str, stack: tuple[str, ...] = ()) -> str:
        """The regex source of one pattern (not anchored; see `bounded`)."""
        return _Parser(pattern, self, stack).parse()

    def slot(self, name: str, stack: tuple[str, ...] = ()) -> str:
        key = (name, stack)
        if key not in self._slot_cache:
            if name not in self.slots:
                raise ValueError(f"unknown slot {{{name}}}")
            if name in stack:
                raise ValueError(f"slot {{{name}}} refers to itself")
            alts = [self.pattern(p, stack + (name,)) for p in self.slots[name]]
            self._slot_cache[key] = "(?:" + "|".join(alts) + ")"
        return self._slot_cache[key]

    def compile(self, patterns: Iterable[str]) -> re.Pattern:
        """One regex matching any of `patterns` on word boundaries, tried in order."""
        return bounded([self.pattern(p) for p in patterns])


def pattern_regex(pattern: str, slots: Mapping[str, Sequence[str]]) -> str:
    """The regex source of one pattern against `slots` (a one-off; prefer a PatternCompiler)."""
    return PatternCompiler(slots).pattern(pattern)


def bounded(alternatives: list[str]) -> re.Pattern:
    """Regex sources joined as alternatives, matching whole words only."""
    return re.compile(r"(?<![a-z0-9])(?:" + "|".join(alternatives) + r")(?![a-z0-9])")
