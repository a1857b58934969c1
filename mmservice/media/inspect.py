"""What an uploaded or fetched file is: magic bytes, the size limit of its kind, a real decode.

Why one function for both processes: the API inspects uploads at submission, and a worker
inspects an image it fetched from `image_url`; both must apply exactly the same rules.
"""
from __future__ import annotations

import hashlib
from typing import Any

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
