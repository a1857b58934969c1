"""The `moderate` step: the job's text, image and/or transcript through `capabilities.moderate`
under the job's policy (the version intake resolved, with `options.thresholds` on top), then
every shadow policy of the tenant re-decides the same scores beside it. Measurements come from
the result cache when the same content was measured before (`mmservice.cache`); the policy
decides anew either way.

List matching (`steps.list_match`): before the model call the content is matched against the
policy's lists; an allow/block hit under `halt_on_match` answers without calling the model
(`decided_by: "list"`, `matched_lists`); otherwise the model runs and the list precedence is
applied on its result.

Every verdict goes to `review.from_verdict`: audited, and queued for people when it says
`review` (or users reported the content, or the tenant samples automatic verdicts).
"""
from __future__ import annotations

import logging
from typing import Any

import redis

from mmservice import metrics, policies, review
from mmservice.cache.steps import StepCache, for_step
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
        if cfg.get("MODERATION_OCR", True) and getattr(deps, "ocr", True):
            content.ocr_text = image_text(job, content.image)
    result = judge(job, deps, content)
    to_review(deps, job, result)
    return result


def to_review(deps: Any, job: dict, result: dict[str, Any]) -> None:
    """The one hook from a verdict into the review queue (`review.from_verdict`): the step calls
    it for every job, the facade for each of its `review` verdicts."""
    try:
        review.from_verdict(deps, job, result)
    except (redis.ConnectionError, redis.TimeoutError):
        raise  # the step is retried; joining the item again is idempotent
    except Exception:  # noqa: BLE001 - a queue bug must not cost the job its result
        logging.getLogger("mmservice.review").exception(
            "review queue hook failed", extra={"job_id": job["id"]})


def judge(job: dict, deps: Any, content: Content, *, batched: bool = True,
          step_cache: StepCache | None = None, text_provider: Any = None) -> dict[str, Any]:
    """`content` judged for `job` (a job record, or the facade's request in the same shape:
    `tenant`, `options`, `input.kind`): its policy, the result cache, its lists, the shadow
    policies. The one place both the moderate step and the OpenAI-compatible facade judge
    content. `batched=False` sends texts straight to the provider (a synchronous caller has
    nobody to share a batch with). `step_cache` and `text_provider` replace the job's cache and
    the texts' provider: intake judges a hit on entries it prefetched, with a text provider that
    refuses to measure (`cache.at_intake`)."""
    cfg = deps.cfg_for(job["tenant"])  # the tenant's settings: the builtin policy's lines
    store = getattr(deps, "policies", None)
    live = policies.for_job(store, job, cfg)
    cache = step_cache if step_cache is not None else for_step(job, deps, "moderate")

    def call_model() -> dict[str, Any]:
        """The measurements (from the cache when known), decided by the policy; the current
        lists are applied around it by `list_match`, on a cache hit too."""
        texts = text_provider
        if texts is None and batched:
            texts = deps.providers.text_moderation(deps.moderation_backlog)
        provider, for_texts = cache.moderation(deps.providers.get("moderation"), texts)
        return moderate(content, provider=provider, text_provider=for_texts, policy=live,
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


# A video is moderated as a fan-out of its keyframes and soundtrack (`steps.video`); every
# other input kind runs `run` above in one call, without a plan being looked up.
def fans_out(job: dict) -> bool:
    return job["input"]["kind"] == "video"


def split_stream(job: dict, deps: Any) -> Any:
    from mmservice.steps import video

    return video.split_stream(job, deps)  # only asked when `fans_out`


def run_part(job: dict, part: dict, deps: Any) -> dict[str, Any]:
    from mmservice.steps import video

    return video.run_part(job, part, deps)


def stitch(job: dict, plan: dict, results: list[dict], deps: Any) -> dict[str, Any]:
    from mmservice.steps import video

    result = video.stitch(job, plan, results, deps)
    to_review(deps, job, result)  # a video's whole verdict, as any job's (its contact sheet shown)
    return result


def cleanup(job: dict, plan: dict, deps: Any) -> None:
    from mmservice.steps import video

    video.cleanup(job, plan, deps)
