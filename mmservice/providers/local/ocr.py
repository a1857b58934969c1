"""OCR with RapidOCR (PaddleOCR PP-OCRv4 detection + recognition as ONNX, shipped in the wheel).

It reads printed Latin and Chinese text, digits and punctuation; handwriting, stylised logos,
strongly curved or very small text (under ~10 px high) are read poorly or not at all.
"""
from __future__ import annotations

from typing import Any

# Longest side handed to the OCR per `detail` (larger inputs are shrunk, boxes scaled back).
MAX_SIDE = {"low": 960, "auto": 1600, "high": 2400}


def read_text(rgb, detail: str = "auto") -> list[dict[str, Any]]:
    """Text lines in reading order: [{"text", "confidence", "box": [[x, y] x 4]}] (pixels of
    the image as given, corners clockwise from top-left)."""
    from mmservice.providers.local import models

    engine = models.get("ocr")
    w, h = rgb.size
    limit = MAX_SIDE.get(detail, MAX_SIDE["auto"])
    scale = 1.0
    img = rgb
    if max(w, h) > limit:
        scale = max(w, h) / limit
        img = rgb.resize((max(1, round(w / scale)), max(1, round(h / scale))))
    # RapidOCR keeps per-call settings on the instance: one call at a time per process.
    with models.slot("ocr").call_lock:
        result, _elapsed = engine(img)
    lines = []
    for box, text, conf in result or []:
        text = str(text).strip()
        if not text:
            continue
        lines.append({
            "text": text,
            "confidence": round(float(conf), 4),
            "box": [[round(float(x) * scale), round(float(y) * scale)] for x, y in box],
        })
    return lines
