"""The `moderate` step: the job's text, image and/or transcript through `capabilities.moderate`
under the job's thresholds (its tenant's settings, then its `options.thresholds`). Measurements
come from the result cache when the same content was measured before (`mmservice.cache`); the
thresholds decide anew either way."""
from __future__ import annotations

from typing import Any

from mmservice.cache.steps import for_step
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
    cache = for_step(job, deps, "moderate")
    provider, text_provider = cache.moderation(
        deps.providers.get("moderation"), deps.providers.text_moderation(deps.moderation_backlog))
    return cache.done(moderate(content, provider=provider, text_provider=text_provider,
                               policy=ThresholdPolicy(deps.cfg_for(job["tenant"]),  # its lines
                                                      (job.get("options") or {}).get("thresholds")),
                               max_chars=int(deps.cfg["MODERATION_MAX_CHARS"])))
