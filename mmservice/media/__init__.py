"""Media checks and preparation: plain functions, no Flask, no Celery.

Why two sets of functions: the API calls the cheap validators (`sniff`, `inspect_image`,
`inspect_audio`) at submission so bad input is a 4xx before anything is queued; workers call the
preparation ones (`prepare_for_vision`, `load_audio`, `plan_chunks`, ...) that cost real time.
All failures are `mmservice.errors` types with stable codes.
"""
from __future__ import annotations

from .audio import (
                    FORMAT_MIME,
                    FORMATS,
                    Chunk,
                    audio_mime,
                    concat_audio,
                    convert,
                    duration_of,
                    export_chunk,
                    inspect_audio,
                    load_audio,
                    plan_chunks,
)
from .ffmpeg import ffmpeg_exe, probe_duration, run_ffmpeg
from .images import (
                    PreparedImage,
                    estimate_image_tokens,
                    inspect_image,
                    prepare_for_moderation,
                    prepare_for_vision,
                    vision_size,
)
from .sniff import extension_for, sniff
from .subtitles import stitch, to_srt, to_vtt
from .text_split import split_for_moderation, split_sentences

__all__ = [
    "FORMAT_MIME", "FORMATS", "Chunk", "PreparedImage", "audio_mime", "concat_audio", "convert",
    "duration_of", "estimate_image_tokens", "export_chunk", "extension_for", "ffmpeg_exe",
    "inspect_audio", "inspect_image", "load_audio", "plan_chunks", "prepare_for_moderation",
    "prepare_for_vision", "probe_duration", "run_ffmpeg", "sniff", "split_for_moderation",
    "split_sentences", "stitch", "to_srt", "to_vtt", "vision_size",
]
