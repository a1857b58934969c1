"""Splitting long text for TTS requests and moderation requests.

Why at sentence boundaries: a voice cut mid-sentence changes its intonation, and a moderation
model judging half a sentence misses what the whole says. Words are the fallback; only a single
"word" longer than the limit (a URL, a run of CJK text) is ever cut inside.
"""
from __future__ import annotations

import re

# A sentence ends at . ! ? or ellipsis (+ closing quotes/brackets) before whitespace, at CJK
# full stops (no space follows those), or at a blank line.
_SENTENCE = re.compile(
    r".*?(?:[.!?\u2026]+[\"'\u201d\u2019\u00bb)\]]*(?=\s|$)|[\u3002\uff01\uff1f]+|\n[ \t]*\n|$)\s*",
    re.S,
)
_LINE = re.compile(r"[^\n]*(?:\n|$)")
_WORD = re.compile(r"\S+\s*")


def _check(max_chars: int) -> None:
    if max_chars < 1:
        raise ValueError("max_chars must be at least 1")


def _words(unit: str, max_chars: int) -> list[str]:
    """A unit longer than the limit: pack its words; cut only a word that alone is too long."""
    tokens: list[str] = []
    for tok in _WORD.findall(unit):
        while len(tok.rstrip()) > max_chars:
            tokens.append(tok[:max_chars])
            tok = tok[max_chars:]
        tokens.append(tok)
    return tokens


def _pack(units: list[str], max_chars: int) -> list[str]:
    """Greedily join consecutive units (whitespace kept) into pieces of at most max_chars."""
    pieces: list[str] = []
    cur = ""
    for unit in units:
        if not unit.strip():
            cur += unit
            continue
        if len(unit.strip()) > max_chars:
            if cur.strip():
                pieces.append(cur.strip())
            cur = ""
            pieces.extend(_pack(_words(unit, max_chars), max_chars))  # tokens all fit: no loop
            continue
        if len((cur + unit).strip()) <= max_chars:
            cur += unit
        else:
            if cur.strip():
                pieces.append(cur.strip())
            cur = unit
    if cur.strip():
        pieces.append(cur.strip())
    return pieces


def _sentences(text: str) -> list[str]:
    return [m.group(0) for m in _SENTENCE.finditer(text) if m.group(0)]


def split_sentences(text: str, max_chars: int) -> list[str]:
    """Pieces of at most `max_chars`, each ending at a sentence end where one is near enough."""
    _check(max_chars)
    text = text or ""
    if len(text.strip()) <= max_chars:
        return [text.strip()] if text.strip() else []
    return _pack(_sentences(text), max_chars)


def split_for_moderation(text: str, max_chars: int) -> list[str]:
    """Like `split_sentences`, but line breaks count as boundaries too (chat logs, lyrics)."""
    _check(max_chars)
    text = text or ""
    if len(text.strip()) <= max_chars:
        return [text.strip()] if text.strip() else []
    units = [line for s in _sentences(text) for line in _LINE.findall(s) if line]
    return _pack(units, max_chars)
