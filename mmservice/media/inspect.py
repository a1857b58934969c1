"""What an uploaded or fetched file is: magic bytes, the size limit of its kind, a real decode.

Why one function for both processes: the API inspects uploads at submission, and a worker
inspects an image it fetched from `image_url`; both must apply exactly the same rules.
"""
from __future__ import annotations

import hashlib
from typing import Any, BinaryIO

from mmservice.errors import Invalid, PayloadTooLarge, UnsupportedMedia


def inspect_media(data: bytes, cfg: dict, field: str) -> dict[str, Any]:
    """Magic bytes, size limit per kind, then a real decode check. Returns the job's `input`."""
    from mmservice.media.audio import inspect_audio
    from mmservice.media.images import inspect_image
    from mmservice.media.sniff import sniff

    if not data:
        raise Invalid("the uploaded file is empty", code="empty_file", field=field)
    found = sniff(data)
    if found is None:
        raise UnsupportedMedia("file content is not a supported image (PNG, JPEG, WEBP, GIF) or "
                               "audio (WAV, MP3, FLAC, OGG/Opus, WEBM, M4A/MP4) format",
                               code="unsupported_media_type", field=field)
    kind, mime = found
    limit = cfg["MAX_IMAGE_BYTES"] if kind == "image" else cfg["MAX_AUDIO_BYTES"]
    if len(data) > limit:
        raise PayloadTooLarge(f"{kind} is {len(data)} bytes; the limit is {limit}",
                              code=f"{kind}_too_large", field=field)
    info: dict[str, Any] = {"kind": kind, "mime": mime, "bytes": len(data),
                            "sha256": hashlib.sha256(data).hexdigest()}
    if kind == "image":
        meta = inspect_image(data, max_pixels=cfg["MAX_IMAGE_PIXELS"],
                             max_side_ratio=cfg["MAX_IMAGE_SIDE_RATIO"])
        info.update(width=meta["width"], height=meta["height"])
    else:
        meta = inspect_audio(data, mime, max_duration_s=cfg["MAX_AUDIO_DURATION_S"])
        info["duration_s"] = round(float(meta["duration_s"]), 3)
    return info


def inspect_media_file(f: BinaryIO, size: int, cfg: dict, field: str) -> dict[str, Any] | None:
    """`inspect_media` of a large upload still in its spool file, for the audio that can be
    checked from the file (not MP4, which ffmpeg must seek in): size limit, SHA-256 in 1 MB
    reads, the WAV header or an ffmpeg decode of the file. None: the caller reads the bytes and
    calls `inspect_media` (images, MP4, anything unknown, whose errors it words)."""
    from mmservice.media.audio import inspect_audio_file
    from mmservice.media.sniff import sniff

    f.seek(0)
    found = sniff(f.read(64))
    f.seek(0)
    if found is None or found[0] != "audio" or found[1] == "audio/mp4":
        return None
    kind, mime = found
    limit = cfg["MAX_AUDIO_BYTES"]
    if size > limit:
        raise PayloadTooLarge(f"{kind} is {size} bytes; the limit is {limit}",
                              code=f"{kind}_too_large", field=field)
    digest = hashlib.sha256()
    while chunk := f.read(1024 * 1024):
        digest.update(chunk)
    meta = inspect_audio_file(f, size, mime, max_duration_s=cfg["MAX_AUDIO_DURATION_S"])
    f.seek(0)
    return {"kind": kind, "mime": mime, "bytes": size, "sha256": digest.hexdigest(),
            "duration_s": round(float(meta["duration_s"]), 3)}
