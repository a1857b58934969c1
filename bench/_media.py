"""Generated inputs: a ~100 KB JPEG, a 12 MP photo-like JPEG, an hour of 16 kHz mono WAV.

Everything is made here, deterministically (fixed seeds), so the numbers do not depend on files
nobody else has. Costs: the 12 MP JPEG ~1 s of CPU and ~3 MB; the hour of audio ~1 s of CPU and
115.2 MB (16,000 samples/s x 2 bytes x 3,600 s), held in memory, never written to disk here.
"""
from __future__ import annotations

import io
import math
import random
from array import array


def _photo_like(w: int, h: int, seed: int, noise_sigma: float = 18.0):
    """Smooth colour fields (a small random image upscaled) plus sensor-like noise and a few
    hard edges: compresses like a photo (a 12 MP one to ~3 MB at q90), unlike flat colour or
    pure noise."""
    from PIL import Image, ImageDraw, ImageFilter

    rng = random.Random(seed)
    small = Image.new("RGB", (16, 12))
    small.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256))
                   for _ in range(16 * 12)])
    base = small.resize((w, h), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(base)
    for _ in range(40):
        x0, y0 = rng.randrange(w), rng.randrange(h)
        x1, y1 = x0 + rng.randrange(w // 8), y0 + rng.randrange(h // 8)
        draw.rectangle([x0, y0, x1, y1], fill=(rng.randrange(256), rng.randrange(256),
                                               rng.randrange(256)))
    base = base.filter(ImageFilter.GaussianBlur(2))
    noise = Image.effect_noise((w, h), noise_sigma).convert("RGB")
    return Image.blend(base, noise, 0.18)


def jpeg_of_size(target_bytes: int = 100 * 1024, seed: int = 7) -> bytes:
    """A photo-like JPEG whose size is within a few percent of `target_bytes`."""
    img = _photo_like(800, 600, seed)
    best = b""
    lo, hi = 20, 98
    while lo <= hi:  # at most ~7 encodes
        q = (lo + hi) // 2
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=q)
        data = buf.getvalue()
        if not best or abs(len(data) - target_bytes) < abs(len(best) - target_bytes):
            best = data
        if len(data) < target_bytes:
            lo = q + 1
        else:
            hi = q - 1
    return best


def jpeg_12mp(seed: int = 11, quality: int = 90) -> bytes:
    """4000 x 3000 (12 MP, a phone camera's size), photo-like, JPEG q90 4:2:0."""
    buf = io.BytesIO()
    _photo_like(4000, 3000, seed).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def speechlike_wav(minutes: float = 60.0, rate: int = 16000, block_s: float = 30.0,
                   silence_s: float = 0.8) -> bytes:
    """`minutes` of 16 kHz mono s16 WAV: every `block_s` seconds, `block_s - silence_s` seconds
    of a tone mix whose loudness moves like syllables (never silent) and then `silence_s` of
    digital silence, so the chunker finds a silence near every cut. One block is synthesized and
    repeated (cheap)."""
    import wave

    n_sig = int((block_s - silence_s) * rate)
    rng = random.Random(5)
    sig = array("h", bytes(2 * n_sig))
    two_pi = 2 * math.pi
    for i in range(n_sig):
        t = i / rate
        env = 0.35 + 0.65 * abs(math.sin(two_pi * 2.1 * t))  # ~4 syllables/s, never silent
        v = (math.sin(two_pi * 180 * t) + 0.5 * math.sin(two_pi * 720 * t)
             + 0.25 * math.sin(two_pi * 1900 * t)) / 1.75
        sig[i] = int(9000 * env * v + rng.randint(-300, 300))
    block = sig.tobytes() + bytes(2 * int(silence_s * rate))
    blocks = int(round(minutes * 60 / block_s))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(block * blocks)
    return buf.getvalue()
