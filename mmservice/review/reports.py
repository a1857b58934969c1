"""User reports: the way a platform's users flag content (`POST /v1/reports`).

A report names a job (its content is known: the report joins the content's open item or opens
one) or sends the content itself. Content never seen is moderated first, then queued: the report
waits under the content's SHA-256 (`reported:<sha>`) while a job moderates it, and the job's
verdict hook (`enqueue.from_verdict`) picks it up and queues the item whatever the verdict.
"""
from __future__ import annotations

import hashlib
import json
import secrets

from mmservice.jobs import intake
from mmservice.jobs.store import now_iso
from mmservice.review import enqueue
from mmservice.review.context import Ctx

PENDING_TTL_S = 86400


def submit(ctx: Ctx, body: dict, actor: str) -> dict:
    """-> {report, item_id?, job_id?, status: queued|moderating}."""
    report = {"id": f"rpt_{secrets.token_hex(10)}", "reporter_id": body["reporter_id"],
              "reason": body["reason"], "at": now_iso()}
    if body.get("job_id"):
        job = ctx.deps.store.get(ctx.tenant, body["job_id"])  # another tenant's: 404
        report["job_id"] = job["id"]
        result = (job.get("results") or {}).get("moderation")
        item = enqueue.create_or_join(ctx, job=job, result=result, source="report",
                                      sha=enqueue.content_key(job), reports=[report])
        out = {"report": report, "status": "queued", "item_id": item["id"], "job_id": job["id"]}
    else:
        text = body["text"]
        sha = hashlib.sha256(text.encode()).hexdigest()
        open_id = ctx.r.hget(ctx.k("open"), sha)
        if open_id:
            job = {"id": "", "tenant": ctx.tenant, "input": {"kind": "text", "sha256": sha}}
            item = enqueue.join(ctx, open_id.decode() if isinstance(open_id, bytes)
                                else str(open_id), job=job, source="report",
                                reports=[report])
            out = {"report": report, "status": "queued", "item_id": item["id"]}
        else:
            pipe = ctx.r.pipeline(transaction=True)
            pipe.rpush(ctx.k("reported", sha), json.dumps(report))
            pipe.expire(ctx.k("reported", sha), PENDING_TTL_S)
            pipe.execute()
            job, _ = intake.submit({"text": text, "metadata": {"report_id": report["id"]}},
                                   None, ctx.deps, tenant=ctx.tenant, idempotency_key=None)
            report["job_id"] = job["id"]
            out = {"report": report, "status": "moderating", "job_id": job["id"]}
    ctx.audit({"type": "report.created", "actor": actor, "report": report["id"],
               "reporter_id": report["reporter_id"], "reason": report["reason"],
               "item": out.get("item_id"), "jobs": [out["job_id"]] if out.get("job_id") else []})
    return out
