"""Delivery records, their attempt log and endpoint disable state, in Redis, namespaced by tenant.

Why one JSON value per delivery updated with WATCH/MULTI (like job records): an attempt is
claimed, performed and recorded by whichever worker holds the message, and a duplicate message
(broker redelivery after a crash, or an ETA message restored past the visibility timeout) must see
the claim and back off. Claiming and recording are therefore compare-and-set updates.
"""
from __future__ import annotations

import hashlib
import json
import time
import uuid
from typing import Any, Callable

import redis

from mmservice.errors import NotFound
from mmservice.jobs.store import now_iso
from mmservice.redis_conn import update_json

PENDING, SUCCEEDED, FAILED, SKIPPED = "pending", "succeeded", "failed", "skipped"
EARLY_SLACK_S = 0.5  # a message this close to its slot runs it (clocks and countdowns drift)


def new_delivery_id() -> str:
    """Time-ordered like job ids; it is also the `webhook-id` receivers dedupe on."""
    return f"msg_{int(time.time() * 1000):012x}{uuid.uuid4().hex[:20]}"


class DeliveryStore:
    def __init__(self, r: redis.Redis, ttl_s: int, prefix: str = "mms"):
        self.r, self.ttl_s, self.prefix = r, ttl_s, prefix

    # -- keys -------------------------------------------------------------------------------
    def key(self, tenant: str, delivery_id: str) -> str:
        return f"{self.prefix}:t:{tenant}:delivery:{delivery_id}"

    def index_key(self, tenant: str, job_id: str) -> str:
        return f"{self.prefix}:t:{tenant}:job:{job_id}:deliveries"

    def event_key(self, tenant: str, job_id: str, event_type: str) -> str:
        return f"{self.prefix}:t:{tenant}:whevent:{job_id}:{event_type}"

    def disabled_key(self, tenant: str, url: str) -> str:
        digest = hashlib.sha256(url.encode()).hexdigest()[:32]
        return f"{self.prefix}:t:{tenant}:webhook:disabled:{digest}"

    # -- records ----------------------------------------------------------------------------
    def create_for_event(self, tenant: str, job_id: str, event_type: str,
                         url: str) -> tuple[dict, bool]:
        """One delivery per (job, event type), whoever asks and however often.

        The SET NX marker picks the delivery id; the record itself is also written NX, so a crash
        between the two writes is repaired by the next call instead of creating a second id."""
        marker = self.event_key(tenant, job_id, event_type)
        did = new_delivery_id()
        if not self.r.set(marker, did, nx=True, ex=self.ttl_s):
            did = (self.r.get(marker) or did.encode()).decode()
        now = time.time()
        record = {
            "id": did, "job_id": job_id, "type": event_type, "url": url, "status": PENDING,
            "created_at": now_iso(now), "updated_at": now_iso(now), "attempt_count": 0,
            "next_attempt_at": now_iso(now), "error": None, "attempts": [],
            "_event_ts": now, "_next_ts": now, "_lease_until": 0.0, "_round_start": 0,
            "_client_errors": 0, "_enqueued_for": None,
        }
        pipe = self.r.pipeline(transaction=True)
        pipe.set(self.key(tenant, did), json.dumps(record), ex=self.ttl_s, nx=True)
        pipe.zadd(self.index_key(tenant, job_id), {did: int(now * 1000)}, nx=True)
        pipe.expire(self.index_key(tenant, job_id), self.ttl_s)
        created, *_ = pipe.execute()
        return (record if created else self.get(tenant, did)), bool(created)

    def get(self, tenant: str, delivery_id: str) -> dict:
        raw = self.r.get(self.key(tenant, delivery_id))
        if raw is None:
            raise NotFound(f"no delivery {delivery_id!r}", code="delivery_not_found")
        return json.loads(raw)

    def list_for_job(self, tenant: str, job_id: str) -> list[dict]:
        ids = [i.decode() for i in self.r.zrange(self.index_key(tenant, job_id), 0, -1)]
        if not ids:
            return []
        raws = self.r.mget([self.key(tenant, i) for i in ids])
        return [json.loads(x) for x in raws if x]

    def update(self, tenant: str, delivery_id: str, fn: Callable[[dict], Any]) -> tuple[dict, Any]:
        """Apply `fn(record)` (mutating in place) atomically; returns (record, fn's result).

        `fn` may raise to abort without writing; it may run more than once under contention."""
        return update_json(self.r, self.key(tenant, delivery_id), fn,
                           missing=lambda: NotFound(f"no delivery {delivery_id!r}",
                                                    code="delivery_not_found"))

    # -- attempts ---------------------------------------------------------------------------
    def claim(self, tenant: str, delivery_id: str, *, lease_s: float) -> tuple[str, float, dict]:
        """Decide what this message may do: ("claimed", 0, rec) owns the next attempt;
        ("done"|"busy"|"early"|"early-unscheduled", wait_s, rec) do not."""
        def fn(rec: dict) -> tuple[str, float]:
            now = time.time()
            if rec["status"] != PENDING:
                raise _Verdict("done", 0.0)
            if rec["_lease_until"] > now:
                raise _Verdict("busy", rec["_lease_until"] - now)
            if rec["_next_ts"] > now + EARLY_SLACK_S:
                kind = "early" if rec.get("_enqueued_for") == rec["_next_ts"] else \
                    "early-unscheduled"
                raise _Verdict(kind, rec["_next_ts"] - now)
            last = rec["attempts"][-1] if rec["attempts"] else None
            if last and last["outcome"] == "in_flight":
                last.update(outcome="interrupted", error={
                    "code": "attempt_interrupted",
                    "message": "the worker stopped during this attempt; its answer is unknown"})
            rec["attempt_count"] += 1
            rec["attempts"].append({
                "attempt": rec["attempt_count"], "started_at": now_iso(now), "status_code": None,
                "latency_ms": None, "error": None, "response_body": "", "outcome": "in_flight"})
            rec["_lease_until"] = now + lease_s
            rec["next_attempt_at"] = None
            rec["updated_at"] = now_iso(now)
            return "claimed", 0.0

        try:
            rec, (verdict, wait) = self.update(tenant, delivery_id, fn)
        except _Verdict as v:
            return v.kind, v.wait, self.get(tenant, delivery_id)
        return verdict, wait, rec

    def finish(self, tenant: str, delivery_id: str, attempt_no: int, fields: dict,
               change: Callable[[dict], None] | None) -> dict:
        """Record attempt `attempt_no`'s outcome; apply `change` to the delivery only if no later
        attempt was claimed meanwhile (a lease that ran out) and nobody settled it already."""
        def fn(rec: dict) -> None:
            for a in rec["attempts"]:
                if a["attempt"] == attempt_no:
                    a.update(fields)
            rec["updated_at"] = now_iso()
            if rec["status"] == PENDING and rec["attempt_count"] == attempt_no:
                rec["_lease_until"] = 0.0
                if change:
                    change(rec)
        return self.update(tenant, delivery_id, fn)[0]

    def mark_enqueued(self, tenant: str, delivery_id: str, next_ts: float) -> None:
        """Remember a message is on its way for this slot, so duplicates can safely drop out."""
        def fn(rec: dict) -> None:
            if rec["_next_ts"] == next_ts:
                rec["_enqueued_for"] = next_ts
        try:
            self.update(tenant, delivery_id, fn)
        except NotFound:
            pass

    # -- endpoints --------------------------------------------------------------------------
    def disable_endpoint(self, tenant: str, url: str, info: dict) -> None:
        """No expiry: 410 Gone means gone, until an operator redelivers by hand."""
        self.r.set(self.disabled_key(tenant, url), json.dumps({"url": url, **info}))

    def endpoint_disabled(self, tenant: str, url: str) -> dict | None:
        raw = self.r.get(self.disabled_key(tenant, url))
        return json.loads(raw) if raw else None

    def enable_endpoint(self, tenant: str, url: str) -> None:
        self.r.delete(self.disabled_key(tenant, url))


class _Verdict(Exception):
    def __init__(self, kind: str, wait: float):
        super().__init__(kind)
        self.kind, self.wait = kind, wait


def public_view(rec: dict) -> dict:
    """What `GET /v1/jobs/<id>/deliveries` shows: no payload copy, no leases, never a secret."""
    return {k: v for k, v in rec.items() if not k.startswith("_")}
