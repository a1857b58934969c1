"""Frames of a running ffmpeg, handed over as it writes them, with their times.

Why a pipe and not a folder of JPEGs read at the end: a video's keyframes are judged in parts
(`mmservice.steps.video`), and a part can start only once its frame exists. Read while ffmpeg
still decodes, the first keyframes are being judged within a second of the start, and the
decode hides behind the judging instead of coming before it.

Why the `mpjpeg` muxer: it writes each JPEG after a `Content-length` header, so a frame is cut
from the pipe by its length as soon as its last byte arrives: no JPEG parsing, no folder to
watch. Its time comes from the `showinfo` line ffmpeg writes on stderr for it before encoding
it (a thread reads stderr, in order), so the k-th JPEG's time is the k-th line's.

The bounds are `media.video.run_bounded`'s: an address-space limit set in the child, a
wall-clock timeout (a timer kills ffmpeg), plus a cap on one frame's size; ffmpeg's stderr
(which names temp paths) goes to the log only, and only its tail.
"""
from __future__ import annotations

import collections
import logging
import os
import queue
import re
import subprocess
import threading
from collections.abc import Iterator

from mmservice.errors import Invalid
from mmservice.media import ffmpeg as ff
from mmservice.media.video import memory_limit

log = logging.getLogger(__name__)

_LENGTH_RE = re.compile(rb"Content-length:\s*(\d+)", re.IGNORECASE)
_HEADER_MAX = 1024  # the part header ffmpeg writes is about 70 bytes
_READ = 1 << 16


def frames(args: list[str], time_re: re.Pattern[bytes], *, timeout: float, memory_mb: int,
           max_frame_bytes: int) -> Iterator[list[tuple[float, bytes]]]:
    """Run `ffmpeg <args>` (whose output must be `-f mpjpeg pipe:1`) and yield, after each read
    of its output, the frames that read completed: `(time from time_re's group 1, jpeg)`, in
    order. A frame without a time line is dropped. Raises `Invalid` (`video_decode_timeout`,
    `undecodable_video`) when ffmpeg times out or fails, after the frames it did write."""
    cmd = [ff.ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", *args]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=memory_limit(memory_mb))
    timed_out = threading.Event()

    def expire() -> None:
        timed_out.set()
        proc.kill()

    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    times: queue.Queue[float | None] = queue.Queue()
    tail: collections.deque[bytes] = collections.deque(maxlen=40)
    reader = threading.Thread(target=_read_times, args=(proc, time_re, times, tail),
                              name="ffmpeg-stderr", daemon=True)
    timer.start()
    reader.start()
    no_more_times, read_all = False, False
    try:
        assert proc.stdout is not None
        fd, buf = proc.stdout.fileno(), bytearray()
        while True:
            block = os.read(fd, _READ)
            if not block:
                break
            buf += block
            batch = []
            for jpeg in _cut(buf, max_frame_bytes):
                t = None if no_more_times else times.get()  # written before the frame was
                no_more_times = t is None
                if t is not None:
                    batch.append((t, jpeg))
            if batch:
                yield batch
        read_all = True
    finally:
        if not read_all:  # the consumer stopped early (closed, or an error): no orphan
            proc.kill()
        proc.wait()
        timer.cancel()
        reader.join()
        if proc.stdout:
            proc.stdout.close()
    if timed_out.is_set():
        log.info("ffmpeg timed out after %ss (video_decode_timeout)", timeout)
        raise _bad("decoding the video took too long", "video_decode_timeout") from None
    if proc.returncode != 0:
        log.info("ffmpeg failed (undecodable_video): %s",
                 b"".join(tail).decode("utf-8", "replace")[-2000:])
        raise _bad("the video could not be decoded")


def _bad(message: str, code: str = "undecodable_video") -> Invalid:
    return Invalid(message, code=code, field="file")


def _cut(buf: bytearray, max_frame_bytes: int) -> Iterator[bytes]:
    """The whole parts at the start of `buf` (removed from it); a partial one stays."""
    while True:
        head_end = buf.find(b"\r\n\r\n")
        if head_end < 0:
            if len(buf) > _HEADER_MAX:
                raise _bad("the video could not be decoded")
            return
        m = _LENGTH_RE.search(buf, 0, head_end)
        if m is None or head_end > _HEADER_MAX:
            raise _bad("the video could not be decoded")
        size = int(m.group(1))
        if size > max_frame_bytes:
            raise _bad("a keyframe is larger than any frame of the allowed size")
        start = head_end + 4
        if len(buf) < start + size:
            return
        yield bytes(buf[start:start + size])
        del buf[:start + size]
        while buf[:2] == b"\r\n":  # the line end after each part
            del buf[:2]


def _read_times(proc: subprocess.Popen, time_re: re.Pattern[bytes],
                times: queue.Queue[float | None], tail: collections.deque[bytes]) -> None:
    """stderr, line by line until ffmpeg closes it: each time line's value in order, then None;
    the other lines' tail is kept for the log."""
    assert proc.stderr is not None
    try:
        for line in proc.stderr:
            m = time_re.search(line)
            if m:
                times.put(float(m.group(1)))
            else:
                tail.append(line[:500])
    finally:
        times.put(None)
        proc.stderr.close()
