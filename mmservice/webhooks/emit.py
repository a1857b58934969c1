"""Events in, deliveries out: an event becomes one delivery (per subject and event type) with its
body frozen, and its first attempt's message is queued.

Why generic events: jobs settling are the first producer (`on_job_terminal`, a thin adapter);
review decisions and list matches use the same `emit` next, with no other delivery path.
Why nothing here raises into the caller: the producer's state (a job settling) never depends on
its webhook, so a broken receiver, a bad setting or a full queue must not fail it.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import redis

from mmservice.jobs.store import TERMINAL, public_view
from mmservice.webhooks import local_senders
from mmservice.webhooks.wiring import hooks

log = logging.getLogger("mmservice.webhooks")


@dataclass(frozen=True)
class Event:
    type: str  # "job.succeeded", "review.decided", ...
    tenant: str
    subject_id: str  # what the event is about: one delivery per (subject, type)
    data: dict  # the body's `data`, as clients see the subject
    url: str | None = None  # None: the endpoint's (today the default URL)
    refs: dict = field(default_factory=dict)  # public fields of the delivery record (`job_id`)
    at: float | None = None  # when it happened (the body's `timestamp`); None: now


def body(event: Event, at: float) -> str:
    """The frozen payload every attempt sends (the same `webhook-id` always carries it)."""
    when = datetime.fromtimestamp(at, tz=UTC)
    return json.dumps({"type": event.type,
                       "timestamp": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                       "data": event.data}, separators=(",", ":"))


def emit(deps, event: Event, *, local_ok: bool = False) -> str | None:
    """Create the event's delivery (at most one per subject and type) and queue its first
    attempt. Returns the delivery id, or None when the event has no URL to go to (or failed:
    logged). A store that cannot be reached raises, so the caller can retry. Should the
    message be lost, the delivery is due for the sweeper after one lease.
    `local_ok` (a worker, not an API request): the first attempt may be made by this process's
    sender threads instead (`local_senders`)."""
    try:
        h = hooks(deps, event.tenant)
        url = h.endpoints.url_for(event.tenant, event.url)
        if not url:
            return None
        now = time.time()
        rec, created = h.store.create(event.tenant, event.subject_id, event.type, url,
                                      body(event, now if event.at is None else event.at),
                                      refs=event.refs, first_due=now + h.cfg.lease_s, now=now)
        if created and not local_senders.start(h, event.tenant, rec["id"], local_ok=local_ok):
            h.send(event.tenant, rec["id"])
            log.info("webhook scheduled", extra={**event.refs, "delivery_id": rec["id"],
                                                  "event_type": event.type})
        return rec["id"]
    except (redis.ConnectionError, redis.TimeoutError):
        # The store is down: the delivery could not be recorded. Raised, so the caller's task
        # retries (a re-run of a settled job's step hands it to delivery again, idempotently)
        # instead of the event being lost.
        log.warning("webhook not scheduled: store unavailable",
                    extra={**event.refs, "event_type": event.type})
        raise
    except Exception:
        log.exception("webhook not scheduled", extra={**event.refs, "event_type": event.type})
        return None


def on_job_terminal(job: dict, deps, *, local_ok: bool = False) -> str | None:
    """A settled job's `job.<status>` event; its `data` is the job as clients see it."""
    if job.get("status") not in TERMINAL:
        return None
    if not hooks(deps, job["tenant"]).endpoints.url_for(job["tenant"], job.get("webhook_url")):
        return None  # no URL: the job's public view (a marshmallow dump) is not worth making
    return emit(deps, Event(f"job.{job['status']}", job["tenant"], job["id"], public_view(job),
                            url=job.get("webhook_url"), refs={"job_id": job["id"]}),
                local_ok=local_ok)
