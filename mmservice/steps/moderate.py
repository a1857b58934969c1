"""The `moderate` step: the job's text, image and/or transcript through `capabilities.moderate`
under the job's policy (the version intake resolved, with `options.thresholds` on top), then
every shadow policy of the tenant re-decides the same scores beside it. Measurements come from
the result cache when the same content was measured before (`mmservice.cache`); the policy
decides anew either way.

List matching (`steps.list_match`): before the model call the content is matched against the
policy's lists; an allow/block hit under `halt_on_match` answers without calling the model
(`decided_by: "list"`, `matched_lists`); otherwise the model runs and the list precedence is
applied on its result.
"""
from __future__ import annotations

from typing import Any

from mmservice import metrics, policies
from mmservice.cache.steps import for_step
from mmservice.capabilities.moderate import Content, moderate
from mmservice.jobs.media_source import job_media
from mmservice.steps import list_match
from mmservice.steps.image_text import image_text


def run(job: dict, deps: Any) -> dict[str, Any]:
    kind = job["input"]["kind"]
    content = Content(text=job.get("_text"))
    if kind == "audio":
        content.transcript = (job["results"].get("transcription") or {}).get("text", "")
    cfg = deps.cfg_for(job["tenant"])  # the tenant's settings: the builtin policy's lines
    if kind == "image":
        content.image, content.image_mime = job_media(job, deps), job["input"].get("mime")
        if cfg.get("MODERATION_OCR", True):
            content.ocr_text = image_text(job, content.image)
    store = getattr(deps, "policies", None)
    live = policies.for_job(store, job, cfg)
    cache = for_step(job, deps, "moderate")

    def call_model() -> dict[str, Any]:
        """The measurements (from the cache when known), decided by the policy; the current
        lists are applied around it by `list_match`, on a cache hit too."""
        provider, text_provider = cache.moderation(
            deps.providers.get("moderation"),
            deps.providers.text_moderation(deps.moderation_backlog))
        return moderate(content, provider=provider, text_provider=text_provider, policy=live,
                        max_chars=int(deps.cfg["MODERATION_MAX_CHARS"]),
                        unread_verdict=cfg.get("UNREAD_LANGUAGE_VERDICT", "review"))

    result = list_match.moderate(job, deps, live, content, call_model)
    shadow = policies.shadow_verdicts(store, job, cfg, result)
    if shadow:
        result["shadow"] = shadow
        rec = metrics.Recorder(deps.redis, deps.store.keys.prefix)
        for s in shadow:
            rec.shadow_verdict(job["tenant"], s["policy"]["name"],
                               agree=s["verdict"] == result["verdict"])
    return cache.done(result)
