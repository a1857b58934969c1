"""The `speak` step (TTS): split long text at sentences, synthesize pieces, join, store the audio.

Why split: upstream TTS takes at most 4,096 characters per request. Pieces are asked for as WAV
and encoded once into the requested format, so joins are seamless (lossy pieces would each
carry encoder delay).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mmservice.errors import Invalid

CONTENT_TYPES = {"mp3": "audio/mpeg", "opus": "audio/ogg", "aac": "audio/aac",
                 "flac": "audio/flac", "wav": "audio/wav", "pcm": "audio/pcm"}


def speech_blob_key(job: dict) -> str:
    return f"{job['tenant']}/{job['id']}/speech"


def run(job: dict, deps) -> dict[str, Any]:
    from mmservice.media.audio import concat_audio, duration_of
    from mmservice.media.text_split import split_sentences

    text = job.get("_text") or ""
    if not text.strip():
        raise Invalid("nothing to speak", code="empty_text", field="text")
    opts = job.get("options") or {}
    fmt = opts.get("format") or "mp3"
    voice = opts.get("voice") or "alloy"
    speed = float(opts.get("speed") or 1.0)
    provider = deps.providers.get("speech")
    pieces = split_sentences(text, int(deps.cfg["TTS_MAX_PIECE_CHARS"]))

    def synth(piece: str, as_fmt: str):
        return provider.speak(piece, voice=voice, format=as_fmt, speed=speed,
                              instructions=opts.get("instructions"))

    if len(pieces) == 1:
        speech = synth(pieces[0], fmt)
        audio, model = speech.audio, speech.model
    else:
        with ThreadPoolExecutor(max_workers=min(4, len(pieces))) as pool:
            parts = list(pool.map(lambda p: synth(p, "wav"), pieces))
        audio = concat_audio([p.audio for p in parts], "wav", out_fmt=fmt)
        model = parts[0].model
    deps.blobs.put(speech_blob_key(job), audio)
    return {"format": fmt, "content_type": CONTENT_TYPES[fmt],
            "duration_s": duration_of(audio, fmt), "bytes": len(audio),
            "url": f"/v1/jobs/{job['id']}/speech", "voice": voice, "speed": speed,
            "pieces": len(pieces), "model": model, "provider": provider.name,
            "usage": {"characters": len(text)}}
