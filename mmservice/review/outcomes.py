"""What a final decision does outside the item: the jobs' `final_verdict`, the webhook event.

Why apart from `decisions`: a decision, an appeal's decision and an admin's bulk decision all end
the same way, and the platform learns of each through the same event system (`review.decided`,
`appeal.decided`) as it learns of a settled job, signed and retried the same way.
"""
from __future__ import annotations

import logging
from typing import Any

from mmservice.errors import NotFound
from mmservice.jobs.store import now_iso
from mmservice.review import items
from mmservice.webhooks.emit import Event, emit

log = logging.getLogger("mmservice.review")


def set_final_verdicts(ctx: Any, item: dict) -> None:
    final = item.get("final") or {}
    value = {"verdict": final.get("verdict"), "decided_by": "review", "review_item": item["id"],
             "decision": final.get("decision"), "at": final.get("at") or now_iso()}
    for job_id in item.get("jobs") or []:
        def put(j: dict) -> None:
            j["final_verdict"] = value
        try:
            ctx.deps.store.update(ctx.tenant, job_id, put)
        except NotFound:
            continue  # the job expired or was deleted: the item keeps the verdict


def _webhook_url(ctx: Any, item: dict) -> str | None:
    for job_id in item.get("jobs") or []:
        try:
            url = ctx.deps.store.get(ctx.tenant, job_id).get("webhook_url")
        except NotFound:
            continue
        if url:
            return str(url)
    return None


def announce(ctx: Any, item: dict, event_type: str, decision: dict) -> str | None:
    """`review.decided` / `appeal.decided`: `data` is the item, its decision and the verdict."""
    data = {"item": items.public(item), "decision": decision, "final_verdict": item.get("final"),
            "job_ids": list(item.get("jobs") or [])}
    return emit(ctx.deps, Event(event_type, ctx.tenant, item["id"], data,
                                url=_webhook_url(ctx, item), refs={"review_item": item["id"]}))
