"""Appeals: a decided item reopened, once, within the tenant's window, in the appeals queue.

Why the original reviewer is excluded: an appeal asks for a second pair of eyes; the claim script
never offers the item to the reviewer whose decision is appealed (`exclude`).
"""
from __future__ import annotations

import time
from typing import Any

from mmservice.errors import Conflict
from mmservice.jobs.store import now_iso
from mmservice.review import items, routing


def appeal(ctx: Any, item_id: str, body: dict, actor: str) -> dict:
    window = int(ctx.cfg["REVIEW_APPEAL_WINDOW_S"])
    doc = routing.load(ctx)

    def change(it: dict) -> None:
        if it["status"] != "decided" or it["stage"] != "review":
            if it.get("appeal"):
                raise Conflict("this decision was already appealed", code="already_appealed")
            raise Conflict(f"item {item_id} has no decision to appeal yet", code="not_decided")
        if time.time() - float(it.get("_decided_ts") or 0) > window:
            raise Conflict(f"the appeal window ({window} s) has closed",
                           code="appeal_window_closed")
        it["appeal"] = {"reason": body.get("reason") or "", "appellant": body.get("appellant")
                        or "", "at": now_iso(), "actor": actor,
                        "decision_appealed": it["final"]}
        it["stage"], it["status"], it["source"] = "appeal", "open", "appeal"
        it["sources"] = list(dict.fromkeys([*it.get("sources", []), "appeal"]))
        it["queue"] = routing.route(doc, it)
        items.history(it, "appealed", actor=actor)

    def also(pipe: Any, it: dict, _r: Any) -> None:
        items.place(pipe, ctx, it)
        pipe.hset(ctx.k("exclude"), it["id"], it["final"]["reviewer"])
        pipe.hincrby(ctx.k("stats"), "appeals", 1)

    item, _ = items.update(ctx, item_id, change, also)
    ctx.audit({"type": "review.appeal", "actor": actor, "item": item_id,
               "jobs": item.get("jobs"), "queue": item["queue"],
               "reason": item["appeal"]["reason"]})
    return item
