"""The `moderate` step: the job's text, image and/or transcript through `capabilities.moderate`
under the job's policy (the version intake resolved, with `options.thresholds` on top), then
every shadow policy of the tenant re-decides the same scores beside it.

Where list matching plugs in (issue 15, lists step): before the model call, match the content
against `live.lists`; when an allow/block list hits and `live.halt_on_match`, answer without
calling the model, with `decided_by: "list"` and `matched_lists`; otherwise run the model and
let a `review` list hit (or a non-halting hit) raise the policy's verdict.
"""
from __future__ import annotations

from typing import Any

from mmservice import metrics, policies
from mmservice.capabilities.moderate import Content, moderate
from mmservice.jobs.media_source import job_media


def run(job: dict, deps: Any) -> dict[str, Any]:
    kind = job["input"]["kind"]
    content = Content(text=job.get("_text"))
    if kind == "audio":
        content.transcript = (job["results"].get("transcription") or {}).get("text", "")
    if kind == "image":
        content.image, content.image_mime = job_media(job, deps), job["input"].get("mime")
    cfg = deps.cfg_for(job["tenant"])  # the tenant's settings: the builtin policy's lines
    store = getattr(deps, "policies", None)
    live = policies.for_job(store, job, cfg)
    result = moderate(content, provider=deps.providers.get("moderation"),
                      text_provider=deps.providers.text_moderation(deps.moderation_backlog),
                      policy=live, max_chars=int(deps.cfg["MODERATION_MAX_CHARS"]))
    shadow = policies.shadow_verdicts(store, job, cfg, result)
    if shadow:
        result["shadow"] = shadow
        rec = metrics.Recorder(deps.redis, deps.store.keys.prefix)
        for s in shadow:
            rec.shadow_verdict(job["tenant"], s["policy"]["name"],
                               agree=s["verdict"] == result["verdict"])
    return result
