"""Local `describe`: an honest, structured account of what the offline engines can see.

It reports facts, not a caption: size, format, dominant colours (Pillow median-cut quantization
to 5 colours), OCR text lines with boxes and confidences, and the `sexual` image engine's view:
open_nsfw's score by default, NudeNet's body-part detections with `MMS_LOCAL_IMAGE_SEXUAL_ENGINE=
nudenet` (image_moderation.py says why NudeNet is not the default).
`text` is a short sentence built from exactly those facts. It cannot say what the picture shows
(objects, scenes, people's actions) and cannot answer questions: a `prompt` or `json_schema`
is refused with `capability_unavailable_offline`, naming the setting that enables a real model.
"""
from __future__ import annotations

import time
from typing import Any

from mmservice.errors import CapabilityUnavailable

PROVIDER = "local"
MODEL = "rapidocr-ppocrv4+{sexual}+pillow-colors"
N_COLORS = 5

_NEEDS_MODEL = ("an OpenAI-compatible vision model is needed: set MMS_VISION_BASE_URL (and "
                "MMS_VISION_API_KEY / MMS_VISION_MODEL) or OPENAI_API_KEY; offline, describe "
                "reports only size, colours, OCR text and nudity detections")

# Coarse names for the colour sentence (nearest in RGB). Hex values are always reported too.
_NAMED = {
    "black": (0, 0, 0), "white": (255, 255, 255), "grey": (128, 128, 128),
    "light grey": (200, 200, 200), "dark grey": (64, 64, 64), "red": (220, 30, 30),
    "dark red": (128, 0, 0), "orange": (255, 140, 0), "yellow": (250, 220, 40),
    "olive": (128, 128, 0), "green": (40, 160, 60), "dark green": (0, 90, 30),
    "teal": (0, 128, 128), "cyan": (0, 220, 230), "light blue": (150, 200, 240),
    "blue": (30, 80, 220), "navy": (0, 0, 110), "purple": (128, 40, 160),
    "pink": (250, 160, 200), "magenta": (220, 0, 200), "brown": (130, 80, 40),
    "beige": (225, 205, 170), "skin tone": (225, 180, 150),
}

_PARTS = {
    "FACE_FEMALE": "a female face", "FACE_MALE": "a male face",
    "FEMALE_BREAST_EXPOSED": "exposed female breasts", "FEMALE_BREAST_COVERED": "covered breasts",
    "FEMALE_GENITALIA_EXPOSED": "exposed female genitalia",
    "FEMALE_GENITALIA_COVERED": "covered female genitalia",
    "MALE_GENITALIA_EXPOSED": "exposed male genitalia", "MALE_BREAST_EXPOSED": "a bare male chest",
    "BUTTOCKS_EXPOSED": "exposed buttocks", "BUTTOCKS_COVERED": "covered buttocks",
    "ANUS_EXPOSED": "an exposed anus", "ANUS_COVERED": "a covered anus",
    "BELLY_EXPOSED": "a bare belly", "BELLY_COVERED": "a covered belly",
    "FEET_EXPOSED": "bare feet", "FEET_COVERED": "covered feet",
    "ARMPITS_EXPOSED": "bare armpits", "ARMPITS_COVERED": "covered armpits",
}


def _color_name(rgb: tuple[int, int, int]) -> str:
    return min(_NAMED, key=lambda n: sum((a - b) ** 2 for a, b in zip(_NAMED[n], rgb)))


def dominant_colors(rgb, n: int = N_COLORS) -> list[dict[str, Any]]:
    """Median-cut quantization of a 256-px thumbnail: [{"hex", "rgb", "share", "name"}]."""
    from PIL import Image

    small = rgb.copy()
    small.thumbnail((256, 256))
    q = small.quantize(colors=n, method=Image.Quantize.MEDIANCUT)
    palette = q.getpalette() or []
    counts = q.getcolors(maxcolors=256) or []
    total = sum(c for c, _ in counts) or 1
    out = []
    for count, idx in sorted(counts, reverse=True):
        r, g, b = palette[idx * 3: idx * 3 + 3]
        out.append({"hex": f"#{r:02x}{g:02x}{b:02x}", "rgb": [r, g, b],
                    "share": round(count / total, 4), "name": _color_name((r, g, b))})
    return out


def _quote(lines: list[dict[str, Any]], limit: int = 300) -> str:
    text = " / ".join(l["text"] for l in lines)  # noqa: E741
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def summary(facts: dict[str, Any]) -> str:
    parts = [f"A {facts['width']}×{facts['height']} {facts['format']} image"
             + (f" ({facts['frames']} frames, first frame described)" if facts["frames"] > 1
                else "") + "."]
    colors = [c for c in facts["dominant_colors"] if c["share"] >= 0.05]
    if colors:
        named: dict[str, float] = {}
        for c in colors:
            named[c["name"]] = named.get(c["name"], 0.0) + c["share"]
        parts.append("Main colours: " + ", ".join(f"{name} ({share:.0%})"
                                                  for name, share in named.items()) + ".")
    lines = facts["text_lines"]
    if lines:
        parts.append(f"Text found ({len(lines)} line{'s' if len(lines) != 1 else ''}): "
                     f"\"{_quote(lines)}\".")
    else:
        parts.append("No legible text was found.")
    dets = facts.get("detections")
    if dets is None:
        pass  # open_nsfw scores the whole image; it finds no parts to list
    elif dets:
        seen: list[str] = []
        for d in dets:
            label = _PARTS.get(d["class"], d["class"].lower().replace("_", " "))
            if label not in seen:
                seen.append(label)
        parts.append("The nudity detector found " + ", ".join(seen[:6]) + ".")
    else:
        parts.append("The nudity detector found no faces or body parts.")
    if facts["sexual_score"] >= 0.5:
        parts.append(f"The {facts['engines']['sexual']} engine rates the image as sexual "
                     f"(score {facts['sexual_score']:.2f}).")
    return " ".join(parts)


def model_name(cfg: dict | None = None) -> str:
    from mmservice.providers.local.image_moderation import SEXUAL_MODELS
    from mmservice.providers.local.models import sexual_image_engine

    return MODEL.format(sexual=SEXUAL_MODELS[sexual_image_engine(cfg)])


class LocalVision:
    name = PROVIDER

    @property
    def model(self) -> str:
        return model_name(getattr(self, "cfg", None))
    # Declared for the API, which refuses these at submission without loading any model.
    REFUSED_OPTIONS = {"prompt": "free-form questions about an image need a vision model",
                       "json_schema": "structured (json_schema) answers about an image need a "
                                      "vision model"}

    @classmethod
    def refused_option(cls, options: dict, cfg: dict) -> tuple[str, str] | None:
        """(option, why) for the first option this engine cannot honour, else None."""
        for key, why in cls.REFUSED_OPTIONS.items():
            if options.get(key):
                return key, why
        return None

    def describe(self, image: bytes, mime: str, *, prompt: str | None, detail: str,
                 json_schema: dict | None) -> dict[str, Any]:
        if prompt:
            raise CapabilityUnavailable(f"free-form questions about an image need a vision "
                                        f"model; {_NEEDS_MODEL}",
                                        code="capability_unavailable_offline", field="prompt")
        if json_schema:
            raise CapabilityUnavailable(f"structured (json_schema) answers about an image need "
                                        f"a vision model; {_NEEDS_MODEL}",
                                        code="capability_unavailable_offline",
                                        field="json_schema")
        from mmservice.providers.local import image_moderation, ocr

        t0 = time.perf_counter()
        img = image_moderation.open_image(image)
        fmt = (img.format or (mime or "").split("/")[-1] or "unknown").upper()
        frames = int(getattr(img, "n_frames", 1) or 1)
        rgb = image_moderation.to_rgb(img)
        lines = ocr.read_text(rgb, detail or "auto")
        sexual, seen = image_moderation.sexual_facts(rgb)
        facts: dict[str, Any] = {
            "width": rgb.size[0],
            "height": rgb.size[1],
            "format": fmt,
            "mode": img.mode,
            "frames": frames,
            "dominant_colors": dominant_colors(rgb),
            "text_lines": lines,
            "ocr_text": "\n".join(l["text"] for l in lines),  # noqa: E741
            **({"detections": seen["detections"]} if "detections" in seen else {}),
            "sexual_score": sexual,
            "engines": {"ocr": "rapidocr-onnxruntime (PP-OCRv4)",
                        "sexual": seen["sexual_engine"],
                        "colors": "pillow median-cut"},
            "limitations": "offline description: size, colours, OCR text and a nudity score "
                           "only; objects, scenes and actions are not recognized",
        }
        return {
            "text": summary(facts),
            "data": facts,
            "model": self.model,
            "provider": PROVIDER,
            "usage": {"images": 1, "ocr_lines": len(lines),
                      "processing_s": round(time.perf_counter() - t0, 3)},
        }
