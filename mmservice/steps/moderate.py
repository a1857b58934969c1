"""The `moderate` step: the job's text, image and/or transcript through `capabilities.moderate`
under the job's thresholds (its tenant's settings, then its `options.thresholds`)."""
from __future__ import annotations

from typing import Any

from mmservice.capabilities.moderate import Content, moderate
from mmservice.jobs.media_source import job_media
from mmservice.moderation.policy import ThresholdPolicy


def run(job: dict, deps: Any) -> dict[str, Any]:
    kind = job["input"]["kind"]
    content = Content(text=job.get("_text"))
    if kind == "audio":
        content.transcript = (job["results"].get("transcription") or {}).get("text", "")
    if kind == "image":
        content.image, content.image_mime = job_media(job, deps), job["input"].get("mime")
    return moderate(content, provider=deps.providers.get("moderation"),
                    text_provider=deps.providers.text_moderation(deps.moderation_backlog),
                    policy=ThresholdPolicy(deps.cfg_for(job["tenant"]),  # the tenant's lines
                                           (job.get("options") or {}).get("thresholds")),
                    max_chars=int(deps.cfg["MODERATION_MAX_CHARS"]))
