"""Undo the tricks people use to dodge word lists, so patterns are written once, in plain words.

Why: users write `1d10t`, `k i l l`, `k.i.l.l`, `idiooooot`, Cyrillic look-alikes and zero-width
spaces. Every one of these is undone here, before any pattern runs. The canonical text is lower
case ASCII words separated by single spaces, with `#` where a sentence ends; letter runs are
capped at two, which (with the compiler's bounded repeats) keeps matching linear-time on hostile
input.

Proper names are masked first ("Dick Van Dyke" is not an insult), using the name lists of the
term files; callers may pass their own `NameHints`.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

_HOMOGLYPHS = str.maketrans({
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ї": "i", "ј": "j", "ѕ": "s", "ԁ": "d",
    "ԛ": "q", "ԝ": "w", "ɡ": "g",
    # Greek
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x", "ω": "w",
    # Latin variants NFKC leaves alone
    "ı": "i", "ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ß": "ss", "æ": "ae", "œ": "oe",
})
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a",
                       "$": "s", "€": "e", "£": "l"})
_INVISIBLE = re.compile("[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f"
                        "\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff]")
_HAS_LETTER = re.compile(r"[a-z]")
_BANG_IN_WORD = re.compile(r"!(?=[a-z])")
# Separators used inside a word to break it up: k.i.l.l, f*ck, k-i-l-l, I'll -> ill.
_INWORD_SEP = re.compile(r"(?<=[a-z0-9])[.\-_*'`~^|/\\\u2019\u2018\u00b4]+(?=[a-z0-9])")
_BARRIER = re.compile(r"[.!?;\n]+")
_NON_WORD = re.compile(r"[^a-z0-9#]+")
_RUN3 = re.compile(r"([a-z])\1{2,}")
_SPACED = re.compile(r"(?<![a-z0-9])(?:[a-z0-9] ){2,}[a-z0-9](?![a-z0-9])")
SPACES = re.compile(r" +")


def _deleet(token: str) -> str:
    if not _HAS_LETTER.search(token):
        return token  # "2026", "1488", "$5" stay as they are
    return _BANG_IN_WORD.sub("i", token).translate(_LEET)


@dataclass
class Normalized:
    text: str  # the canonical form rules run on ("#" marks a sentence barrier)
    variants: list[str]  # text plus alternative readings (spaced letters joined)
    model_inputs: list[str]  # what a bag-of-words model scores (max over these)


@dataclass(frozen=True)
class NameHints:
    """`ambiguous`: words that are both an insult or slur and a name ("dick", "coon").
    `not_evidence`: lower-case words whose capitalization proves no name (sentence openers,
    common words, insults)."""

    ambiguous: frozenset[str]
    not_evidence: frozenset[str]


@functools.lru_cache(maxsize=1)
def builtin_name_hints() -> NameHints:
    """The hints of the built-in term lists: their name lists, plus every word of the insult and
    slur slots (an insult capitalized is no evidence of a name)."""
    from mmservice.moderation.terms import builtin

    t = builtin()
    insults = {w for slot in ("insult", "insult_adj", "insult_strong", "slur", "intens")
               for phrase in t.slots[slot] for w in re.findall(r"[a-z]+", phrase)}
    return NameHints(t.name_ambiguous, t.not_name_evidence | insults)


# Proper names: a run of two or more capitalized words ("Dick Van Dyke", "Joe Coon") in a text
# that is not written all in capitals or title case. An ambiguous word inside such a run is
# replaced by "name" when the run also holds a word that is evidence of a name (any capitalized
# word that is not a common English word, not itself ambiguous and not an insult).
_NAME_RUN = re.compile(r"(?<![\w'])(?:(?:[A-Z][a-z]+\.?|Mc[A-Z][a-z]+|[A-Z]\.|"
                       r"van|von|de|der|la|le|da|di|du|del|st\.)"
                       r"[ \t]+){1,5}(?:[A-Z][a-z]+|Mc[A-Z][a-z]+)(?![\w'])")
_WORD_RAW = re.compile(r"[A-Za-z][A-Za-z.]*")
_LOWER_WORD = re.compile(r"(?<![\w'])[a-z]{2,}")
_LONE_ONE = re.compile(r"(?<![a-z0-9])1(?![a-z0-9])")
_MIXED_LEET = re.compile(r"[a-z][0-9@$]|[0-9@$][a-z]")


def mask_names(raw: str, names: NameHints) -> str:
    if not _LOWER_WORD.search(raw):  # ALL CAPS or Title Case Shouting: no name evidence
        return raw

    def fix(m: re.Match) -> str:
        words = _WORD_RAW.findall(m.group(0))
        low = [w.rstrip(".").lower() for w in words]
        if not any(w in names.ambiguous for w in low):
            return m.group(0)
        evidence = any(w[:1].isupper() and lw not in names.ambiguous
                       and lw not in names.not_evidence for w, lw in zip(words, low))
        if not evidence:
            return m.group(0)
        return re.sub(r"[A-Za-z]+", lambda w: "Name" if w.group(0).lower() in
                      names.ambiguous else w.group(0), m.group(0))

    return _NAME_RUN.sub(fix, raw)


def normalize(raw: str, names: NameHints | None = None) -> Normalized:
    """`names`: the name hints to mask proper names with; the built-in lists' by default."""
    raw = mask_names(raw, builtin_name_hints() if names is None else names)
    t = unicodedata.normalize("NFKC", raw).casefold().translate(_HOMOGLYPHS)
    t = "".join(c for c in unicodedata.normalize("NFKD", t) if not unicodedata.combining(c))
    t = _INVISIBLE.sub("", t)
    # Line breaks are sentence barriers; keep them through the per-token pass.
    if _MIXED_LEET.search(t):  # a text written in leetspeak: a lone "1" is the word "I"
        t = _LONE_ONE.sub("i", t)
    lines = [" ".join(_deleet(tok) for tok in line.split()) for line in t.split("\n")]
    t = "\n".join(lines)
    t = _INWORD_SEP.sub("", t)
    t = _BARRIER.sub(" # ", t)
    t = _NON_WORD.sub(" ", t)
    t = SPACES.sub(" ", t).strip()
    single = _RUN3.sub(r"\1", t)  # "idiooooot" -> "idiot" (for the model)
    t = _RUN3.sub(r"\1\1", t)  # rules: runs capped at two, patterns accept one or two
    variants = [t]
    joined = _SPACED.sub(lambda m: m.group(0).replace(" ", ""), t)
    if joined != t:
        variants.append(joined)
    model_inputs = []
    for v in variants + ([single] if single != t else []):
        v = SPACES.sub(" ", v.replace("#", " ")).strip()
        if v not in model_inputs:
            model_inputs.append(v)
    return Normalized(t, variants, model_inputs)
