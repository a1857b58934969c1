"""What an uploaded or fetched file is: magic bytes, the size limit of its kind, a real decode.

Why one function for both processes: the API inspects uploads at submission, and a worker
inspects an image it fetched from `image_url`; both must apply exactly the same rules.
"""
from __future__ import annotations

import hashlib
from typing import Any, BinaryIO

from mmservice.errors import Invalid, PayloadTooLarge, UnsupportedMedia


def inspect_media(data: bytes, cfg: dict, field: str, *, gif_as_video: bool = False
                  ) -> dict[str, Any]:
    """Magic bytes, size limit per kind, then a real decode check. Returns the job's `input`.

    An MP4/MOV/WebM/MKV container holding a video stream is a video (one holding only audio
    stays audio); an animated GIF is a video only when asked (`gif_as_video`)."""
    from mmservice.media import video
    from mmservice.media.audio import inspect_audio
    from mmservice.media.images import inspect_image
    from mmservice.media.sniff import sniff

    if not data:
        raise Invalid("the uploaded file is empty", code="empty_file", field=field)
    found = sniff(data)
    if found is None:
        raise UnsupportedMedia("file content is not a supported image (PNG, JPEG, WEBP, GIF), "
                               "audio (WAV, MP3, FLAC, OGG/Opus, WEBM, M4A/MP4) or video (MP4, "
                               "MOV, WebM, MKV) format",
                               code="unsupported_media_type", field=field)
    kind, mime = found
    if mime in video.MAYBE_VIDEO or (gif_as_video and mime == "image/gif"):
        vinfo = video.inspect_video(data, video.video_mime(data, mime), cfg)
        if vinfo is not None:
            return {**vinfo, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
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
        try:
            meta = inspect_audio(data, mime, max_duration_s=cfg["MAX_AUDIO_DURATION_S"])
        except Invalid as e:
            if e.code == "undecodable_audio" and mime in video.MAYBE_VIDEO:
                # An MP4/WebM whose container ffmpeg cannot read: it may have been either.
                raise Invalid("the video or audio could not be decoded",
                              code="undecodable_media", field=field) from None
            raise
        info["duration_s"] = round(float(meta["duration_s"]), 3)
    return info


def inspect_media_file(f: BinaryIO, size: int, cfg: dict, field: str) -> dict[str, Any] | None:
    """`inspect_media` of a large upload still in its spool file, for the audio that can be
    checked from the file (not MP4, which ffmpeg must seek in, nor WebM: either may be a
    video): size limit, SHA-256 in 1 MB reads, the WAV header or an ffmpeg decode of the file.
    None: the caller reads the bytes and calls `inspect_media` (images, MP4, WebM, anything
    unknown, whose errors it words)."""
    from mmservice.media import video
    from mmservice.media.audio import inspect_audio_file
    from mmservice.media.sniff import sniff

    f.seek(0)
    found = sniff(f.read(64))
    f.seek(0)
    if found is None or found[0] != "audio" or found[1] in video.MAYBE_VIDEO:
        return None  # MP4/WebM may hold a video: `inspect_media` decides, from the bytes
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
