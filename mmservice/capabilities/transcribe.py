"""Speech to text for one clip, the stitching of chunk transcripts, and the answer's format.

Why chunking lives elsewhere: a clip too long for one upstream request is split by the caller
(the job pipeline fans the chunks out over the `audio` queue; a synchronous caller may loop), and
each chunk is transcribed here; `stitch` then puts the chunk transcripts on one timeline.
"""
from __future__ import annotations

from typing import Any

from mmservice.providers.base import Transcript


def transcript_dict(t: Transcript) -> dict[str, Any]:
    return {"text": t.text, "segments": t.segments, "language": t.language,
            "duration": t.duration_s, "model": t.model, "provider": t.provider,
            "usage": t.usage}


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
    return {**stitched, "model": first.get("model"), "provider": first.get("provider"),
            "chunks": [{"start_s": c.start_s, "end_s": c.end_s} for c, _ in chunks]}


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
    usage = result.get("usage") or {}
    out["usage"] = {"audio_seconds": out["duration_s"], **{k: v for k, v in usage.items()
                                                           if k != "audio_seconds"}}
    return out
