"""The `describe` step (vision chat): prepare the image with Pillow, then ask the vision model.

Why prepare here: the upstream would downscale anyway after we paid to upload the full picture;
what we send is what tokens are counted on, and the estimate is recorded with the result.
"""
from __future__ import annotations

from typing import Any

from mmservice.jobs.media_source import job_media


def run(job: dict, deps) -> dict[str, Any]:
    from mmservice.media.images import prepare_for_vision

    opts = job.get("options") or {}
    detail = opts.get("detail") or "high"
    prepared = prepare_for_vision(job_media(job, deps), detail=detail,
                                  max_pixels=int(deps.cfg["MAX_IMAGE_PIXELS"]))
    provider = deps.providers.get("vision")
    out = provider.describe(prepared.data, prepared.mime, prompt=opts.get("prompt"),
                            detail="low" if detail == "low" else "high",
                            json_schema=opts.get("json_schema"))
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
    if opts.get("prompt"):
        out["prompt"] = opts["prompt"]
    return out
