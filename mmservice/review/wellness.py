"""Reviewer wellness: media blurred until revealed (each reveal audited), exposure limits.

Why exposure limits: a reviewer handed high-severity items all shift is harmed by it. The claim
script (`leases`) counts the high-severity items each reviewer was handed in the last hour and,
at the tenant's cap (`MMS_REVIEW_EXPOSURE_HIGH_PER_HOUR`), offers milder items only; the answer
says so (`exposure.capped`) and the page suggests a break.
"""
from __future__ import annotations

import time
from typing import Any

from mmservice.review import items, leases


def exposure(ctx: Any, reviewer: str) -> dict:
    key = ctx.k("exposure", reviewer)
    now_ms = int(time.time() * 1000)
    ctx.r.zremrangebyscore(key, "-inf", now_ms - leases.HOUR_MS)
    high = int(ctx.r.zcard(key))
    cap = int(ctx.cfg["REVIEW_EXPOSURE_HIGH_PER_HOUR"])
    return {"high_last_hour": high, "cap": cap, "capped": bool(cap and high >= cap)}


def reveal(ctx: Any, item_id: str, reviewer: str, what: str = "media") -> dict:
    """A reviewer unblurred an item's media: appended to the audit log."""
    item = items.get(ctx, item_id)  # another tenant's: 404
    ctx.audit({"type": "review.reveal", "actor": reviewer, "item": item_id,
               "jobs": item.get("jobs"), "what": what})
    return {"item_id": item_id, "revealed": what}
