"""Speech to text for one clip, the stitching of chunk transcripts, and the answer's format.

Why chunking lives elsewhere: a clip too long for one upstream request is split by the caller
(the job pipeline fans the chunks out over the `audio` queue; a synchronous caller may loop), and
each chunk is transcribed here; `stitch` then puts the chunk transcripts on one timeline.
"""
from __future__ import annotations

from typing import Any

from mmservice.providers.base import Transcript

# Whisper hallucinates on silence ("You", "Thank you."): it then marks the segment with a high
# `no_speech_prob`. Its own rule skips a window when no_speech_prob > 0.6 AND avg_logprob < -1.0,
# but tiny.en says "You" over 5 s of silence at no_speech_prob 0.95 with avg_logprob -0.94, so
# the log-probability bar is raised; real speech decodes well above it (-0.1 .. -0.4).
NO_SPEECH_PROB = 0.6
NO_SPEECH_NOTE = "no speech in the audio"
NO_SPEECH_MAX_LOGPROB = -0.5


def is_no_speech(segment: dict[str, Any]) -> bool:
    """The engine's own mark (local Whisper and an upstream's verbose_json both give it)."""
    nsp, logprob = segment.get("no_speech_prob"), segment.get("avg_logprob")
    if nsp is None:
        return False
    return float(nsp) > NO_SPEECH_PROB and (logprob is None
                                            or float(logprob) < NO_SPEECH_MAX_LOGPROB)


def transcript_dict(t: Transcript) -> dict[str, Any]:
    """Segments the engine marks as no speech are dropped, and the text rebuilt from the rest,
    so a silent clip has an empty transcript (and is not moderated as if someone spoke)."""
    kept = [s for s in t.segments if not is_no_speech(s)]
    text = t.text
    if len(kept) != len(t.segments):
        text = " ".join(str(s.get("text", "")).strip() for s in kept).strip()
    out = {"text": text, "segments": kept, "language": t.language,
           "duration": t.duration_s, "model": t.model, "provider": t.provider,
           "usage": t.usage}
    if len(kept) != len(t.segments):
        out["no_speech_dropped"] = len(t.segments) - len(kept)
    return out


def transcribe(audio: bytes, filename: str, *, provider: Any, language: str | None = None,
               prompt: str | None = None) -> dict[str, Any]:
    """One upstream request. `filename` carries the real extension (the upstream needs it)."""
    return transcript_dict(provider.transcribe(audio, filename, language=language,
                                               prompt=prompt))


def stitch(chunks: list[tuple[Any, dict[str, Any]]]) -> dict[str, Any]:
    """`(media.audio.Chunk, transcript dict)` pairs in order -> one transcript (overlaps cut)."""
    from mmservice.media.subtitles import stitch as stitch_segments

    stitched = stitch_segments(chunks)
    first = chunks[0][1]
    out = {**stitched, "model": first.get("model"), "provider": first.get("provider"),
           "chunks": [{"start_s": c.start_s, "end_s": c.end_s} for c, _ in chunks]}
    dropped = sum(int(r.get("no_speech_dropped") or 0) for _, r in chunks)
    if dropped:
        out["no_speech_dropped"] = dropped
    return out


def formatted(result: dict[str, Any], response_format: str | None,
              duration_s: float | None) -> dict[str, Any]:
    """The transcription result in the requested `response_format`."""
    from mmservice.media.subtitles import to_srt, to_vtt

    fmt = response_format or "verbose_json"
    out = {"text": result["text"], "language": result.get("language"),
           "duration_s": round(duration_s if duration_s is not None
                               else float(result.get("duration_s") or 0), 3),
           "model": result.get("model"), "provider": result.get("provider"),
           "response_format": fmt, "segments": result.get("segments") or []}
    if fmt == "srt":
        out["srt"] = to_srt(out["segments"])
    elif fmt == "vtt":
        out["vtt"] = to_vtt(out["segments"])
    elif fmt in ("json", "text"):
        out.pop("segments")
    if result.get("chunks"):
        out["chunks"] = result["chunks"]
    if result.get("no_speech_dropped"):
        out["no_speech_dropped"] = result["no_speech_dropped"]
    if not out["text"]:
        out["note"] = NO_SPEECH_NOTE
    usage = result.get("usage") or {}
    out["usage"] = {"audio_seconds": out["duration_s"], **{k: v for k, v in usage.items()
                                                           if k != "audio_seconds"}}
    return out
