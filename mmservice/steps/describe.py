"""The `describe` step (vision chat) for an image job; the same question about the same image
is answered from the result cache (`mmservice.cache`)."""
from __future__ import annotations

from typing import Any

from mmservice.cache.steps import for_step
from mmservice.capabilities.describe import describe
from mmservice.jobs.media_source import job_media


def run(job: dict, deps: Any) -> dict[str, Any]:
    opts = job.get("options") or {}
    cache = for_step(job, deps, "describe")
    return cache.done(describe(job_media(job, deps), provider=cache.vision(
        deps.providers.get("vision")), max_pixels=int(deps.cfg["MAX_IMAGE_PIXELS"]),
        prompt=opts.get("prompt"), detail=opts.get("detail") or "high",
        json_schema=opts.get("json_schema")))
