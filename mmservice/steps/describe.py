"""The `describe` step (vision chat) for an image job."""
from __future__ import annotations

from typing import Any

from mmservice.capabilities.describe import describe
from mmservice.jobs.media_source import job_media


def run(job: dict, deps: Any) -> dict[str, Any]:
    opts = job.get("options") or {}
    return describe(job_media(job, deps), provider=deps.providers.get("vision"),
                    max_pixels=int(deps.cfg["MAX_IMAGE_PIXELS"]), prompt=opts.get("prompt"),
                    detail=opts.get("detail") or "high", json_schema=opts.get("json_schema"))
