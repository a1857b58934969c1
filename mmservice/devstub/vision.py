"""Image facts the fake models answer from: size, dominant colour, redness, token cost.

Answers are computed from the pixels (not from the bytes' hash) so that a test can predict them
from the image it built: a 40x30 blue square is described as "40x30 ... blue".
"""
from __future__ import annotations

import base64
import binascii
import io
import math
from dataclasses import dataclass

from PIL import Image, ImageStat, UnidentifiedImageError

from .wire import StubError

_PALETTE = {
    "red": (220, 30, 30), "green": (40, 170, 60), "blue": (30, 60, 220),
    "yellow": (240, 220, 40), "orange": (245, 140, 30), "purple": (130, 50, 170),
    "pink": (245, 150, 190), "cyan": (40, 210, 220), "brown": (120, 75, 40),
    "white": (245, 245, 245), "black": (10, 10, 10), "gray": (128, 128, 128),
}


@dataclass(frozen=True)
class ImageFacts:
    width: int
    height: int
    format: str
    mean: tuple[float, float, float]
    dominant: str

    @property
    def mostly_red(self) -> bool:
        r, g, b = self.mean
        return r > 180 and g < 80 and b < 80


def decode_data_url(url: str, param: str = "messages") -> bytes:
    if not url.startswith("data:"):
        # The stub has no network access to fetch remote images; say so the way OpenAI would.
        raise StubError(400, f"Error while downloading {url[:100]}.", param=param,
                        code="invalid_image_url")
    header, sep, data = url.partition(",")
    if not sep or ";base64" not in header:
        raise StubError(400, "Invalid image data URL: expected data:<mime>;base64,<data>.",
                        param=param, code="invalid_image_format")
    try:
        return base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError):
        raise StubError(400, "Invalid base64 image data.", param=param,
                        code="invalid_image_format") from None


def inspect_image(raw: bytes, param: str = "messages") -> ImageFacts:
    try:
        img = Image.open(io.BytesIO(raw))
        img.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise StubError(400, "You uploaded an unsupported image. Please make sure your image "
                        "is valid.", param=param, code="invalid_image_format") from None
    width, height, fmt = img.width, img.height, (img.format or "unknown").lower()
    small = img.convert("RGB")
    small.thumbnail((32, 32))
    mean = tuple(ImageStat.Stat(small).mean)
    counts: dict[str, int] = {}
    data = small.tobytes()
    for px in zip(data[0::3], data[1::3], data[2::3]):
        name = min(_PALETTE, key=lambda n: sum((a - b) ** 2 for a, b in zip(px, _PALETTE[n])))
        counts[name] = counts.get(name, 0) + 1
    dominant = max(sorted(counts), key=counts.__getitem__)
    return ImageFacts(width, height, fmt, mean, dominant)


def image_from_url(url: str, param: str = "messages") -> ImageFacts:
    return inspect_image(decode_data_url(url, param), param)


def image_tokens(width: int, height: int, detail: str = "auto", model: str = "") -> int:
    """OpenAI's tile rule: fit in 2048x2048, shortest side to 768, 512px tiles.

    gpt-4o-mini bills images at 2833 + 5667 per tile (its per-token price is lower, so the same
    image costs the same); other models at 85 + 170 per tile. `low` is the base cost only.
    """
    base, per_tile = (2833, 5667) if "mini" in model else (85, 170)
    if detail == "low":
        return base
    w, h = float(width), float(height)
    if max(w, h) > 2048:
        s = 2048 / max(w, h)
        w, h = w * s, h * s
    if min(w, h) > 768:
        s = 768 / min(w, h)
        w, h = w * s, h * s
    tiles = math.ceil(w / 512) * math.ceil(h / 512)
    return base + per_tile * tiles
