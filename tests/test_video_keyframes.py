"""Which frames of a video become keyframes (`mmservice.video.keyframes`), on 720p videos made
here at 25 fps: only about `VIDEO_SCORE_FPS` frames a second are scaled and scored, yet a
one-frame flash on a frame that rate skips, and a cut out of noise, are still keyframes, at
their own frame and showing what they should.
"""
from __future__ import annotations

import io
import subprocess

import pytest
from PIL import Image

import videogen
from mmservice import config
from mmservice.media import video
from mmservice.video.keyframes import extract, filter_chain

FRAME = 1 / 25


def colour_at_centre(jpeg: bytes) -> tuple[int, int, int]:
    img = Image.open(io.BytesIO(jpeg)).convert("RGB")
    return img.getpixel((img.width // 2, img.height // 2))


@pytest.fixture(scope="module")
def flashes(tmp_path_factory):
    """A moving pattern with a red frame at 3.04 s (frame 76) and a white one at 6.12 s (frame
    153), then `cellauto` noise and colour bars from about 9.16 s: odd frames, which a
    plain one-in-three frame rate would never look at."""
    path = tmp_path_factory.mktemp("keyframes") / "flashes.mp4"
    path.write_bytes(videogen.make(
        [(76 * FRAME, "testsrc"), (FRAME, "color=red"), (76 * FRAME, "testsrc"),
         (FRAME, "color=white"), (75 * FRAME, "cellauto=rule=110"),
         (3.0, "smptebars=sar=1")], size=(1280, 720), fps=25))
    return str(path)


def keyframes(path: str, **settings):
    return extract(path, "video/mp4", 12.2, {**config.DEFAULTS, **settings})


def at(frames, t: float):
    """The keyframe within a frame of `t`, or None."""
    near = [f for f in frames if abs(f.t - t) <= FRAME + 1e-3]
    return near[0] if near else None


def test_one_frame_flashes_and_a_cut_out_of_noise_are_keyframes(flashes):
    frames = keyframes(flashes)
    red, white, bars = at(frames, 76 * FRAME), at(frames, 153 * FRAME), at(frames, 229 * FRAME)
    assert red and white and bars, [f.t for f in frames]
    r, g, b = colour_at_centre(red.jpeg)
    assert r > 200 and g < 60 and b < 60, (r, g, b)
    assert min(colour_at_centre(white.jpeg)) > 200
    assert max(Image.open(io.BytesIO(red.jpeg)).size) == config.DEFAULTS["VIDEO_FRAME_MAX_SIDE"]


def test_scoring_fewer_frames_keeps_the_keyframes_of_scoring_every_frame(flashes):
    """The same keyframes as with every frame scaled and scored (`VIDEO_SCORE_FPS` 0), each
    within two frames: the sampled ones may come a kept frame later or earlier."""
    fewer, every = keyframes(flashes), keyframes(flashes, VIDEO_SCORE_FPS=0)
    assert len(fewer) == len(every), ([f.t for f in fewer], [f.t for f in every])
    assert all(abs(a.t - b.t) <= 2 * FRAME + 1e-3 for a, b in zip(fewer, every)), \
        ([f.t for f in fewer], [f.t for f in every])


def test_a_format_scored_only_after_a_conversion_is_scaled_frame_by_frame(tmp_path):
    """A 4:4:4 file: `select` would convert every full-size frame before its score (twice the
    CPU of scaling them all), so its keyframes come from the every-frame chain."""
    path = tmp_path / "444.mp4"
    subprocess.run([videogen.FFMPEG, "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=1280x720:rate=25", "-t", "3", "-pix_fmt", "yuv444p",
                    "-c:v", "libx264", "-preset", "ultrafast", str(path)], check=True, timeout=60)
    cfg = dict(config.DEFAULTS)
    assert video.streams(str(path), "video/mp4", cfg)["pix_fmt"] == "yuv444p"
    every = filter_chain({**cfg, "VIDEO_SCORE_FPS": 0}, 3.0)
    assert filter_chain(cfg, 3.0, "yuv444p") == filter_chain(cfg, 3.0, None) == every
    assert filter_chain(cfg, 3.0, "yuv420p") != every
    frames = extract(str(path), "video/mp4", 3.0, cfg)
    assert [f.t for f in frames] == [0.0, 2.0]
