"""What a reviewer does with a lease, shared by the API (`/v1/review`) and the page (`/review`):
take the next item, renew, release, skip. Each is appended to the audit log.
"""
from __future__ import annotations

from typing import Any

from mmservice.errors import Conflict, Forbidden, NotFound
from mmservice.review import items, leases, wellness


def view(ctx: Any, item: dict) -> dict:
    """An item as a reviewer sees it: the record, and who holds it (never the token)."""
    out = items.public(item)
    lease = leases.current(ctx, item["id"])
    out["lease"] = {"reviewer": lease["reviewer"], "expires_in_s": lease["expires_in_s"]} \
        if lease else None
    return out


def next_item(ctx: Any, queue: str, reviewer: str) -> dict:
    """The best item of `queue` this reviewer may take, leased to them (`item` None: nothing
    for them now). An item whose record expired (`MMS_REVIEW_ITEM_TTL_S`) leaves the queue."""
    for _ in range(50):
        c = leases.claim(ctx, queue, reviewer)
        expo = {"high_last_hour": c.high_last_hour,
                "cap": int(ctx.cfg["REVIEW_EXPOSURE_HIGH_PER_HOUR"]), "capped": c.capped}
        if c.item_id is None:
            return {"item": None, "exposure": expo}
        try:
            item = items.get(ctx, c.item_id)
        except NotFound:
            leases.consume_any(ctx, c.item_id, queue)
            continue
        return _leased(ctx, queue, reviewer, item, c, expo)
    return {"item": None, "exposure": expo}


def _leased(ctx: Any, queue: str, reviewer: str, item: dict, c: Any, expo: dict) -> dict:
    lease_s = int(ctx.cfg["REVIEW_LEASE_S"])
    ctx.audit({"type": "review.lease", "actor": reviewer, "item": c.item_id,
               "jobs": item.get("jobs"), "queue": queue, "fence": c.fence,
               "previous_expired": c.previous_expired})
    out = items.public(item)
    out["lease"] = {"token": c.token, "fence": c.fence, "reviewer": reviewer,
                    "expires_in_s": lease_s, "ttl_s": lease_s}
    out["lease_token"] = c.token
    out["exposure"] = expo
    return {"item": out, "exposure": expo}


def renew(ctx: Any, item_id: str, token: str) -> float:
    items.get(ctx, item_id)
    if not leases.renew(ctx, item_id, token):
        raise Conflict("the lease token is not this item's current lease", code="lease_stale",
                       field="lease_token")
    return float(ctx.cfg["REVIEW_LEASE_S"])


def release(ctx: Any, item_id: str, token: str | None, actor: str, is_admin: bool) -> None:
    """The holder (with the token) or an admin (without: audited as such) ends a lease."""
    item = items.get(ctx, item_id)
    if not token and not is_admin:
        raise Forbidden("only the lease holder (with its token) or an admin key may release "
                        "an item", details={"scope": "admin"})
    if not leases.release(ctx, item_id, token):
        raise Conflict("the lease token is not this item's current lease", code="lease_stale",
                       field="lease_token")
    ctx.audit({"type": "review.release", "actor": actor, "item": item_id,
               "jobs": item.get("jobs"), "by_admin": not token})


def skip(ctx: Any, item_id: str, token: str, reviewer: str) -> None:
    """Give the item back and never be offered it again."""
    item = items.get(ctx, item_id)
    if not leases.release(ctx, item_id, token):
        raise Conflict("the lease token is not this item's current lease", code="lease_stale",
                       field="lease_token")
    leases.skip(ctx, item_id, reviewer)
    ctx.audit({"type": "review.skip", "actor": reviewer, "item": item_id,
               "jobs": item.get("jobs")})


def exposure(ctx: Any, reviewer: str) -> dict:
    return wellness.exposure(ctx, reviewer)
