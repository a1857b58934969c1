"""Vision chat about one image: prepare it with Pillow, then ask the vision model.

Why prepare here: the upstream would downscale anyway after we paid to upload the full picture;
what we send is what tokens are counted on, and the estimate is recorded with the result.
"""
from __future__ import annotations

from typing import Any


def describe(image: bytes, *, provider: Any, max_pixels: int, prompt: str | None = None,
             detail: str = "high", json_schema: dict | None = None) -> dict[str, Any]:
    from mmservice.media.images import prepare_for_vision

    prepared = prepare_for_vision(image, detail=detail, max_pixels=max_pixels)
    out = provider.describe(prepared.data, prepared.mime, prompt=prompt,
                            detail="low" if detail == "low" else "high",
                            json_schema=json_schema)
    out.setdefault("provider", provider.name)
    out.setdefault("model", provider.model)
    out["image"] = {"sent_width": prepared.width, "sent_height": prepared.height,
                    "sent_bytes": len(prepared.data), "original_width": prepared.original_width,
                    "original_height": prepared.original_height,
                    "original_bytes": prepared.original_bytes, "detail": detail}
    out["image_tokens_estimate"] = prepared.tokens
    usage = dict(out.get("usage") or {})
    usage.setdefault("image_tokens", prepared.tokens)
    usage.setdefault("images", 1)
    out["usage"] = usage
    if prompt:
        out["prompt"] = prompt
    return out
