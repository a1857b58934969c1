"""What every facade call leaves behind: usage counters, an audit entry, a review item.

Why here and not in each view: the routes differ, the bookkeeping does not. Usage goes through
`accounting.writes_for` (the same counters and `GET /v1/usage` rows as jobs); the audit entry
goes on the tenant's hash chain (`mmservice.audit`, appended in batches off the request path)
with the route, the status and, for
moderations, the verdict and policy, never the content.
"""
from __future__ import annotations

import logging
from typing import Any

from mmservice import accounting

log = logging.getLogger("mmservice.facade")


def count(svc: Any, tenant: str, cap: str, result: dict[str, Any]) -> None:
    """Add one call's `usage` to the tenant's counters (a cache hit carries none: requests=1)."""
    key, fields, ttl = accounting.writes_for(svc.cfg, tenant, cap, result, svc.store.keys)
    pipe = svc.redis.pipeline(transaction=False)
    accounting.queue_usage(pipe, (key, fields, ttl))
    pipe.execute()


def audit_call(svc: Any, tenant: str, event: dict[str, Any]) -> None:
    """One audit entry per call, written by the process's background writer (audit_writer.py):
    a failure to write it is logged, never the client's error."""
    from mmservice.facade.audit_writer import writer_for

    writer_for(svc).put(tenant, event)


def on_review_verdict(svc: Any, tenant: str, result: dict[str, Any],
                      request_id: str) -> None:
    """A facade moderation whose verdict is `review` creates a review item.

    TODO(issue 16): the review queue (`mmservice.review`) is built on another branch; once both
    are merged, create the item here (tenant, the moderation result, `request_id`, source
    `facade`). This is the one call site: `routes.moderations` calls it for each such result.
    """
    log.info("facade review verdict", extra={"tenant": tenant, "request_id": request_id,
                                             "policy": result.get("policy")})
