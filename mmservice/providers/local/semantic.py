"""Text engine v3, the part that reads meaning: language detection, the sentence encoder and the
trained per-category heads (`mmservice.moderation.heads`).

Why a second reading for some texts: people dodge filters with `k1ll y0u`, `f*ck` and spaced
letters, which the encoder has rarely seen. When the term lists' normalizer reads different words
than the text shows (and the text is mostly in Latin letters: look-alike Cyrillic letters in an
English insult are undone, a Russian text is left alone), the normalized words are encoded too
and each category keeps the higher of the two scores.

Why some texts are not scored at all: a text confidently detected in a language outside
`MMS_LOCAL_TEXT_LANGUAGES` is one the heads were never trained or measured on; it comes back
with no scores and `unassessed_reason: "language"` rather than with zeros that look like "fine".
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from mmservice.moderation.heads import model as heads_model
from mmservice.moderation.textmatch import normalize
from mmservice.providers.local import language

_WORDS = re.compile(r"[^a-z0-9]+")
_LATIN = re.compile(r"[A-Za-z]")


@dataclass
class Semantic:
    language: dict[str, Any]
    unread: bool
    scores: dict[str, float] = field(default_factory=dict)  # empty when unread
    readings: int = 0


# Signs of a dodge: a digit or symbol inside a word (1d10t, f*ck, k.i.l.l), letters spaced
# out (k i l l), invisible characters, or a look-alike letter from another script in a word.
_DODGE = re.compile(r"[a-z][0-9@$*!.|_\-]+[a-z0-9]|[0-9][a-z]|(?:^|\s)(?:[a-z] ){2,}[a-z](?:\s|$)"
                    r"|[\u200b-\u200f\u2060\ufeff]|[a-z][\u0400-\u04ff\u0370-\u03ff]"
                    r"|[\u0400-\u04ff\u0370-\u03ff][a-z]", re.IGNORECASE)


def _plain_reading(text: str) -> str | None:
    """The normalizer's words when the text shows signs of a dodge and they differ from the
    words as typed. Only then: an extra reading doubles the cost of a text."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters or sum(1 for ch in letters if _LATIN.match(ch)) < 0.5 * len(letters):
        return None
    if not _DODGE.search(text):
        return None
    typed = _WORDS.sub(" ", text.lower()).split()
    norm = normalize(text)
    for reading in [norm.text, *norm.variants]:  # variants: spaced letters joined (k i l l)
        words = _WORDS.sub(" ", reading.replace("#", " ")).split()
        if words and words != typed:
            return " ".join(words)
    return None


_SENTENCE_END = re.compile(r"(?<=[.!?\u3002\uff01\uff1f])\s+|\n+")
WHOLE_CHARS = 120  # a text up to this long is read whole (most training lines are shorter)
CHUNK_CHARS = 300  # longest piece read at once (a run-on sentence is cut at a space)
MAX_SENTENCES = 64  # beyond this many distinct sentences, they are read in ~CHUNK_CHARS groups


def _sentences(text: str) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()

    def add(piece: str) -> None:
        # Each distinct piece once: a text repeating itself ("you " x 2,500) costs one read,
        # not one per repetition (the encoder is the slowest part of judging a text).
        if piece and piece not in seen:
            seen.add(piece)
            out.append(piece)

    for sentence in _SENTENCE_END.split(text):
        sentence = sentence.strip()
        while len(sentence) > CHUNK_CHARS:  # a run-on "sentence": cut it at a space
            cut = sentence.rfind(" ", 0, CHUNK_CHARS)
            cut = cut if cut > 0 else CHUNK_CHARS
            add(sentence[:cut])
            sentence = sentence[cut:].strip()
        add(sentence)
    return out


def chunks(text: str) -> list[str]:
    """What the encoder reads of a text. A sentence vector of a long text averages its
    sentences, so one threat among calm lines would be diluted (and the encoder reads 512
    tokens at most): a text over WHOLE_CHARS is read sentence by sentence (each distinct
    sentence once), in groups of about CHUNK_CHARS when there are very many. A short text is
    read whole, as the heads were trained."""
    if len(text) <= WHOLE_CHARS:
        return [text]
    sentences = _sentences(text)
    if len(sentences) == 1 and len(text) <= CHUNK_CHARS:
        return [text]
    if len(sentences) <= MAX_SENTENCES:
        return sentences or [text[:CHUNK_CHARS]]
    out: list[str] = []
    cur = ""
    for sentence in sentences:
        if cur and len(cur) + 1 + len(sentence) > CHUNK_CHARS:
            out.append(cur)
            cur = sentence
        else:
            cur = f"{cur} {sentence}".strip()
    return out + ([cur] if cur else [])


def readable_languages(cfg: dict | None = None) -> set[str]:
    from mmservice.providers.local import models

    raw = str(models.setting("LOCAL_TEXT_LANGUAGES", cfg))
    return {x.strip().lower() for x in raw.split(",") if x.strip()}


def assess(texts: list[str], cfg: dict | None = None,
           cut: list[str | None] | None = None) -> list[Semantic]:
    """`cut[i]`: text i with the term lists' benign phrases taken out ("kill the process",
    "hit me up"), when any were; each category then keeps the lower of the two readings, so a
    known harmless idiom cannot carry a line over the review line by itself."""
    from mmservice.providers.local import models

    readable = readable_languages(cfg)
    min_conf = float(models.setting("LOCAL_LANGUAGE_MIN_CONFIDENCE", cfg))
    out: list[Semantic] = []
    batch: list[str] = []
    owner: list[tuple[int, bool]] = []  # (text index, is the benign-cut reading)
    for i, text in enumerate(texts):
        lang = language.detect(text or "")
        sem = Semantic(language=lang, unread=language.unread(lang, readable, min_conf))
        out.append(sem)
        if sem.unread or not (text or "").strip():
            continue
        for part in chunks(text):
            for reading in (part, _plain_reading(part)):
                if reading:
                    batch.append(reading)
                    owner.append((i, False))
        if cut and cut[i] and cut[i] != text:
            batch.append(str(cut[i]))
            owner.append((i, True))
    if batch:
        vectors = models.get("embed").encode(batch)
        cut_scores: dict[int, dict[str, float]] = {}
        for (i, is_cut), scores in zip(owner, heads_model.load().score(vectors)):
            sem = out[i]
            sem.readings += 1
            if is_cut:
                cut_scores[i] = scores
                continue
            for cat, s in scores.items():
                sem.scores[cat] = max(sem.scores.get(cat, 0.0), s)
        for i, scores in cut_scores.items():
            out[i].scores = {c: min(s, scores[c]) for c, s in out[i].scores.items()}
    for sem in out:
        if not sem.unread and not sem.scores:  # nothing to read (empty or no letters)
            sem.scores = {c: 0.0 for c in heads_model.HEAD_CATEGORIES + heads_model.DERIVED}
    return out
