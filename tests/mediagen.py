"""Media the tests make for themselves (no fixtures on disk, no downloads)."""
from __future__ import annotations

import io
import math
import struct
import wave
import zlib

from PIL import Image


def image(fmt: str = "PNG", size=(64, 48), color=(200, 30, 30), **save) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, fmt, **save)
    return buf.getvalue()


def gif_two_frames() -> bytes:
    """First frame red, second blue: moderation must judge the first."""
    buf = io.BytesIO()
    frames = [Image.new("RGB", (40, 40), (220, 20, 20)), Image.new("RGB", (40, 40), (0, 0, 220))]
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buf.getvalue()


def png_bomb(side: int = 60000) -> bytes:
    """A 1-bit PNG that is tiny on disk and side*side pixels when decoded."""
    def chunk(kind, data):
        c = kind + data
        return struct.pack(">I", len(data)) + c + struct.pack(">I", zlib.crc32(c) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    row = b"\x00" + b"\x00" * ((side + 7) // 8)
    comp = zlib.compressobj(9)
    raw = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def wav(seconds: float = 1.0, rate: int = 16000, freq: float = 440.0) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        n = int(seconds * rate)
        w.writeframes(b"".join(struct.pack("<h",
                                           int(8000 * math.sin(2 * math.pi * freq * i / rate)))
                               for i in range(n)))
    return buf.getvalue()


def bursts_wav(total_s: float, burst_s: float = 4.0, gap_s: float = 1.0,
               rate: int = 16000) -> bytes:
    """Tone bursts separated by silence: a stand-in for speech with pauses, for chunk planning."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = bytearray()
        t, period = 0, burst_s + gap_s
        n = int(total_s * rate)
        for i in range(n):
            t = (i / rate) % period
            v = int(8000 * math.sin(2 * math.pi * 330 * i / rate)) if t < burst_s else 0
            frames += struct.pack("<h", v)
        w.writeframes(bytes(frames))
    return buf.getvalue()


def empty_wav(rate: int = 16000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"")
    return buf.getvalue()
