"""Video uploads: what the container holds, and the guards applied before any frame is decoded.

Why ffmpeg's own report and not a header parser: the same binary later decodes the frames, so
what it says about the streams is what the decode will meet. Every run here goes through
`run_bounded`: a forced demuxer chosen from the magic bytes, only the `file` protocol, a
wall-clock timeout, an address-space limit (a frame bomb cannot take the machine's memory) and
`-max_pixels` (a header that lies about the size is still refused by the decoder). A failure is
a fixed 422 code; ffmpeg's stderr, which names temp paths, goes to the log only.
"""
from __future__ import annotations

import logging
import os
import re
import resource
import subprocess
import tempfile
from typing import Any

from ..errors import Invalid, PayloadTooLarge
from . import ffmpeg as ff

log = logging.getLogger(__name__)

# Our video mime -> ffmpeg demuxer (forced: never a playlist, network or image2 demuxer).
DEMUXERS = {"video/mp4": "mov", "video/quicktime": "mov", "video/webm": "matroska",
            "video/x-matroska": "matroska", "image/gif": "gif"}
# Containers that may hold video: sniffed as audio (an .m4a is an MP4 too) until probed.
MAYBE_VIDEO = {"audio/mp4": "video/mp4", "audio/webm": "video/webm"}

_DURATION_RE = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
_VIDEO_RE = re.compile(r"Stream #\d+:\d+[^:]*: Video: (\w+)[^\n]*?, (\d{1,6})x(\d{1,6})"
                       r"(?:[^\n]*?, ([\d.]+) fps)?[^\n]*")
_AUDIO_RE = re.compile(r"Stream #\d+:\d+[^:]*: Audio: ")
_PIX_FMT_RE = re.compile(r", (\w+)(?:\([^)\n]*\))?, \d{1,6}x\d{1,6}")


def _bad(message: str, code: str = "undecodable_video") -> Invalid:
    return Invalid(message, code=code, field="file")


def memory_limit(memory_mb: int):
    def apply() -> None:  # runs in the child before exec: only this ffmpeg is limited
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return apply


def run_bounded(args: list[str], *, timeout: float, memory_mb: int,
                error_code: str = "undecodable_video", check: bool = True,
                ) -> subprocess.CompletedProcess:
    """ffmpeg with a timeout and an address-space limit; a failure is `Invalid(error_code)`."""
    cmd = [ff.ffmpeg_exe(), "-hide_banner", "-nostdin", *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, preexec_fn=memory_limit(memory_mb))
    except subprocess.TimeoutExpired:
        log.info("ffmpeg timed out after %ss (%s)", timeout, error_code)
        raise _bad("decoding the video took too long", "video_decode_timeout") from None
    if check and proc.returncode != 0:
        log.info("ffmpeg failed (%s): %s", error_code,
                 proc.stderr.decode("utf-8", "replace")[-2000:])
        raise _bad("the video could not be decoded", error_code)
    return proc


def input_args(path: str, mime: str, cfg: dict) -> list[str]:
    """Options for reading an untrusted file: forced demuxer, file protocol, pixel cap."""
    return ["-protocol_whitelist", "file", "-f", DEMUXERS[mime],
            "-max_pixels", str(int(cfg["MAX_VIDEO_PIXELS"])), "-i", path]


def streams(path: str, mime: str, cfg: dict) -> dict[str, Any]:
    """What ffmpeg reads in the container's header: the first video stream's codec, pixel
    format, size and frame rate, whether there is audio, and the declared duration (None when
    absent)."""
    proc = run_bounded(input_args(path, mime, cfg), check=False,
                       timeout=float(cfg["VIDEO_PROBE_TIMEOUT_S"]),
                       memory_mb=int(cfg["VIDEO_DECODE_MEMORY_MB"]))
    text = proc.stderr.decode("utf-8", "replace")
    video = [m for m in _VIDEO_RE.finditer(text) if "attached pic" not in m.group(0)]
    info: dict[str, Any] = {"has_video": bool(video), "has_audio": bool(_AUDIO_RE.search(text))}
    m = _DURATION_RE.search(text)
    info["declared_s"] = (int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
                          if m else None)
    if video:
        v = video[0]
        pix = _PIX_FMT_RE.search(v.group(0))
        info.update(codec=v.group(1), width=int(v.group(2)), height=int(v.group(3)),
                    fps=float(v.group(4)) if v.group(4) else None,
                    pix_fmt=pix.group(1) if pix else None)
    return info


def gif_frames(data: bytes, stop_after: int) -> int:
    """Frames in a GIF counted by walking its blocks (no LZW decode), stopping past `stop_after`:
    a 100,000-frame GIF is refused in milliseconds."""
    if len(data) < 13 or data[:6] not in (b"GIF87a", b"GIF89a"):
        return 0
    pos, flags = 13, data[10]
    if flags & 0x80:
        pos += 3 * (2 << (flags & 7))
    frames = 0
    while pos < len(data) and frames <= stop_after:
        block = data[pos]
        if block == 0x3B:  # trailer
            break
        if block == 0x21:  # extension: label, then sub-blocks
            pos += 2
        elif block == 0x2C:  # image descriptor, optional local colour table, LZW min size
            frames += 1
            if pos + 10 > len(data):
                break
            local = data[pos + 9]
            pos += 10 + (3 * (2 << (local & 7)) if local & 0x80 else 0) + 1
        else:
            break
        while pos < len(data) and data[pos]:  # sub-blocks until the 0 terminator
            pos += data[pos] + 1
        pos += 1
    return frames


def _check_size(w: int, h: int, cfg: dict) -> None:
    if w <= 0 or h <= 0 or w * h > int(cfg["MAX_VIDEO_PIXELS"]) \
            or max(w, h) / max(1, min(w, h)) > float(cfg["MAX_IMAGE_SIDE_RATIO"]):
        raise _bad(f"the video frame size {w}x{h} is outside the limits "
                   f"(MMS_MAX_VIDEO_PIXELS, MMS_MAX_IMAGE_SIDE_RATIO)", "video_frame_too_large")


def video_mime(data: bytes, sniffed: str) -> str:
    """The video mime for a sniffed container (QuickTime and Matroska told from MP4 and WebM)."""
    if sniffed == "image/gif":
        return sniffed
    if sniffed == "audio/mp4":
        return "video/quicktime" if data[8:12] == b"qt  " else "video/mp4"
    return "video/webm" if b"webm" in bytes(data[:64]) else "video/x-matroska"


def inspect_video(data: bytes, mime: str, cfg: dict, *, path: str | None = None
                  ) -> dict[str, Any] | None:
    """The job's `input` facts for a video, or None when the container holds no video stream
    (an audio-only MP4/WebM stays audio). Refuses (422/413) what would be unsafe to decode:
    too many bytes, an absurd frame size, too long, too many frames, no decodable frame."""
    max_frames = int(cfg["MAX_VIDEO_FRAMES"])
    gif_count = None
    if mime == "image/gif":
        gif_max = min(max_frames, int(cfg["MAX_GIF_FRAMES"]))
        gif_count = gif_frames(data, gif_max)
        if gif_count > gif_max:
            raise _bad(f"the GIF has more than {gif_max} frames (MMS_MAX_GIF_FRAMES)",
                       "video_too_many_frames")
        _check_size(int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little"),
                    cfg)
    with _as_file(data, path) as src:
        info = streams(src, mime, cfg)
        if not info["has_video"]:
            if mime == "image/gif":
                raise _bad("the GIF could not be decoded as a video", "undecodable_video")
            return None  # audio only (or unreadable): the audio checks say which
        if len(data) > int(cfg["MAX_VIDEO_BYTES"]):
            raise PayloadTooLarge(f"video is {len(data)} bytes; the limit is "
                                  f"{cfg['MAX_VIDEO_BYTES']}", code="video_too_large",
                                  field="file")
        w, h = info["width"], info["height"]
        _check_size(w, h, cfg)
        duration = info["declared_s"]
        if gif_count is not None and duration is None:
            duration = gif_count / (info.get("fps") or 10)
        if duration is not None and duration > float(cfg["MAX_VIDEO_DURATION_S"]):
            raise _bad(f"the video is longer than {cfg['MAX_VIDEO_DURATION_S']} seconds",
                       "video_too_long")
        fps = info.get("fps") or 25.0
        if duration is not None and gif_count is None and duration * fps > max_frames:
            raise _bad(f"the video has more than {max_frames} frames (MMS_MAX_VIDEO_FRAMES)",
                       "video_too_many_frames")
        # One real frame decoded: a container whose index is fine but whose data is not.
        run_bounded([*input_args(src, mime, cfg), "-map", "0:v:0", "-frames:v", "1",
                     "-f", "null", "-"], timeout=float(cfg["VIDEO_PROBE_TIMEOUT_S"]),
                    memory_mb=int(cfg["VIDEO_DECODE_MEMORY_MB"]))
    if not duration or duration <= 0:
        raise _bad("the video is empty (no duration)", "empty_video")
    out = {"kind": "video", "mime": "video/gif" if mime == "image/gif" else mime,
           "width": w, "height": h, "duration_s": round(float(duration), 3),
           "fps": round(fps, 3), "has_audio": info["has_audio"]}
    return out


class _as_file:
    """The bytes as a temp file ffmpeg can seek in (MP4 keeps its index at the end)."""

    def __init__(self, data: bytes, path: str | None):
        self.data, self.path = data, path
        self.tmp: str | None = None

    def __enter__(self) -> str:
        if self.path:
            return self.path
        fd, self.tmp = tempfile.mkstemp(prefix="mms-video-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(self.data)
        return self.tmp

    def __exit__(self, *exc: object) -> None:
        if self.tmp:
            os.unlink(self.tmp)
