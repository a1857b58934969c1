"""Which frames of a video are judged: one at every scene change plus one at least every
`VIDEO_SAMPLE_INTERVAL_S`, capped per video, in one bounded ffmpeg pass.

Why ffmpeg's `select` filter and not PySceneDetect: the binary is already a dependency (the
imageio-ffmpeg wheel), and one pass that scales each decoded frame down before scoring it keeps
a 10-minute 720p video well under real time on one core. The scene score is ffmpeg's (0..1,
mean absolute difference of consecutive frames); the default 0.3 sits where PySceneDetect's
content threshold 27 does on cuts, and a minimum gap (`VIDEO_MIN_SCENE_S`, PySceneDetect's 15
frames at 25 fps) keeps a flicker from taking every frame. Frames come out as JPEGs at most
`VIDEO_FRAME_MAX_SIDE` pixels on their longest side: enough for the image models and OCR of
captions, and a bounded size per frame whatever the source resolution. They come out of a pipe
while ffmpeg decodes (`stream`), so judging the first ones starts long before the decode ends.

Why not every frame is scaled and scored (`filter_chain`): after the decode, scaling each frame
was most of the pass's CPU. A cheap first `select` on the decoded, full-size frames keeps about
`VIDEO_SCORE_FPS` frames a second plus every frame that differs from the one before it (a
full-size scene score above a third of the threshold: cuts and one-frame flashes, which a
plain frame-rate cut would drop); only those are scaled and scored. The full-size score alone
is not the judge: on noise-like content (grain, rain, `cellauto`) it misses cuts that the
scaled frames show, so it only lets frames through. `bilinear` (a real low-pass when shrinking)
rather than `fast_bilinear`: the scaled frames' score of a cut out of noise is clear of the
threshold (0.54 instead of 0.33 against 0.3 in the bench's video). Measured in
`bench/video_keyframes.py`. The full-size score reads only some pixel formats as decoded
(`_SCORED_AS_DECODED`, most H.264/VP9/AV1 video); for the others (4:4:4, 4:2:2 10-bit, alpha,
GIF palettes) ffmpeg would convert every full-size frame first, which cost twice the old pass
on a 4:4:4 file, so those are scaled and scored frame by frame as before.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from mmservice.errors import Invalid
from mmservice.media import video
from mmservice.video import ffstream

# Formats whose full-size scene score ffmpeg 9's `select` computes without converting the frame
# first (checked with `-v verbose`: no `auto_scale` inserted before it).
_SCORED_AS_DECODED = frozenset({"yuv420p", "yuvj420p", "yuv420p10le", "yuv422p", "yuvj422p",
                                "rgb24", "bgr24", "rgba", "bgra", "abgr", "gray"})
_PTS_RE = re.compile(rb"Parsed_showinfo[^\]]*\] n: *\d+ pts: *-?\d+ pts_time:(-?[\d.]+)")


@dataclass(frozen=True)
class Keyframe:
    index: int
    t: float  # seconds from the start
    jpeg: bytes


def interval_for(duration_s: float, cfg: dict) -> float:
    """The sampling interval: the configured one, widened so sampling alone fills at most half
    the cap (the other half is left for scene changes)."""
    cap = int(cfg["VIDEO_MAX_KEYFRAMES"])
    return max(float(cfg["VIDEO_SAMPLE_INTERVAL_S"]), duration_s / max(1, cap // 2))


def select_expr(interval_s: float, threshold: float, min_gap_s: float) -> str:
    """The first frame, any frame `interval_s` after the last one taken, and a scene change at
    least `min_gap_s` after it."""
    return (f"isnan(prev_selected_t)+gte(t-prev_selected_t,{interval_s:.3f})"
            f"+gt(scene,{threshold:.3f})*gte(t-prev_selected_t,{min_gap_s:.3f})")


def filter_chain(cfg: dict, duration_s: float, pix_fmt: str | None = "yuv420p") -> str:
    """The `-vf` of the keyframe pass: the frames worth scoring (see the module's docstring),
    scaled to `VIDEO_FRAME_MAX_SIDE`, then `select_expr` on their scene score, then the time
    line `stream` reads. `VIDEO_SCORE_FPS` 0, or a decoded `pix_fmt` outside
    `_SCORED_AS_DECODED` (None: unknown), scales and scores every frame."""
    side = int(cfg["VIDEO_FRAME_MAX_SIDE"])
    threshold = float(cfg["VIDEO_SCENE_THRESHOLD"])
    fps = float(cfg["VIDEO_SCORE_FPS"]) if pix_fmt in _SCORED_AS_DECODED else 0.0
    # 5 % under the period: frame times are rounded, and 30 fps must keep every third frame.
    step = 0.95 / fps if fps > 0 else 0.0
    # A sampled keyframe can only fall on a kept frame, up to a step after it is due: due half
    # a step early, the samples keep their average spacing (and so their count).
    interval = interval_for(duration_s, cfg) - step / 2
    expr = select_expr(interval, threshold, float(cfg["VIDEO_MIN_SCENE_S"]))
    scale = (f"scale='min({side},iw)':'min({side},ih)':force_original_aspect_ratio=decrease"
             f":flags=bilinear")
    chain = f"{scale},select='{expr}',showinfo"
    if not step:
        return chain
    return (f"select='isnan(prev_selected_t)+gte(t-prev_selected_t,{step:.4f})"
            f"+gt(scene,{threshold / 3:.4f})',{chain}")


def ffmpeg_args(path: str, mime: str, chain: str, cfg: dict) -> list[str]:
    """The keyframe pass's ffmpeg options with `chain` as its `-vf`: one decoding thread, the
    first video stream only, JPEGs to stdout (`ffstream`'s `mpjpeg`), at most
    `VIDEO_MAX_KEYFRAMES` of them."""
    return ["-threads", "1", "-filter_threads", "1", *video.input_args(path, mime, cfg),
            "-map", "0:v:0", "-an", "-sn", "-dn",
            "-t", f"{float(cfg['MAX_VIDEO_DURATION_S']) + 1:.3f}",
            "-vf", chain, "-fps_mode", "vfr", "-frames:v", str(int(cfg["VIDEO_MAX_KEYFRAMES"])),
            "-c:v", "mjpeg", "-q:v", "4", "-f", "mpjpeg", "pipe:1"]


def stream(path: str, mime: str, duration_s: float, cfg: dict) -> Iterator[list[Keyframe]]:
    """Keyframes of the video file at `path`, in time order, handed over in batches while
    ffmpeg still decodes (`video.ffstream`): a batch is what one read of its output completed.
    Raises `Invalid` (`undecodable_video`, `video_decode_timeout`, `no_keyframes`) after the
    frames it could hand over."""
    side = int(cfg["VIDEO_FRAME_MAX_SIDE"])
    # The header read again (a few hundredths of a CPU second): the decoded pixel format
    # decides the chain, and the job's record does not keep it.
    pix_fmt = video.streams(path, mime, cfg).get("pix_fmt")
    count = 0
    for batch in ffstream.frames(
            ffmpeg_args(path, mime, filter_chain(cfg, duration_s, pix_fmt), cfg), _PTS_RE,
            timeout=float(cfg["VIDEO_DECODE_TIMEOUT_S"]),
            memory_mb=int(cfg["VIDEO_DECODE_MEMORY_MB"]),
            max_frame_bytes=side * side * 3):  # an uncompressed frame: no JPEG is larger
        out = [Keyframe(count + i, round(max(0.0, t), 3), jpeg)
               for i, (t, jpeg) in enumerate(batch)]
        count += len(out)
        yield out
    if not count:
        raise Invalid("no frame of the video could be decoded", code="no_keyframes",
                      field="file")


def extract(path: str, mime: str, duration_s: float, cfg: dict) -> list[Keyframe]:
    """Every keyframe of `stream`, once ffmpeg is done (the serial form: benches and tools)."""
    return [f for batch in stream(path, mime, duration_s, cfg) for f in batch]
