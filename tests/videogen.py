"""Videos the tests make for themselves with the imageio-ffmpeg binary (no files on disk).

A video is a list of scenes, each `(seconds, source)`: `"testsrc"`, `"color=<name>"` or a
Pillow image (a frame held still: a caption, a photo). The soundtrack, when given, is a WAV
looped under the whole video.
"""
from __future__ import annotations

import io
import os
import subprocess
import tempfile

import imageio_ffmpeg
from PIL import Image, ImageDraw, ImageFont

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def caption(text: str, size=(640, 360), bg="white", fg="black") -> Image.Image:
    """A still frame with large text on it (OCR reads it)."""
    img = Image.new("RGB", size, bg)
    try:
        font = ImageFont.truetype("DejaVuSans-Bold.ttf", size[1] // 8)
    except OSError:
        font = ImageFont.load_default(size=size[1] // 8)
    ImageDraw.Draw(img).text((size[0] // 16, size[1] // 2 - size[1] // 12), text, fill=fg,
                             font=font)
    return img


def make(scenes: list[tuple[float, object]], *, size=(640, 360), fps: int = 10,
         soundtrack: bytes | None = None, fmt: str = "mp4") -> bytes:
    w, h = size
    with tempfile.TemporaryDirectory() as tmp:
        args: list[str] = []
        for n, (seconds, src) in enumerate(scenes):
            if isinstance(src, Image.Image):
                path = os.path.join(tmp, f"{n}.png")
                src.resize(size).save(path)
                args += ["-loop", "1", "-framerate", str(fps), "-t", str(seconds), "-i", path]
            else:
                spec = (f"testsrc=size={w}x{h}:rate={fps}" if src == "testsrc"
                        else f"{src}:size={w}x{h}:rate={fps}")
                args += ["-f", "lavfi", "-t", str(seconds), "-i", spec]
        chains = "".join(f"[{n}:v]fps={fps},format=yuv420p,setsar=1[v{n}];"
                         for n in range(len(scenes)))
        graph = chains + "".join(f"[v{n}]" for n in range(len(scenes))) + \
            f"concat=n={len(scenes)}:v=1:a=0[v]"
        total = sum(s for s, _ in scenes)
        maps = ["-map", "[v]"]
        if soundtrack is not None:
            wav = os.path.join(tmp, "sound.wav")
            with open(wav, "wb") as fh:
                fh.write(soundtrack)
            args += ["-stream_loop", "-1", "-i", wav]
            maps += ["-map", f"{len(scenes)}:a", "-c:a", "aac" if fmt == "mp4" else "libopus"]
        out = os.path.join(tmp, f"out.{fmt}")
        codec = ["-c:v", "libx264", "-preset", "ultrafast"] if fmt == "mp4" else \
            ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"]
        subprocess.run([FFMPEG, "-y", "-loglevel", "error", *args, "-filter_complex", graph,
                        *maps, "-t", str(total), *codec, "-pix_fmt", "yuv420p", out],
                       check=True, timeout=120)
        with open(out, "rb") as fh:
            return fh.read()


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def gif_with_frames(n: int) -> bytes:
    """An animated GIF of `n` 1x1 frames, written block by block (Pillow would take minutes to
    save 100,000 frames): the classic 1x1 image data after a 10 ms graphic control block."""
    head = b"GIF89a" + bytes([1, 0, 1, 0, 0x80, 0, 0]) + bytes([0, 0, 0, 255, 255, 255])
    loop = b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    frame = (b"\x21\xf9\x04\x00\x01\x00\x00\x00" + b"\x2c" + bytes([0, 0, 0, 0, 1, 0, 1, 0, 0])
             + b"\x02\x02\x44\x01\x00")
    return head + loop + frame * n + b"\x3b"


def gif_claiming_size(width: int, height: int) -> bytes:
    """A two-frame GIF whose logical screen says `width` x `height` (its frames are tiny)."""
    data = bytearray(gif_with_frames(2))
    data[6:8] = width.to_bytes(2, "little")
    data[8:10] = height.to_bytes(2, "little")
    return bytes(data)


def no_frames() -> bytes:
    """An MP4 whose video stream holds zero frames."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "z.mp4")
        subprocess.run([FFMPEG, "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                        "testsrc=size=320x180:rate=10", "-frames:v", "0", "-c:v", "libx264", out],
                       check=True, timeout=60)
        with open(out, "rb") as fh:
            return fh.read()
