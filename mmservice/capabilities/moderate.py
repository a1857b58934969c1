"""The `moderate` step: judge the job's text, image and/or transcript and apply the policy."""
from __future__ import annotations

from typing import Any

from mmservice.jobs.media_source import job_media
from mmservice.policy import verdict
from mmservice.providers.base import RawModeration


def run(job: dict, deps) -> dict[str, Any]:
    from mmservice.media.text_split import split_for_moderation
    from mmservice.providers.batching import batched

    provider = deps.providers.get("moderation")
    text_provider = batched(provider, deps.cfg, backlog=deps.extra.get("moderation_backlog"))
    max_chars = int(deps.cfg["MODERATION_MAX_CHARS"])
    raws: list[RawModeration] = []
    inputs: list[str] = []
    texts: list[str] = []
    kind = job["input"]["kind"]
    if kind == "audio":
        transcript = (job["results"].get("transcription") or {}).get("text", "")
        inputs.append("transcript")
        texts = split_for_moderation(transcript, max_chars) if transcript.strip() else []
    if job.get("_text"):
        inputs.append("text")
        texts += split_for_moderation(job["_text"], max_chars)
    if kind == "image":
        from mmservice.media.images import prepare_for_moderation

        image, mime = prepare_for_moderation(job_media(job, deps), job["input"].get("mime"))
        inputs.append("image")
        raws.append(provider.moderate_image(image, mime))
    if texts:
        raws.extend(text_provider.moderate_texts(texts))
    result = verdict(raws, cfg=deps.cfg, overrides=(job.get("options") or {}).get("thresholds"),
                     inputs=inputs)
    if len(texts) > 1:
        result["pieces"] = len(texts)
    if not raws:
        result["note"] = "nothing to judge (empty transcript)"
    return result
