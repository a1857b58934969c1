"""Review items: one JSON record per item, and its place in its queue.

Why one open item per content: the same picture reported twenty times is one decision, not
twenty; a new report or job with the same SHA-256 joins the open item's history and raises its
priority. The `open` hash (content sha256 -> item id) is claimed with HSETNX, so two jobs of the
same content racing each other still make one item.

An item's place in a queue (`q:<name>` scored by priority, `qage:<name>` by creation, its
severity in `sev`) is written in the same transaction as the record that says it is there.
"""
from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

from mmservice.errors import NotFound
from mmservice.jobs.store import now_iso
from mmservice.records import RecordMissing, RedisRecords
from mmservice.review import priority, routing

PUBLIC = ("id", "status", "stage", "queue", "source", "sources", "priority", "severity",
          "content", "jobs", "category_scores", "flagged_categories", "top_category",
          "top_score", "matched_lists", "policy", "verdict", "reports", "report_count",
          "history", "decisions", "final", "appeal", "sample", "created_at", "updated_at")
PRIOR_KEEP = 50  # earlier items of the same content shown beside a new one
TEXT_KEEP = 20_000  # characters of text kept on the item (the job may expire first)


def new_item_id() -> str:
    return f"rev_{int(time.time() * 1000):012x}{secrets.token_hex(8)}"


def public(item: dict) -> dict:
    return {k: item[k] for k in PUBLIC if k in item}


def _key(ctx: Any, item_id: str) -> str:
    return ctx.k("item", item_id)


def get(ctx: Any, item_id: str) -> dict:
    try:
        return RedisRecords(ctx.r).get(_key(ctx, item_id))
    except RecordMissing:
        raise NotFound(f"no review item {item_id!r}", code="review_item_not_found") from None


def get_many(ctx: Any, ids: list[str]) -> list[dict | None]:
    return RedisRecords(ctx.r).get_many([_key(ctx, i) for i in ids])


def update(ctx: Any, item_id: str, fn: Callable[[dict], Any],
           also: Callable[[Any, dict, Any], None] | None = None) -> tuple[dict, Any]:
    try:
        rec, result, _ = RedisRecords(ctx.r).update(_key(ctx, item_id), fn,
                                                    in_same_transaction=also)
    except RecordMissing:
        raise NotFound(f"no review item {item_id!r}", code="review_item_not_found") from None
    return rec, result


def score(item: dict) -> float:
    return priority.points(item["severity"], float(item.get("top_score") or 0.0),
                           int(item.get("report_count") or 0), float(item["_created_ts"]))


def place(pipe: Any, ctx: Any, item: dict) -> None:
    """Queue the item in `item['queue']` (inside the record's transaction)."""
    q = item["queue"]
    item["priority"] = round(score(item), 3)
    pipe.zadd(ctx.k("q", q), {item["id"]: item["priority"]})
    pipe.zadd(ctx.k("qage", q), {item["id"]: item["_created_ts"]}, nx=True)
    pipe.sadd(ctx.k("queues"), q)
    pipe.hset(ctx.k("sev"), item["id"], priority.SEVERITY_LEVELS.get(item["severity"], 1))


def unplace(pipe: Any, ctx: Any, item_id: str, queue: str) -> None:
    pipe.zrem(ctx.k("q", queue), item_id)
    pipe.zrem(ctx.k("qage", queue), item_id)


def history(item: dict, event: str, **fields: Any) -> None:
    item.setdefault("history", []).append({"at": now_iso(), "event": event, **fields})
    item["history"] = item["history"][-200:]
    item["updated_at"] = now_iso()


def build(ctx: Any, *, job: dict, result: dict | None, source: str, sha: str,
          reports: list[dict]) -> dict:
    """A new item from a job and its moderation result (None: not moderated yet)."""
    result = result or {}
    scores = dict(result.get("category_scores") or {})
    top_cat = max(scores, key=lambda c: scores[c]) if scores else None
    top = float(scores[top_cat]) if top_cat else 0.0
    ts = time.time()
    inp = job.get("input") or {}
    content: dict[str, Any] = {"sha256": sha, "kind": inp.get("kind", "text"),
                               "mime": inp.get("mime"), "job_id": job["id"]}
    if job.get("_text"):
        content["text"] = job["_text"][:TEXT_KEEP]
    transcript = ((job.get("results") or {}).get("transcription") or {}).get("text")
    if transcript:
        content["transcript"] = transcript[:TEXT_KEEP]
    item: dict[str, Any] = {
        "id": new_item_id(), "tenant": ctx.tenant, "status": "open", "stage": "review",
        "source": source, "sources": [source],
        "severity": priority.severity(top, float(ctx.cfg["REVIEW_HIGH_SEVERITY_SCORE"]),
                                      result.get("verdict")),
        "content": content, "jobs": [job["id"]], "category_scores": scores,
        "flagged_categories": sorted(c for c, on in (result.get("categories") or {}).items()
                                     if on),
        "top_category": top_cat, "top_score": round(top, 6),
        "matched_lists": list(result.get("matched_lists") or []),
        "policy": result.get("policy"), "verdict": result.get("verdict"),
        "reports": reports, "report_count": len(reports), "decisions": [], "final": None,
        "appeal": None, "sample": source == "sample",
        "created_at": now_iso(ts), "updated_at": now_iso(ts), "_created_ts": ts,
    }
    item["queue"] = routing.route(routing.load(ctx), item)
    item["priority"] = round(score(item), 3)
    history(item, "created", source=source, job_id=job["id"])
    return item


def create(ctx: Any, item: dict) -> None:
    sha = item["content"]["sha256"]

    def more(pipe: Any) -> None:
        pipe.zadd(ctx.k("items"), {item["id"]: item["_created_ts"]})
        pipe.lpush(ctx.k("content", sha), item["id"])  # every item of this content, newest first
        pipe.ltrim(ctx.k("content", sha), 0, PRIOR_KEEP - 1)
        pipe.expire(ctx.k("content", sha), int(ctx.cfg["REVIEW_ITEM_TTL_S"]))
        place(pipe, ctx, item)
    RedisRecords(ctx.r).create(_key(ctx, item["id"]), item, int(ctx.cfg["REVIEW_ITEM_TTL_S"]),
                               more)


def open_items(ctx: Any, limit: int = 5000) -> list[dict]:
    """The tenant's open items, newest first (bulk actions' filter, the item listing)."""
    ids = [i.decode() for i in ctx.r.zrevrange(ctx.k("items"), 0, limit - 1)]
    return [i for i in get_many(ctx, ids) if i is not None and i["status"] == "open"]


def prior_decisions(ctx: Any, item: dict) -> list[dict]:
    """Final decisions on earlier items of the same content (newest first): what reviewers
    decided the last times this content came up."""
    sha = (item.get("content") or {}).get("sha256")
    if not sha:
        return []
    ids = [i.decode() for i in ctx.r.lrange(ctx.k("content", sha), 0, PRIOR_KEEP - 1)]
    out = []
    for other in get_many(ctx, [i for i in ids if i != item["id"]]):
        if other is not None and other.get("final"):
            out.append({"item_id": other["id"], **other["final"]})
    return out
