"""Local text moderation: a normalizer, the term lists of `terms.py`, and alt-profanity-check.

Why both: the profanity model (a linear SVM over a bag of words, shipped in the wheel) knows
offensive language well but nothing else (it cannot tell a threat from a swear word), while the
term lists carry the category structure OpenAI's names need (threats, hate, self-harm intent,
sexual, illicit). The model's probability feeds `harassment` only: fully when the text addresses
someone ("you ..."), at half weight when it does not (swearing about a thing is not harassment).

Why a normalizer first: users dodge word lists with `1d10t`, `k i l l`, `k.i.l.l`, `idiooooot`,
Cyrillic look-alikes and zero-width spaces. Every one of these is undone before matching, and the
benign phrases ("kill the process", "shoot a photo", "this slaps") are cut out before any rule or
the model sees the text.

Matching is linear-time by construction: letter runs in the text are capped at two and patterns
use bounded repeats only (`c{1,2}`), so a hostile 10 000-character input cannot make the regex
engine backtrack for long.
"""
from __future__ import annotations

import functools
import re
import threading
import unicodedata
from dataclasses import dataclass
from typing import Any

from mmservice.providers.base import RawModeration
from mmservice.providers.local import terms

PROVIDER = "local"

# ------------------------------------------------------------------------- normalization ------

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
_SPACES = re.compile(r" +")
_TARGET = re.compile(r"(?<![a-z0-9])(?:you|u|ur|your|youre|ya|yall|yourself|urself|thou|thee)"
                     r"(?![a-z0-9])")


def _deleet(token: str) -> str:
    if not _HAS_LETTER.search(token):
        return token  # "2026", "1488", "$5" stay as they are
    return _BANG_IN_WORD.sub("i", token).translate(_LEET)


@dataclass
class Normalized:
    text: str  # the canonical form rules run on ("#" marks a sentence barrier)
    variants: list[str]  # text plus alternative readings (spaced letters joined)
    model_inputs: list[str]  # what the profanity model scores (max over these)


# Proper names: a run of two or more capitalized words ("Dick Van Dyke", "Joe Coon") in a text
# that is not written all in capitals or title case. A word of `terms.NAME_AMBIGUOUS` inside such
# a run is replaced by "name" when the run also holds a word that is evidence of a name (any
# capitalized word that is not a common English word, not itself ambiguous and not an insult).
_NAME_RUN = re.compile(r"(?<![\w'])(?:(?:[A-Z][a-z]+\.?|Mc[A-Z][a-z]+|[A-Z]\.|van|von|de|der|la|le|da|di|du|del|st\.)"  # noqa: E501
                       r"[ \t]+){1,5}(?:[A-Z][a-z]+|Mc[A-Z][a-z]+)(?![\w'])")
_WORD_RAW = re.compile(r"[A-Za-z][A-Za-z.]*")
_LOWER_WORD = re.compile(r"(?<![\w'])[a-z]{2,}")
_LONE_ONE = re.compile(r"(?<![a-z0-9])1(?![a-z0-9])")
_MIXED_LEET = re.compile(r"[a-z][0-9@$]|[0-9@$][a-z]")


def _mask_names(raw: str) -> str:
    if not _LOWER_WORD.search(raw):  # ALL CAPS or Title Case Shouting: no name evidence
        return raw

    def fix(m: re.Match) -> str:
        words = _WORD_RAW.findall(m.group(0))
        low = [w.rstrip(".").lower() for w in words]
        if not any(w in terms.NAME_AMBIGUOUS for w in low):
            return m.group(0)
        evidence = any(w[:1].isupper() and lw not in terms.NAME_AMBIGUOUS
                       and lw not in terms.NOT_NAME_EVIDENCE and lw not in _insult_words()
                       for w, lw in zip(words, low))
        if not evidence:
            return m.group(0)
        return re.sub(r"[A-Za-z]+", lambda w: "Name" if w.group(0).lower() in
                      terms.NAME_AMBIGUOUS else w.group(0), m.group(0))

    return _NAME_RUN.sub(fix, raw)


@functools.lru_cache(maxsize=1)
def _insult_words() -> frozenset[str]:
    words = set()
    for slot in ("insult", "insult_adj", "insult_strong", "slur", "intens"):
        for phrase in terms.SLOTS[slot]:
            for w in re.findall(r"[a-z]+", phrase):
                words.add(w)
    return frozenset(words)


def normalize(raw: str) -> Normalized:
    raw = _mask_names(raw)
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
    t = _SPACES.sub(" ", t).strip()
    single = _RUN3.sub(r"\1", t)  # "idiooooot" -> "idiot" (for the model)
    t = _RUN3.sub(r"\1\1", t)  # rules: runs capped at two, patterns accept one or two
    variants = [t]
    joined = _SPACED.sub(lambda m: m.group(0).replace(" ", ""), t)
    if joined != t:
        variants.append(joined)
    model_inputs = []
    for v in variants + ([single] if single != t else []):
        v = _SPACES.sub(" ", v.replace("#", " ")).strip()
        if v not in model_inputs:
            model_inputs.append(v)
    return Normalized(t, variants, model_inputs)


# ---------------------------------------------------------------------- pattern compiler ------

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

    def __init__(self, text: str, slots: dict[str, list[str]], stack: tuple[str, ...]):
        self.s, self.i, self.slots, self.stack = text.strip(), 0, slots, stack
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
            end = self.s.index("}", self.i)
            name = self.s[self.i + 1:end]
            self.i = end + 1
            return slot_regex(name, self.stack)
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


def pattern_regex(pattern: str, stack: tuple[str, ...] = ()) -> str:
    return _Parser(pattern, terms.SLOTS, stack).parse()


@functools.cache
def slot_regex(name: str, stack: tuple[str, ...] = ()) -> str:
    if name not in terms.SLOTS:
        raise ValueError(f"unknown slot {{{name}}}")
    if name in stack:
        raise ValueError(f"slot {{{name}}} refers to itself")
    alts = [pattern_regex(p, stack + (name,)) for p in terms.SLOTS[name]]
    return "(?:" + "|".join(alts) + ")"


def _bounded(alternatives: list[str]) -> re.Pattern:
    return re.compile(r"(?<![a-z0-9])(?:" + "|".join(alternatives) + r")(?![a-z0-9])")


@dataclass
class _Rule:
    id: str
    scores: dict[str, float]
    regex: re.Pattern


@dataclass
class _Context:
    id: str
    factor: float
    categories: tuple[str, ...]
    needs_quotes: bool
    regex: re.Pattern


# A quotation: a pair of double quotes (straight, curly, guillemets) or of single quotes that
# open after a space or colon (so apostrophes in "I'll" or "dad's" do not count).
_QUOTED = re.compile(r"[\"\u201c\u201d\u00ab\u00bb\u201e][^\"\u201c\u201d\u00ab\u00bb\u201e]{3,}"
                     r"[\"\u201c\u201d\u00ab\u00bb]|(?:^|[\s:])['\u2018][^'\u2018\u2019]{3,}['\u2019]"
                     r"(?=[\s.,!?;:]|$)")


class Matcher:
    """The compiled term lists. Built once per process (about 50 ms), then shared read-only."""

    def __init__(self) -> None:
        for rule in terms.RULES:
            unknown = set(rule["scores"]) - set(terms.ASSESSED)
            if unknown:
                raise ValueError(f"rule {rule['id']} scores unassessed categories {unknown}")
        self.rules = [_Rule(r["id"], dict(r["scores"]),
                            _bounded([pattern_regex(p) for p in r["patterns"]]))
                      for r in terms.RULES]
        self.benign = _bounded([pattern_regex(p) for p in terms.BENIGN])
        for c in terms.CONTEXTS:
            unknown = set(c["categories"]) - set(terms.ASSESSED)
            if unknown:
                raise ValueError(f"context {c['id']} damps unassessed categories {unknown}")
        self.contexts = [_Context(c["id"], float(c["factor"]), tuple(c["categories"]),
                                  bool(c.get("needs_quotes")),
                                  _bounded([pattern_regex(p) for p in c["patterns"]]))
                         for c in terms.CONTEXTS]

    def context(self, cleaned: list[str], quoted: bool) -> dict[str, dict]:
        """-> {context id: {"factor", "categories", "match"}} for the cues found in the text."""
        found: dict[str, dict] = {}
        for ctx in self.contexts:
            if ctx.needs_quotes and not quoted:
                continue
            for text in cleaned:
                m = ctx.regex.search(text)
                if m:
                    found[ctx.id] = {"factor": ctx.factor, "categories": ctx.categories,
                                     "match": m.group(0)}
                    break
        return found

    def match(self, norm: Normalized) -> tuple[dict[str, dict], list[str], list[str]]:
        """-> ({rule id: {"scores", "match"}}, benign phrases cut, texts after the cut)"""
        hits: dict[str, dict] = {}
        benign: list[str] = []
        cleaned: list[str] = []
        for variant in norm.variants:
            for m in self.benign.finditer(variant):
                if m.group(0) not in benign:
                    benign.append(m.group(0))
            # "#" marks where a sentence starts (imperatives: "# bomb the station"); a cut benign
            # phrase leaves "%", a barrier no pattern crosses that is not a sentence start.
            text = "# " + self.benign.sub(" % ", variant)
            cleaned.append(text)
            for rule in self.rules:
                if rule.id in hits:
                    continue
                m = rule.regex.search(text)  # type: ignore[assignment]
                if m:
                    hits[rule.id] = {"scores": rule.scores, "match": m.group(0)}
        return hits, benign, cleaned


_matcher: Matcher | None = None
_matcher_lock = threading.Lock()


def matcher() -> Matcher:
    global _matcher
    if _matcher is None:
        with _matcher_lock:
            if _matcher is None:
                _matcher = Matcher()
    return _matcher


# ------------------------------------------------------------------------------- scoring ------

# How much of the profanity model's probability becomes a harassment score.
PROFANITY_WEIGHT_INSULT = 0.9  # the text addresses someone and a harassment rule matched
# Addresses someone but no insult or threat term matched ("can you fix this stupid regex",
# "you are so f*cking good"): the model alone never crosses the default review line (0.5).
PROFANITY_WEIGHT_DIRECTED = 0.49
PROFANITY_WEIGHT_UNDIRECTED = 0.45  # swearing at nobody in particular stays below review (0.5)
MAX_SCORE = 0.99


def _noisy_or(weights: list[float]) -> float:
    p = 1.0
    for w in weights:
        p *= 1.0 - w
    return min(MAX_SCORE, 1.0 - p)


@dataclass
class _Analysis:
    hits: dict[str, dict]
    benign: list[str]
    model_inputs: list[str]  # benign phrases cut, barriers removed
    directed: bool
    context: dict[str, dict]  # reporting / quotation / fiction / history / counter-speech cues


def analyse(raw: str) -> _Analysis:
    norm = normalize(raw)
    m = matcher()
    hits, benign, cleaned = m.match(norm)
    inputs: list[str] = []
    extra = [m.benign.sub(" % ", s) for s in norm.model_inputs]  # the letter-run readings too
    for t in cleaned + extra:
        t = _SPACES.sub(" ", t.replace("#", " ").replace("%", " ")).strip()
        if t and t not in inputs:
            inputs.append(t)
    directed = any(_TARGET.search(t) for t in cleaned)
    context = m.context(cleaned, bool(_QUOTED.search(raw)))
    return _Analysis(hits, benign, inputs, directed, context)


def score(a: _Analysis, profanity: float) -> tuple[dict[str, float], dict[str, Any]]:
    per_cat: dict[str, list[float]] = {c: [] for c in terms.ASSESSED}
    for hit in a.hits.values():
        for cat, w in hit["scores"].items():
            per_cat[cat].append(w)
    scores = {c: _noisy_or(ws) for c, ws in per_cat.items()}
    if not a.directed:
        weight = PROFANITY_WEIGHT_UNDIRECTED
    elif per_cat["harassment"]:
        weight = PROFANITY_WEIGHT_INSULT
    else:
        weight = PROFANITY_WEIGHT_DIRECTED
    scores["harassment"] = max(scores["harassment"], min(MAX_SCORE, profanity * weight))
    # Hate that also carries violence is hate/threatening, at the weaker of the two.
    scores["hate/threatening"] = max(scores["hate/threatening"],
                                     min(scores["hate"], scores["violence"]))
    # Context cues (news reporting, quoted speech, fiction and games, history, counter-speech)
    # damp the categories they concern: the strongest cue per category, applied once.
    damp: dict[str, float] = {}
    for ctx in a.context.values():
        for cat in ctx["categories"]:
            damp[cat] = min(damp.get(cat, 1.0), ctx["factor"])
    for cat, f in damp.items():
        scores[cat] *= f
    scores = {c: round(float(s), 4) for c, s in scores.items()}
    details = {
        "matched": [{"rule": rid, "match": h["match"], "categories": sorted(h["scores"])}
                    for rid, h in a.hits.items()][:25],
        "profanity_score": round(float(profanity), 4),
        "addressed_to_someone": a.directed,
        "benign_phrases": a.benign[:25],
        "context": [{"cue": cid, "match": c["match"], "factor": c["factor"],
                     "categories": list(c["categories"])} for cid, c in a.context.items()],
        "terms_version": terms.VERSION,
    }
    return scores, details


TEXT_MODEL = f"alt-profanity-check+{terms.VERSION}"


class LocalTextModeration:
    name = PROVIDER
    model = TEXT_MODEL

    def moderate_texts(self, texts: list[str]) -> list[RawModeration]:
        from mmservice.providers.local import models

        analyses = [analyse(t or "") for t in texts]
        flat = [s for a in analyses for s in a.model_inputs]
        probs: list[float] = []
        if flat:
            predict_prob = models.get("profanity")
            probs = [float(p) for p in predict_prob(flat)]
        out, k = [], 0
        for text, a in zip(texts, analyses):
            n = len(a.model_inputs)
            p = max(probs[k:k + n], default=0.0)
            k += n
            scores, details = score(a, p)
            out.append(RawModeration(
                category_scores=scores, assessed_categories=list(terms.ASSESSED),
                model=TEXT_MODEL, provider=PROVIDER, upstream_flagged=None, details=details,
                usage={"characters": len(text or "")}))
        return out
