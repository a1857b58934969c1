"""Local image moderation: NudeNet 3.4 (`320n.onnx`, shipped in the wheel) mapped to `sexual`.

What it judges: exposed genitalia, female breasts, buttocks and anus, each with a detector
confidence; `sexual` is the highest of those confidences (0.0 when none is found at NudeNet's
0.2 floor). What it does not: faces, covered body parts, male chests, feet, armpits and bellies
are reported in `details.detections` but never raise `sexual`; violence, hate symbols, minors
and everything else are not assessed (absent from the scores, not 0).
"""
from __future__ import annotations

import io
from typing import Any

from mmservice.errors import UnsupportedMedia
from mmservice.providers.base import RawModeration

PROVIDER = "local"
MODEL = "nudenet-320n"

# NudeNet classes that make an image sexual. MALE_BREAST_EXPOSED (a shirtless man) does not.
SEXUAL_CLASSES = frozenset({
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "FEMALE_BREAST_EXPOSED",
    "BUTTOCKS_EXPOSED",
    "ANUS_EXPOSED",
})
# Images are shrunk to this longest side before detection (the model sees 320 px anyway), which
# bounds the cost of padding/copying a 50-megapixel upload; boxes are scaled back.
DETECT_MAX_SIDE = 1280


def open_image(data: bytes):
    """First frame of a PNG/JPEG/WEBP/GIF as a Pillow image, fully decoded."""
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(io.BytesIO(data))
        img.seek(0)
        img.load()
    except (UnidentifiedImageError, OSError, ValueError, EOFError) as exc:
        raise UnsupportedMedia(f"the image could not be decoded ({type(exc).__name__})",
                               code="undecodable_image") from None
    return img


def to_rgb(img):
    """RGB with any transparency flattened onto white (what a viewer would show)."""
    from PIL import Image

    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        bg.alpha_composite(rgba)
        return bg.convert("RGB")
    return img.convert("RGB")


def detect(rgb) -> list[dict[str, Any]]:
    """NudeNet detections on an RGB Pillow image: [{"class", "score", "box": [x, y, w, h]}]."""
    import numpy as np

    from mmservice.providers.local import models

    detector = models.get("nudenet")
    w, h = rgb.size
    scale = 1.0
    small = rgb
    if max(w, h) > DETECT_MAX_SIDE:
        scale = max(w, h) / DETECT_MAX_SIDE
        small = rgb.resize((max(1, round(w / scale)), max(1, round(h / scale))))
    # NudeNet converts its input with COLOR_RGBA2BGR, so it wants RGBA.
    arr = np.ascontiguousarray(np.asarray(small.convert("RGBA")))
    raw = detector.detect(arr)
    out = []
    for d in sorted(raw, key=lambda d: -d["score"]):
        x, y, bw, bh = d["box"]
        out.append({"class": d["class"], "score": round(float(d["score"]), 4),
                    "box": [round(x * scale), round(y * scale), round(bw * scale),
                            round(bh * scale)]})
    return out


def sexual_score(detections: list[dict[str, Any]]) -> float:
    return max((d["score"] for d in detections if d["class"] in SEXUAL_CLASSES), default=0.0)


def moderate_image(image: bytes, mime: str) -> RawModeration:
    img = open_image(image)
    rgb = to_rgb(img)
    detections = detect(rgb)
    score = round(float(sexual_score(detections)), 4)
    return RawModeration(
        category_scores={"sexual": score},
        assessed_categories=["sexual"],
        model=MODEL,
        provider=PROVIDER,
        upstream_flagged=None,
        details={"detections": detections,
                 "sexual_classes": sorted({d["class"] for d in detections
                                          if d["class"] in SEXUAL_CLASSES})},
        usage={"images": 1, "width": rgb.size[0], "height": rgb.size[1]},
    )
