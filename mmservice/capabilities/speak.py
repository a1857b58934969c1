"""Text to speech: split long text at sentences, synthesize the pieces, join them.

Why split: upstream TTS takes at most 4,096 characters per request. Pieces are asked for as WAV
and encoded once into the requested format, so joins are seamless (lossy pieces would each
carry encoder delay).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mmservice.errors import Invalid


def speak(text: str, *, provider: Any, max_piece_chars: int, voice: str = "alloy",
          format: str = "mp3", speed: float = 1.0,
          instructions: str | None = None) -> tuple[bytes, dict[str, Any]]:
    """The audio in `format`, and what to record about it."""
    from mmservice.media.audio import FORMAT_MIME, concat_audio, duration_of
    from mmservice.media.text_split import split_sentences

    if not text.strip():
        raise Invalid("nothing to speak", code="empty_text", field="text")
    pieces = split_sentences(text, max_piece_chars)

    def synth(piece: str, as_fmt: str):
        return provider.speak(piece, voice=voice, format=as_fmt, speed=speed,
                              instructions=instructions)

    if len(pieces) == 1:
        speech = synth(pieces[0], format)
        audio, model = speech.audio, speech.model
    else:
        with ThreadPoolExecutor(max_workers=min(4, len(pieces))) as pool:
            parts = list(pool.map(lambda p: synth(p, "wav"), pieces))
        audio = concat_audio([p.audio for p in parts], "wav", out_fmt=format)
        model = parts[0].model
    return audio, {"format": format, "content_type": FORMAT_MIME[format],
                   "duration_s": duration_of(audio, format), "bytes": len(audio),
                   "voice": voice, "speed": speed, "pieces": len(pieces), "model": model,
                   "provider": provider.name, "usage": {"characters": len(text)}}
