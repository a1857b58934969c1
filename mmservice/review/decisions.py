"""A reviewer's decision on a leased item.

`approve` | `reject` | `escalate` (to another queue) on a first review; `uphold` | `overturn` on
an appeal. Why the token and not just the reviewer: a reviewer whose lease expired while they
read must not overwrite the decision of the reviewer who got the item next. The decision is
idempotent on the token: the same token and decision again answers the first decision (a
retried submit), the same token with another decision is a 409, a token that is not the
item's current lease is a 409 `lease_stale`.

Sampled items (`source: sample`) are decided twice by two reviewers; the second decision is the
final one, and whether the two agreed feeds the agreement metric.
"""
from __future__ import annotations

import time
from typing import Any

from mmservice.errors import Conflict, Invalid
from mmservice.jobs.store import now_iso
from mmservice.review import items, leases, outcomes, routing

FIRST = ("approve", "reject", "escalate")
APPEAL = ("uphold", "overturn", "escalate")
VERDICT = {"approve": "allow", "reject": "block"}
TTD_KEEP = 1000  # decision times kept for the p50/p95


def _same(prior: dict, body: dict) -> bool:
    return prior["decision"] == body["decision"]


def _check(ctx: Any, item: dict, body: dict) -> None:
    allowed = APPEAL if item["stage"] == "appeal" else FIRST
    if item["status"] != "open":
        raise Conflict(f"item {item['id']} is {item['status']}", code="review_item_closed")
    if body["decision"] not in allowed:
        raise Invalid(f"an item in {item['stage']} takes {', '.join(allowed)}",
                      code="invalid_decision", field="decision")
    settings = routing.queue_settings(routing.load(ctx), item["queue"], ctx.cfg)
    if settings["reason_required"] and not (body.get("reason") or "").strip():
        raise Invalid(f"queue {item['queue']!r} requires a reason", code="reason_required",
                      field="reason")
    if body["decision"] == "escalate" and body.get("queue", routing.ESCALATIONS_QUEUE) == \
            item["queue"]:
        raise Invalid("escalate to another queue than the item's", code="same_queue",
                      field="queue")


def _prior(item: dict, token: str, body: dict) -> dict | None:
    for d in item.get("decisions") or []:
        if token and d.get("token") == token:
            if not _same(d, body):
                raise Conflict(f"this lease already decided {d['decision']!r}",
                               code="decision_conflict", details={"decision": d["decision"]})
            return d
    return None


def decide(ctx: Any, item_id: str, body: dict, reviewer: str) -> tuple[dict, dict, bool]:
    """-> (item, the decision, made now?). `body`: decision, lease_token, categories, reason,
    note, queue (escalate)."""
    token = body.get("lease_token") or ""
    item = items.get(ctx, item_id)
    prior = _prior(item, token, body)
    if prior is not None:
        return item, prior, False
    _check(ctx, item, body)
    if not leases.consume(ctx, item_id, token, item["queue"]):
        item = items.get(ctx, item_id)  # a concurrent retry of the same submit may have won
        prior = _prior(item, token, body)
        if prior is not None:
            return item, prior, False
        raise Conflict("the lease token is not this item's current lease (expired, released, "
                       "or another reviewer's): claim the item again", code="lease_stale",
                       field="lease_token")
    return apply(ctx, item_id, body, reviewer, token)


def apply(ctx: Any, item_id: str, body: dict, reviewer: str, token: str,
          via: str = "lease") -> tuple[dict, dict, bool]:
    """Record a decision whose lease is already consumed (or an admin's bulk decision)."""
    now = time.time()
    decision = {"decision": body["decision"], "token": token, "reviewer": reviewer,
                "categories": list(body.get("categories") or []),
                "reason": body.get("reason") or "", "note": body.get("note") or "",
                "at": now_iso(now), "via": via}
    out: dict[str, Any] = {}

    def change(it: dict) -> None:
        _check(ctx, it, body)
        decision["stage"], decision["queue"] = it["stage"], it["queue"]
        it.setdefault("decisions", []).append(decision)
        out.clear()
        kind = body["decision"]
        if kind == "escalate":
            out["requeue_from"] = it["queue"]
            it["queue"] = body.get("queue") or routing.ESCALATIONS_QUEUE
            items.history(it, "escalated", to=it["queue"], reviewer=reviewer)
            return
        firsts = [d for d in it["decisions"] if d["stage"] == "review"
                  and d["decision"] in VERDICT]
        if it["stage"] == "review" and it.get("sample") and len(firsts) == 1 and via != "bulk":
            out["requeue_from"] = it["queue"]  # the second, independent review
            out["exclude"] = reviewer
            items.history(it, "first_of_two", decision=kind, reviewer=reviewer)
            return
        verdict: str | None
        if it["stage"] == "review":
            verdict = VERDICT[kind]
            if len(firsts) == 2:
                out["agreement"] = firsts[0]["decision"] == firsts[1]["decision"]
            out["event"] = "review.decided"
        else:
            before = (it.get("final") or {}).get("verdict")
            verdict = before if kind == "uphold" else ("allow" if before == "block" else "block")
            out["event"] = "appeal.decided"
            out["overturned"] = kind == "overturn"
        it["status"] = "decided"
        it["final"] = {"verdict": verdict, "decision": kind, "stage": it["stage"],
                       "reviewer": reviewer, "at": decision["at"]}
        it["_decided_ts"] = now
        items.history(it, "decided", decision=kind, reviewer=reviewer)

    def also(pipe: Any, it: dict, _r: Any) -> None:
        if "requeue_from" in out:
            items.unplace(pipe, ctx, it["id"], out["requeue_from"])
            items.place(pipe, ctx, it)
            if "exclude" in out:
                pipe.hset(ctx.k("exclude"), it["id"], out["exclude"])
            return
        items.unplace(pipe, ctx, it["id"], it["queue"])
        pipe.hdel(ctx.k("exclude"), it["id"])
        if it["stage"] == "review" and it["content"].get("sha256"):
            pipe.hdel(ctx.k("open"), it["content"]["sha256"])  # new content makes a new item
        stats = ctx.k("stats")
        pipe.hincrby(stats, "decisions", 1)
        if "agreement" in out:
            pipe.hincrby(stats, "double_reviewed", 1)
            pipe.hincrby(stats, "agreed", int(out["agreement"]))
        if out.get("event") == "appeal.decided":
            pipe.hincrby(stats, "appeals_decided", 1)
            pipe.hincrby(stats, "overturned", int(out["overturned"]))
        else:
            pipe.lpush(ctx.k("ttd"), round(now - float(it["_created_ts"]), 3))
            pipe.ltrim(ctx.k("ttd"), 0, TTD_KEEP - 1)

    item, _ = items.update(ctx, item_id, change, also)
    ctx.audit({"type": "review.decision", "actor": reviewer, "item": item_id,
               "jobs": item.get("jobs"), "decision": body["decision"], "via": via,
               "stage": decision["stage"], "queue": decision["queue"],
               "categories": decision["categories"], "reason": decision["reason"],
               "fence": token.partition(".")[0], "final": item.get("final")
               if out.get("event") else None})
    if out.get("event"):
        outcomes.set_final_verdicts(ctx, item)
        outcomes.announce(ctx, item, out["event"], _public_decision(decision))
    return item, decision, True


def _public_decision(d: dict) -> dict:
    return {k: v for k, v in d.items() if k != "token"}


def public_decision(d: dict) -> dict:
    return _public_decision(d)
