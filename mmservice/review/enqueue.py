"""The one way into the queue: a moderation verdict (or a report) becomes a review item.

`from_verdict(deps, job, result)` is called by the moderate step for every moderation result
(and by the OpenAI-compatible facade for its own): it appends the verdict to the audit log, and
queues the content when the verdict is `review`, when users reported it while it was being
moderated, when an open item for the same content exists (the job joins it), or when the
tenant samples automatic verdicts (`MMS_REVIEW_SAMPLE_RATE`). Idempotent: a step run twice adds
its job to the item once.

`job` needs `id`, `tenant`, `input` (`kind`, `sha256`); `_text`, `results.transcription` and
`webhook_url` are used when present.
"""
from __future__ import annotations

import json
import random
from typing import Any

from mmservice import audit_staging
from mmservice.errors import NotFound
from mmservice.review import items
from mmservice.review.context import Ctx

JOIN_TRIES = 20


def content_key(job: dict) -> str:
    """The dedupe key of a job's content: its SHA-256 (a fetched image URL has none yet: then
    the job is its own content)."""
    return (job.get("input") or {}).get("sha256") or f"job:{job['id']}"


def from_verdict(deps: Any, job: dict, result: dict) -> dict | None:
    """-> the item the job was queued in (None: not queued)."""
    pipe = deps.redis.pipeline(transaction=True)
    read = queue_reads(pipe, deps, job, result)
    return from_reads(deps, job, result, read(pipe.execute()))


def queue_reads(pipe: Any, deps: Any, job: dict, result: dict) -> Any:
    """Queue what a verdict's hook reads and writes first into `pipe` (a transaction the caller
    sends: its own, or the one that stores a job settled at intake, `cache.at_intake`): the
    open item of the content, its user reports (taken), and the verdict's audit entry, staged
    (`audit_staging`: no round trip and no race for the chain's head per verdict). Returns a
    function that picks (open item id, reports) out of the transaction's results."""
    ctx = Ctx(deps, job["tenant"])
    sha = content_key(job)
    first = len(pipe.command_stack)
    pipe.hget(ctx.k("open"), sha)
    pipe.lrange(ctx.k("reported", sha), 0, -1)
    pipe.delete(ctx.k("reported", sha))
    audit_staging.stage(pipe, ctx.keys, ctx.tenant, {
        "type": "moderation.verdict", "actor": "pipeline", "job": job["id"],
        "verdict": result.get("verdict"), "decided_by": result.get("decided_by", "policy"),
        "policy": result.get("policy"), "sha256": sha})
    return lambda results: (results[first], results[first + 1])


def from_reads(deps: Any, job: dict, result: dict, read: tuple[Any, list]) -> dict | None:
    """The rest of the hook, on what `queue_reads` read: queue the content when the verdict
    says `review`, users reported it, it already has an open item, or it is sampled."""
    ctx = Ctx(deps, job["tenant"])
    sha = content_key(job)
    verdict = result.get("verdict")
    open_id, raw_reports = read
    reports = [json.loads(x) for x in raw_reports]
    source = None
    if reports:
        source = "report"
    elif verdict == "review":
        source = "verdict"
    elif open_id:
        source = "job"
    elif verdict in ("allow", "block") and \
            random.random() < float(ctx.cfg["REVIEW_SAMPLE_RATE"]):  # noqa: S311 - sampling
        source = "sample"
    if source is None:
        return None
    return create_or_join(ctx, job=job, result=result, source=source, sha=sha, reports=reports)


def create_or_join(ctx: Ctx, *, job: dict, result: dict | None, source: str, sha: str,
                   reports: list[dict]) -> dict:
    for _ in range(JOIN_TRIES):
        item = items.build(ctx, job=job, result=result, source=source, sha=sha, reports=reports)
        if ctx.r.hsetnx(ctx.k("open"), sha, item["id"]):
            items.create(ctx, item)
            ctx.audit({"type": "review.item_created", "actor": "pipeline", "item": item["id"],
                       "jobs": [job["id"]], "source": source, "queue": item["queue"],
                       "severity": item["severity"]})
            return item
        raw = ctx.r.hget(ctx.k("open"), sha)
        existing = raw.decode() if isinstance(raw, bytes) else str(raw or "")
        if not existing:
            continue
        try:
            return join(ctx, existing, job=job, source=source, reports=reports, result=result)
        except NotFound:
            # Claimed a moment ago and not written yet, or expired: look again.
            import time

            time.sleep(0.05)
            if not ctx.r.exists(ctx.k("item", existing)):
                ctx.r.hdel(ctx.k("open"), sha)
    raise RuntimeError(f"review item for {sha}: could not create or join")


def join(ctx: Ctx, item_id: str, *, job: dict, source: str, reports: list[dict],
         result: dict | None = None) -> dict:
    """Add a job and/or reports to an open item; its priority rises with the reports. An item
    opened by a report before its job was moderated takes the scores when they come."""
    added: dict[str, Any] = {}
    scored = items.build(ctx, job=job, result=result, source=source, sha="", reports=[]) \
        if result and result.get("category_scores") else None

    def change(it: dict) -> None:
        added.clear()
        if scored is not None and not it.get("category_scores"):
            for k in ("category_scores", "flagged_categories", "top_category", "top_score",
                      "severity", "matched_lists", "policy", "verdict"):
                it[k] = scored[k]
            added["scores"] = True
        if job["id"] and job["id"] not in it["jobs"]:
            it["jobs"].append(job["id"])
            added["job"] = job["id"]
        seen = {(r.get("id")) for r in it.get("reports") or []}
        new = [r for r in reports if r.get("id") not in seen]
        if new:
            it["reports"] = (it.get("reports") or []) + new
            it["report_count"] = len(it["reports"])
            added["reports"] = len(new)
        if added.get("job") or added.get("reports"):
            it["sources"] = list(dict.fromkeys([*it.get("sources", []), source]))
            items.history(it, "joined", source=source, job_id=job["id"],
                          reports=len(new))
        if added:
            it["priority"] = round(items.score(it), 3)

    def also(pipe: Any, it: dict, _r: Any) -> None:
        if added and it["status"] == "open":
            items.place(pipe, ctx, it)

    item, _ = items.update(ctx, item_id, change, also)
    if added:
        ctx.audit({"type": "review.item_joined", "actor": "pipeline", "item": item_id,
                   "jobs": [job["id"]], "source": source, "reports": added.get("reports", 0)})
    return item
