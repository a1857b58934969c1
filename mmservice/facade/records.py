"""What every facade call leaves behind: usage counters, an audit entry, a review item.

Why here and not in each view: the routes differ, the bookkeeping does not. Usage goes through
`accounting.writes_for` (the same counters and `GET /v1/usage` rows as jobs), added by the
process's background writer a moment after the answer; the audit entry
goes on the tenant's hash chain (`mmservice.audit`, appended in batches off the request path)
with the route, the status and, for
moderations, the verdict and policy, never the content.
"""
from __future__ import annotations

import hashlib
import logging
from typing import Any

from mmservice import accounting

log = logging.getLogger("mmservice.facade")


def count(svc: Any, tenant: str, cap: str, result: dict[str, Any]) -> None:
    """Add one call's `usage` to the tenant's counters (a cache hit carries none: requests=1),
    in the background writer's next batch (audit_writer.py): no round trip in the request."""
    from mmservice.facade.audit_writer import writer_for

    writes = accounting.writes_for(svc.cfg, tenant, cap, result, svc.store.keys)
    writer_for(svc).count(lambda pipe: accounting.queue_usage(pipe, writes))


def audit_call(svc: Any, tenant: str, event: dict[str, Any]) -> None:
    """One audit entry per call, written by the process's background writer (audit_writer.py):
    a failure to write it is logged, never the client's error."""
    from mmservice.facade.audit_writer import writer_for

    writer_for(svc).put(tenant, event)


def on_review_verdict(svc: Any, tenant: str, result: dict[str, Any], ref: str,
                      item: dict[str, Any], images: list[bytes]) -> None:
    """A facade moderation whose verdict is `review` goes to the review queue through the same
    hook as a job's (`steps.moderate.to_review`), as content `ref` (the request id and the
    input's index: the facade keeps no job). The item holds the text; an image is known by its
    SHA-256 only (the facade stores no media), so reviewers see its scores and list matches.
    Only `review` verdicts: the job path's per-verdict audit entry is, for the facade, its own
    `facade.moderations` entry."""
    from mmservice.steps.moderate import to_review

    text = item.get("text") or None
    image = images[item["image"]] if item.get("image") is not None else None
    data = image if image is not None else (text or "").encode()
    job = {"id": ref, "tenant": tenant, "source": "facade",
           "input": {"kind": "image" if image is not None else "text",
                     "mime": item.get("mime"), "sha256": hashlib.sha256(data).hexdigest()}}
    if text:
        job["_text"] = text
    to_review(svc.deps, job, result)
