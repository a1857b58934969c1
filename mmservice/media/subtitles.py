"""Transcript timelines: stitching chunk transcripts together, and SRT/WebVTT output.

Why the subtitle files are built here rather than asked from the upstream: a long clip is
transcribed in chunks, and only the stitched segments carry times on the original timeline.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

_WORD = re.compile(r"[^\w']+")


def _norm_words(text: str) -> list[str]:
    return [w for w in (_WORD.sub("", t.lower()) for t in text.split()) if w]


def _drop_repeat(text: str, tail: list[str], max_words: int = 8) -> str:
    """Remove leading words that repeat the end of what was already kept (overlap audio)."""
    words = text.split()
    norm = [_WORD.sub("", w.lower()) for w in words]
    for k in range(min(len(words), len(tail), max_words), 0, -1):
        if norm[:k] == tail[-k:]:
            return " ".join(words[k:])
    return text


def stitch(transcripts: list[tuple[Any, dict]]) -> dict:
    """Per-chunk transcripts (OpenAI json/verbose_json) -> one transcript on the clip's timeline.

    Each item is `(chunk, transcript)` where the chunk has `start_s`/`end_s` (`audio.Chunk`).

    Segments move by their chunk's start; in an overlap, segments the previous chunk already
    covered are dropped, a straddling one is trimmed, and repeated leading words are removed.
    """
    segments: list[dict] = []
    words: list[dict] = []
    texts: list[str] = []
    langs: Counter = Counter()
    last_end = last_word_end = 0.0
    prev_chunk_end: float | None = None
    tail: list[str] = []
    for chunk, tr in sorted(transcripts, key=lambda item: item[0].start_s):
        tr = tr or {}
        off, overlap_until = chunk.start_s, None
        if prev_chunk_end is not None and chunk.start_s < prev_chunk_end:
            overlap_until = prev_chunk_end
        if tr.get("language"):
            langs[tr["language"]] += 1
        kept: list[str] = []
        for s in tr.get("segments") or []:
            start = off + float(s.get("start") or 0.0)
            end = min(off + float(s.get("end") or 0.0), chunk.end_s)
            text = (s.get("text") or "").strip()
            if segments and not kept and end <= last_end + 0.05:
                continue  # said already, by the previous chunk
            if overlap_until is not None and start < overlap_until and not kept:
                text = _drop_repeat(text, tail)
            start = max(start, last_end)
            if not text:
                continue
            segments.append({**s, "id": len(segments), "start": round(start, 3),
                             "end": round(max(end, start), 3), "text": text})
            kept.append(text)
            last_end = max(end, start)
            tail = (tail + _norm_words(text))[-16:]
        if not tr.get("segments"):
            text = (tr.get("text") or "").strip()
            if overlap_until is not None:
                text = _drop_repeat(text, tail)
            kept = [text] if text else []
            tail = (tail + _norm_words(text))[-16:]
            last_end = max(last_end, chunk.end_s)
        for w in tr.get("words") or []:
            ws, we = off + float(w.get("start") or 0.0), off + float(w.get("end") or 0.0)
            if we > last_word_end + 0.01:
                words.append({**w, "start": round(max(ws, last_word_end), 3), "end": round(we, 3)})
                last_word_end = we
        texts.extend(kept)
        prev_chunk_end = chunk.end_s
    out = {"text": " ".join(" ".join(texts).split()), "segments": segments,
           "language": langs.most_common(1)[0][0] if langs else None,
           "duration_s": round(max((c.end_s for c, _ in transcripts), default=0.0), 3)}
    if words:
        out["words"] = words
    return out


def _timestamp(seconds: float, sep: str) -> str:
    ms = max(0, int(round(float(seconds) * 1000)))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _cues(segments: Iterable[dict[str, Any]]) -> list[tuple[float, float, str]]:
    """Non-empty cues; blank lines inside a text would end the cue early in both formats."""
    cues = []
    for seg in segments:
        text = "\n".join(line.strip() for line in str(seg.get("text") or "").splitlines()
                         if line.strip())
        if text:
            start = float(seg.get("start") or 0.0)
            cues.append((start, max(start, float(seg.get("end") or start)), text))
    return cues


def to_srt(segments: Iterable[dict[str, Any]]) -> str:
    """SubRip: 1-based index, `HH:MM:SS,mmm --> HH:MM:SS,mmm`, text, blank line."""
    blocks = [f"{i}\n{_timestamp(a, ',')} --> {_timestamp(b, ',')}\n{text}\n"
              for i, (a, b, text) in enumerate(_cues(segments), start=1)]
    return "\n".join(blocks)


def to_vtt(segments: Iterable[dict[str, Any]]) -> str:
    """WebVTT: `WEBVTT` header, `HH:MM:SS.mmm` times; `&`, `<` and `-->` escaped in cue text."""
    out = ["WEBVTT\n"]
    for a, b, text in _cues(segments):
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace("-->", "--&gt;")
        out.append(f"{_timestamp(a, '.')} --> {_timestamp(b, '.')}\n{text}\n")
    return "\n".join(out)
