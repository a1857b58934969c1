"""Bulk decisions by filter, for admins: first a count, then the same filter with that count.

Why the count round trip: "reject everything matching list item X" is the right tool after a
raid and a disaster after a typo; the caller sees how many items the filter takes and confirms
that number, and items that arrived in between make the counts differ (409: look again).
"""
from __future__ import annotations

from typing import Any

from mmservice.errors import Conflict, Invalid
from mmservice.review import decisions, items, leases

FILTERS = ("queue", "list", "list_item", "category", "source", "severity")


def _matches(item: dict, f: dict) -> bool:
    if f.get("queue") and item["queue"] != f["queue"]:
        return False
    if f.get("source") and f["source"] not in item.get("sources", []):
        return False
    if f.get("severity") and item["severity"] != f["severity"]:
        return False
    if f.get("category") and f["category"] not in (item.get("flagged_categories") or []) \
            and item.get("top_category") != f["category"]:
        return False
    hits = item.get("matched_lists") or []
    if f.get("list") and not any(h.get("list") == f["list"] for h in hits):
        return False
    if f.get("list_item") and not any(h.get("item_id") == f["list_item"] for h in hits):
        return False
    return True


def run(ctx: Any, body: dict, actor: str) -> dict:
    f = body.get("filter") or {}
    if not any(f.get(k) for k in FILTERS):
        raise Invalid(f"name at least one filter ({', '.join(FILTERS)})", code="empty_filter",
                      field="filter")
    found = [i for i in items.open_items(ctx) if _matches(i, f)]
    confirm = body.get("confirm_count")
    if confirm is None:
        return {"count": len(found), "applied": 0, "item_ids": [i["id"] for i in found][:100]}
    if int(confirm) != len(found):
        raise Conflict(f"the filter now takes {len(found)} items, not {confirm}: count again",
                       code="count_changed", details={"count": len(found)})
    done = []
    for it in found:
        if it["stage"] == "appeal":
            continue  # an appeal is decided one by one
        leases.consume_any(ctx, it["id"], it["queue"])
        decisions.apply(ctx, it["id"], {"decision": body["decision"],
                                        "reason": body.get("reason") or "bulk",
                                        "categories": body.get("categories") or []},
                        actor, token="", via="bulk")
        done.append(it["id"])
    ctx.audit({"type": "review.bulk", "actor": actor, "filter": f, "decision": body["decision"],
               "count": len(done), "items": done[:500]})
    return {"count": len(found), "applied": len(done), "item_ids": done[:100]}
