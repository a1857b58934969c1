"""The one place that runs ffmpeg.

Why our own runner rather than pydub's: pydub shells out to `ffprobe`, which the `imageio-ffmpeg`
wheel does not ship, and a fresh machine has no system ffmpeg. We run the wheel's binary with
pipes, a timeout and a forced demuxer (from the magic bytes), so an upload can never make ffmpeg
open a playlist, a URL or a local file. Errors shown to clients are short and fixed: ffmpeg's
stderr (which can name temp paths) goes to the log only.
"""
from __future__ import annotations

import functools
import logging
import os
import re
import subprocess
import tempfile
from typing import Any

from ..errors import Invalid, Unavailable

log = logging.getLogger(__name__)

# Our mime -> ffmpeg demuxer. Forcing the demuxer keeps ffmpeg away from its network/playlist ones.
DEMUXERS = {
    "audio/wav": "wav", "audio/mpeg": "mp3", "audio/flac": "flac", "audio/ogg": "ogg",
    "audio/webm": "matroska", "audio/mp4": "mov", "audio/aac": "aac",
}
# MP4 keeps its index (moov) at the end unless "faststart"; a pipe cannot seek back to it.
_SEEKABLE_INPUT = {"audio/mp4"}

_MESSAGES = {
    "undecodable_audio": "the audio could not be decoded",
    "audio_encode_failed": "the audio could not be encoded",
}


@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary: `MMS_FFMPEG` if set, else the one in the imageio-ffmpeg wheel."""
    from mmservice import config

    override = config.load()["FFMPEG"]
    if override:
        return override
    try:
        import imageio_ffmpeg
        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception as exc:  # not installed, or no binary for this platform
        log.error("no ffmpeg binary: %s", exc)
        raise Unavailable("audio processing is not available", code="ffmpeg_unavailable") from None


def _fail(code: str, detail: str = "") -> Invalid:
    if detail:
        log.info("ffmpeg failed (%s): %s", code, detail[-2000:])
    return Invalid(_MESSAGES.get(code, "audio processing failed"), code=code)


def _exec(args: list[str], input_bytes: bytes | None, timeout: float, *,
          seekable_input: bool = False, output_suffix: str | None = None,
          error_code: str = "undecodable_audio",
          input_file: Any = None) -> subprocess.CompletedProcess:
    """Run ffmpeg; `pipe:0`/`pipe:1` in `args` become temp files when seeking is needed.
    `input_file` (an open file with a descriptor) is ffmpeg's stdin instead of `input_bytes`:
    a large upload is read by ffmpeg from its spool file, never copied into this process."""
    with tempfile.TemporaryDirectory(prefix="mms-ff-") as tmp:
        args = list(args)
        stdin = input_bytes
        if seekable_input and input_bytes is not None:
            src = os.path.join(tmp, "in")
            with open(src, "wb") as fh:
                fh.write(input_bytes)
            for i, a in enumerate(args):
                if a == "pipe:0":
                    args[i] = src
                elif a == "pipe" and i and args[i - 1] == "-protocol_whitelist":
                    args[i] = "file"
            stdin = None
        dst = None
        if output_suffix:
            dst = os.path.join(tmp, "out" + output_suffix)
            args = [dst if a == "pipe:1" else a for a in args]
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", *args]
        try:
            if input_file is not None and stdin is None:
                proc = subprocess.run(cmd, stdin=input_file, capture_output=True,
                                      timeout=timeout)
            else:
                proc = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout,
                                      stdin=None if stdin is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise _fail(error_code, f"timed out after {timeout}s") from None
        except OSError as exc:
            log.error("cannot run ffmpeg: %s", exc)
            raise Unavailable("audio processing is not available",
                              code="ffmpeg_unavailable") from None
        if proc.returncode != 0:
            raise _fail(error_code, proc.stderr.decode("utf-8", "replace"))
        if dst is not None:
            with open(dst, "rb") as fh:
                proc.stdout = fh.read()
        return proc


def input_args(mime: str | None) -> list[str]:
    """Input options for untrusted bytes of type `mime`: forced demuxer, only the pipe protocol."""
    args = ["-protocol_whitelist", "pipe"]
    if mime in DEMUXERS:
        args += ["-f", DEMUXERS[mime]]
    return args + ["-i", "pipe:0"]


def run_ffmpeg(args: list[str], input_bytes: bytes | None = None, timeout: float = 120.0, *,
               mime: str | None = None, output_suffix: str | None = None,
               error_code: str = "undecodable_audio") -> bytes:
    """Run ffmpeg with `args` (reading `pipe:0`, writing `pipe:1`) and return what it wrote.

    `mime` of the input decides whether it must go through a seekable temp file (MP4);
    `output_suffix` does the same for outputs whose muxer seeks back (FLAC headers, MP3 Xing).
    Any failure raises `Invalid(code=error_code)` with a fixed message.
    """
    proc = _exec(args, input_bytes, timeout, seekable_input=mime in _SEEKABLE_INPUT,
                 output_suffix=output_suffix, error_code=error_code)
    return proc.stdout


_STREAM_RE = re.compile(r"Stream #\d+:\d+.*?: Audio: [^,]+, (\d+) Hz, ([^,]+),")
_CHANNELS = {"mono": 1, "stereo": 2, "2.1": 3, "quad": 4, "4.0": 4, "5.0": 5, "5.1": 6,
             "6.1": 7, "7.1": 8}


def probe(data: bytes | None, mime: str | None = None, *, limit_s: float | None = None,
          timeout: float = 120.0, input_file: Any = None) -> dict:
    """Decode the first audio stream to nowhere: proves it decodes and measures it.

    Why decode rather than read the header: many containers (raw MP3 over a pipe, WebM from
    browsers) carry no duration, and a header can lie. `limit_s` stops decoding early, so an
    over-long upload is rejected without decoding all of it. Raises `undecodable_audio`.
    """
    args = ["-nostats", "-v", "info", *input_args(mime), "-map", "0:a:0", "-vn", "-sn", "-dn"]
    if limit_s:
        args += ["-t", f"{limit_s:.3f}"]
    args += ["-progress", "pipe:1", "-f", "null", "-"]
    proc = _exec(args, data, timeout, seekable_input=mime in _SEEKABLE_INPUT,
                 input_file=input_file)
    # -progress writes "out_time_us=N" blocks; the last one is the decoded length.
    times = re.findall(rb"out_time_us=(\d+)", proc.stdout)
    duration = int(times[-1]) / 1e6 if times else None
    info: dict = {"duration_s": duration}
    m = _STREAM_RE.search(proc.stderr.decode("utf-8", "replace"))
    if m:
        info["sample_rate"] = int(m.group(1))
        layout = m.group(2).strip().split("(")[0]
        ch = _CHANNELS.get(layout) or (int(layout.split()[0]) if layout[:1].isdigit() else None)
        if ch:
            info["channels"] = ch
    return info


def probe_duration(data: bytes, mime: str | None = None) -> float | None:
    """Duration in seconds, or None when ffmpeg cannot decode the bytes."""
    try:
        return probe(data, mime)["duration_s"]
    except Invalid:
        return None
