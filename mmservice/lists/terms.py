"""A tenant's term list, compiled: words, phrases and bounded regular expressions, matched on the
moderation normalizer's canonical text and reported at their offsets in the original text.

Why tokens and a dictionary, not one big regex: 10,000 items as one alternation costs tens of
milliseconds per 10,000-character text (bench/lists.py); the canonical text is already split into
words, so a dictionary lookup per word (keyed by the word with letter runs collapsed, which is
what makes `idiooot` and `idiot` the same key) finds the candidates, and only candidates are
checked exactly. Word and phrase items therefore always match whole words (`class` never hits
`ass`). Semantics, the same as the built-in pattern language's plain words:

- an item is normalized like the text (`1d10t`, `i d i o t`, Cyrillic look-alikes all read
  `idiot`); a single letter of the item matches one or two in the text, a double letter two;
- the last word of an item also matches its plural with `s` (words of 3+ letters not ending in s);
- a phrase matches consecutive words (a sentence end `#` in between breaks it).

Regex items run on the canonical text (lower-case ASCII words, single spaces, `#` at sentence
ends) with the `regex` module and a timeout; `validate_item` refuses the shapes that backtrack
catastrophically (nested repeats, backreferences) and any pattern that is slow on hostile input.
"""
from __future__ import annotations

import re
import re._parser as sre_parse  # the stdlib's own regex parser, to inspect a pattern's shape
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import accumulate

import regex

from mmservice.moderation.textmatch import NameHints
from mmservice.moderation.textmatch.offsets import TrackedText, normalize_tracked

KINDS = ("word", "phrase", "regex")
MAX_TERM_CHARS = 200
MAX_REGEX_CHARS = 300
MAX_REPEAT = 100  # {m,n} bounds, and what * and + may not sit inside
REGEX_TIMEOUT_S = 0.05
_COLLAPSE = re.compile(r"([a-z])\1")
_HOSTILE = ["a" * 3000 + "!", ("ab" * 1500) + "#", "a " * 1500 + "#", "x" * 3000]


@dataclass(frozen=True)
class TermItem:
    item_id: str
    kind: str  # "word" | "phrase" | "regex"
    value: str
    list_id: str = ""  # one matcher may hold several lists: hits say which


@dataclass(frozen=True)
class TermHit:
    list_id: str
    item_id: str
    kind: str
    value: str  # the item as written
    start: int  # offsets in the ORIGINAL text: text[start:end] is what matched
    end: int
    matched: str


@dataclass
class TermMatches:
    hits: list[TermHit] = field(default_factory=list)
    timed_out: list[str] = field(default_factory=list)  # regex items that hit the timeout


def _collapse(text: str) -> str:
    """Letter runs (at most two in canonical text) to one letter: `idioot` -> `idiot`. One
    str.replace per doubled letter: `re.sub` with a group template runs Python per match."""
    for ch in set(_COLLAPSE.findall(text)):
        text = text.replace(ch + ch, ch)
    return text


def _regex(value: str) -> regex.Pattern:
    """Case-insensitive unless the pattern is lower-case ASCII (the canonical text is, and
    IGNORECASE makes the `regex` module's literal search about three times slower)."""
    lower = value.isascii() and value == value.lower()
    return regex.compile(value, 0 if lower else regex.IGNORECASE)


def _canonical(value: str) -> str:
    return normalize_tracked(value, NameHints(frozenset(), frozenset())).text


def _nested_repeat(tree, inside: bool = False) -> str | None:
    """Why a parsed pattern is unsafe, or None: a repeat inside a repeat, a backreference,
    or a repeat bound above MAX_REPEAT."""
    for op, av in tree:
        name = str(op)
        if name in ("GROUPREF", "GROUPREF_EXISTS"):
            return "backreferences are not allowed"
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            lo, hi, sub = av
            if hi == sre_parse.MAXREPEAT and inside:
                return "a repeat inside a repeat can take exponential time"
            if hi != sre_parse.MAXREPEAT and hi > MAX_REPEAT:
                return f"repeat bounds above {MAX_REPEAT} are not allowed"
            if hi > 1:
                if inside:
                    return "a repeat inside a repeat can take exponential time"
                why = _nested_repeat(sub, True)
            else:
                why = _nested_repeat(sub, inside)
            if why:
                return why
        elif name == "SUBPATTERN":
            why = _nested_repeat(av[-1], inside)
            if why:
                return why
        elif name == "BRANCH":
            for alt in av[1]:
                why = _nested_repeat(alt, inside)
                if why:
                    return why
        elif name in ("ASSERT", "ASSERT_NOT"):
            why = _nested_repeat(av[1], inside)
            if why:
                return why
    return None


def required_literal(value: str) -> str:
    """The longest run of plain characters every match of the pattern contains (case-folded),
    or "". A text without it cannot match, so the regex is not even run (most texts)."""
    best, run = "", ""
    try:
        tree = sre_parse.parse(value)
    except re.error:
        return ""
    for op, av in tree:
        if str(op) == "LITERAL":
            run += chr(av)
            continue
        if str(op) != "AT":  # \b, ^, $ take no characters: the run goes on across them
            best, run = max(best, run, key=len), ""
    return max(best, run, key=len).casefold()


def validate_item(kind: str, value: str) -> str | None:
    """Why the item cannot be stored (a message for a 422), or None if it is fine."""
    if kind not in KINDS:
        return f"kind must be one of {', '.join(KINDS)}"
    if not isinstance(value, str) or not value.strip():
        return "an item must not be empty"
    if kind != "regex":
        if len(value) > MAX_TERM_CHARS:
            return f"a word or phrase is at most {MAX_TERM_CHARS} characters"
        canon = _canonical(value)
        if not canon.replace("#", "").strip():
            return "the item has no letters or digits to match"
        if kind == "word" and " " in canon:
            return "a word item is one word (use kind phrase)"
        return None
    if len(value) > MAX_REGEX_CHARS:
        return f"a regular expression is at most {MAX_REGEX_CHARS} characters"
    try:
        tree = sre_parse.parse(value)
        compiled = regex.compile(value, regex.IGNORECASE)
    except (re.error, regex.error) as e:
        return f"invalid regular expression: {e}"
    why = _nested_repeat(tree)
    if why:
        return f"unsafe regular expression: {why}"
    if compiled.search(""):
        return "the regular expression matches empty text"
    for probe in _HOSTILE:  # the last line of defence: too slow on hostile input
        try:
            compiled.search(probe, timeout=REGEX_TIMEOUT_S)
        except TimeoutError:
            return "unsafe regular expression: too slow on long repetitive input"
    return None


def _doubles(token: str) -> frozenset[int]:
    """Which letters of the collapsed token are doubled in `token` (runs are at most two)."""
    return frozenset(m.start() - k for k, m in enumerate(_COLLAPSE.finditer(token)))


class _Phrase:
    """A word or phrase item. A text word matches an item word when both collapse to the same
    key and every letter the item doubles is doubled in the text too (`good` needs `oo`, `god`
    does not match it; `idiot` matches `idioot`): the pattern language's `o{2}` / `o{1,2}`."""

    __slots__ = ("item", "keys", "needs", "plural")

    def __init__(self, item: TermItem, canon: str):
        words = canon.split(" ")
        self.item = item
        self.keys = [_collapse(w) for w in words]
        self.needs = [_doubles(w) for w in words]
        last = words[-1]
        self.plural = len(last) >= 3 and not last.endswith("s") and last.isalpha()


class TermMatcher:
    """One tenant list's items, compiled once; `match` is safe to call from many threads."""

    def __init__(self, items: Iterable[TermItem], *, regex_timeout: float = REGEX_TIMEOUT_S,
                 validate: bool = True):
        """`validate=False` for items validated when they were stored (halves the build)."""
        self.regex_timeout = regex_timeout
        self._first: dict[str, list[_Phrase]] = {}
        self._regexes: list[tuple[TermItem, regex.Pattern, str]] = []
        self.size = 0
        self._longest = 1  # words in the longest phrase
        for item in items:
            why = validate_item(item.kind, item.value) if validate else None
            if why:
                raise ValueError(f"item {item.item_id!r}: {why}")
            self.size += 1
            if item.kind == "regex":
                self._regexes.append((item, _regex(item.value), required_literal(item.value)))
                continue
            p = _Phrase(item, _canonical(item.value))
            self._longest = max(self._longest, len(p.keys))
            self._first.setdefault(p.keys[0], []).append(p)
            if len(p.keys) == 1 and p.plural:
                self._first.setdefault(p.keys[0] + "s", []).append(p)

    def match(self, text: str, *, first_only: bool = False) -> TermMatches:
        """Every hit (each item at each place once), in text order."""
        tracked = normalize_tracked(text)
        out = TermMatches()
        seen: set[tuple[str, str, int, int]] = set()
        for v, canon in enumerate(tracked.variants):
            # the joined variant differs only around its joined words: look only there
            windows = [(0, canon)] if v == 0 else self._windows(canon, tracked.joined)
            for offset, window in windows:
                for item, s, e in self._words(window):
                    self._hit(out, seen, tracked, v, item, s + offset, e + offset)
                    if first_only:
                        return out
            for item, rx, literal in self._regexes:
                if literal not in canon:
                    continue
                try:
                    found = list(rx.finditer(canon, timeout=self.regex_timeout))
                except TimeoutError:
                    if item.item_id not in out.timed_out:
                        out.timed_out.append(item.item_id)
                    continue
                for m in found:
                    if m.end() > m.start():
                        self._hit(out, seen, tracked, v, item, m.start(), m.end())
                        if first_only:
                            return out
        out.hits.sort(key=lambda h: (h.start, h.end, h.list_id, h.item_id))
        return out

    def _windows(self, canon: str, joined: list[tuple[int, int]]) -> list[tuple[int, str]]:
        """Slices of `canon` (with their offsets) holding every phrase that could touch a
        joined span: the span widened by the longest phrase's word count on each side."""
        out: list[tuple[int, str]] = []
        for a, b in joined:
            for _ in range(self._longest):
                a = canon.rfind(" ", 0, max(a - 1, 0)) + 1
                nb = canon.find(" ", b + 1)
                b = len(canon) if nb < 0 else nb
            if out and a <= out[-1][0] + len(out[-1][1]):
                a = out[-1][0]
                out.pop()
            out.append((a, canon[a:b]))
        return out

    def _words(self, canon: str) -> Iterator[tuple[TermItem, int, int]]:
        toks = canon.split(" ")
        keys = _collapse(canon).split(" ")
        present = self._first.keys() & set(keys)  # in C: most texts share few words with a list
        if not present:
            return
        lens = list(accumulate(map(len, toks), initial=0))  # start of token i: lens[i] + i
        for i, key in enumerate(keys):
            if key in present:
                for p in self._first[key]:
                    end = self._phrase_at(p, toks, keys, i, lens[i] + i)
                    if end is not None:
                        yield p.item, lens[i] + i, end

    @staticmethod
    def _phrase_at(p: _Phrase, toks: list[str], keys: list[str], i: int, pos: int) -> int | None:
        n = len(p.keys)
        if i + n > len(toks):
            return None
        end = pos
        for j in range(n):
            tok, key = toks[i + j], keys[i + j]
            last = j == n - 1
            if key != p.keys[j]:
                if not (last and p.plural and key == p.keys[j] + "s"):
                    return None
                tok = tok[:-1]
            need = p.needs[j]
            if need and not need <= _doubles(tok):
                return None
            end += len(toks[i + j]) + (0 if last else 1)
        return end

    @staticmethod
    def _hit(out: TermMatches, seen: set, tracked: TrackedText, v: int, item: TermItem,
             s: int, e: int) -> None:
        a, b = tracked.span(s, e, v)
        if (item.list_id, item.item_id, a, b) in seen:
            return
        seen.add((item.list_id, item.item_id, a, b))
        out.hits.append(TermHit(item.list_id, item.item_id, item.kind, item.value, a, b,
                                tracked.raw[a:b]))
