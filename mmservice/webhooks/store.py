"""Delivery records: one JSON value per (subject, event type), its attempt log, and its due time.

Why records through `RedisRecords`: an attempt is claimed, performed and recorded by whichever
worker holds the message, and a duplicate message (a broker redelivery after a crash, a second
sweeper) must see the claim and back off; the shared compare-and-set gives that, and the same
transaction carries what must commit with the record (its index entry, its due time, the reads
the attempt needs).

Why a due-time sorted set (`Keys.webhook_due`, members `[tenant, delivery id]`): a pending
delivery always has one entry, scored with when it next needs a message: its next retry, or the
end of the running attempt's lease (if that worker dies, the delivery is due again then). Every
worker's sweeper (`due.sweep`) sends a message for what is due, so no message ever waits in the
broker for hours and no message re-queues itself.
"""
from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import redis

from mmservice.errors import NotFound
from mmservice.jobs.store import now_iso
from mmservice.keys import Keys
from mmservice.records import (
    RecordMissing,
    RedisRecords,
    lease_of,
    release_lease,
    take_lease,
)

PENDING, SUCCEEDED, FAILED, SKIPPED = "pending", "succeeded", "failed", "skipped"

# Claim outcomes: "claimed" owns the next attempt; "done" (settled) and "not_due" (an attempt is
# in flight, or the next one is not due yet: the due set brings it back) do nothing.
CLAIMED, DONE, NOT_DUE = "claimed", "done", "not_due"

# `also(pipe)`: commands queued into the record's transaction (they commit exactly with it).
Also = Callable[[Any], None]


def new_delivery_id() -> str:
    """Time-ordered like job ids; it is also the `webhook-id` receivers dedupe on."""
    return f"msg_{int(time.time() * 1000):012x}{uuid.uuid4().hex[:20]}"


def public_view(rec: dict) -> dict:
    """What `GET /v1/jobs/<id>/deliveries` shows: no payload copy, no lease, never a secret."""
    return {k: v for k, v in rec.items() if not k.startswith("_")}


def due_member(tenant: str, delivery_id: str) -> str:
    return json.dumps([tenant, delivery_id])


@dataclass
class Claim:
    outcome: str  # CLAIMED | DONE | NOT_DUE
    rec: dict
    reads: list  # what the caller asked to read in the claim's transaction (CLAIMED only)


class _NotClaimed(Exception):
    def __init__(self, outcome: str, rec: dict):
        super().__init__(outcome)
        self.outcome, self.rec = outcome, rec


class DeliveryStore:
    def __init__(self, r: redis.Redis, ttl_s: int, keys: Keys):
        self.r, self.ttl_s, self.keys = r, ttl_s, keys
        self.records = RedisRecords(r)

    def key(self, tenant: str, delivery_id: str) -> str:
        return self.keys.delivery(tenant, delivery_id)

    def _due(self, pipe, tenant: str, delivery_id: str, at: float) -> None:
        pipe.zadd(self.keys.webhook_due(), {due_member(tenant, delivery_id): at})

    # -- records ----------------------------------------------------------------------------
    def create(self, tenant: str, subject_id: str, event_type: str, url: str, body: str, *,
               refs: dict, first_due: float, now: float) -> tuple[dict, bool]:
        """One delivery per (subject, event type), whoever asks and however often.

        The event marker (holding the delivery id), the record, its index entry and its due
        time commit together. `first_due`: when the sweeper sends the first attempt if the
        caller's own message never arrives. Returns (record, created by this call?)."""
        did = new_delivery_id()
        record = {
            "id": did, **refs, "type": event_type, "url": url, "status": PENDING,
            "created_at": now_iso(now), "updated_at": now_iso(now), "attempt_count": 0,
            "next_attempt_at": now_iso(now), "error": None, "attempts": [],
            "_subject": subject_id, "_next_ts": now, "_round_start": 0, "_client_errors": 0,
            "_body": body,
        }
        index = self.keys.deliveries_of(tenant, subject_id)

        def also(pipe) -> None:
            pipe.zadd(index, {did: int(now * 1000)}, nx=True)
            pipe.expire(index, self.ttl_s)
            self._due(pipe, tenant, did, first_due)

        prior = self.records.claim_or_create(
            self.keys.event_marker(tenant, subject_id, event_type), {"id": did}, self.ttl_s,
            self.key(tenant, did), record, self.ttl_s, also)
        if prior is None:
            return record, True
        return self.get(tenant, prior["id"]), False

    def get(self, tenant: str, delivery_id: str) -> dict:
        try:
            return self.records.get(self.key(tenant, delivery_id))
        except RecordMissing:
            raise NotFound(f"no delivery {delivery_id!r}", code="delivery_not_found") from None

    def list_for_subject(self, tenant: str, subject_id: str) -> list[dict]:
        index = cast(list[bytes], self.r.zrange(self.keys.deliveries_of(tenant, subject_id),
                                                0, -1))
        ids = [i.decode() for i in index]
        found = self.records.get_many([self.key(tenant, i) for i in ids])
        return [rec for rec in found if rec is not None]

    def update(self, tenant: str, delivery_id: str, fn: Callable[[dict], Any], *,
               also: Callable[[Any, dict, Any], None] | None = None) -> tuple[dict, Any, list]:
        """`RedisRecords.update` on one delivery; NotFound when it expired."""
        try:
            return self.records.update(self.key(tenant, delivery_id), fn,
                                       in_same_transaction=also)
        except RecordMissing:
            raise NotFound(f"no delivery {delivery_id!r}", code="delivery_not_found") from None

    # -- attempts ---------------------------------------------------------------------------
    def claim(self, tenant: str, delivery_id: str, *, lease_s: float, now: float,
              reads: Callable[[Any, dict], None] | None = None) -> Claim:
        """Decide what this message may do (see CLAIMED, DONE, NOT_DUE). Claiming starts the
        next attempt under a lease and moves the delivery's due time to the lease's end; the
        same transaction runs `reads(pipe, record)` (the endpoint state the attempt needs)."""
        def start(rec: dict) -> None:
            if rec["status"] != PENDING:
                raise _NotClaimed(DONE, rec)
            if lease_of(rec, now) is not None or rec["_next_ts"] > now:
                raise _NotClaimed(NOT_DUE, rec)
            _start_attempt(rec, now, lease_s)

        def also(pipe, rec: dict, _result) -> None:
            self._due(pipe, tenant, delivery_id, rec["_lease"]["until"])
            if reads is not None:
                reads(pipe, rec)

        try:
            rec, _, values = self.update(tenant, delivery_id, start, also=also)
        except _NotClaimed as n:
            return Claim(n.outcome, n.rec, [])
        return Claim(CLAIMED, rec, values[1:])

    def finish(self, tenant: str, delivery_id: str, attempt_no: int, fields: dict,
               change: Callable[[dict], None] | None, also: Also | None = None) -> dict:
        """Record attempt `attempt_no`'s outcome; apply `change` (and queue `also`) only if no
        later attempt was claimed meanwhile (a lease that ran out) and nobody settled it. The
        due set follows in the same transaction: the retry's time, or no entry once settled."""
        def record(rec: dict) -> bool:
            for a in rec["attempts"]:
                if a["attempt"] == attempt_no:
                    a.update(fields)
            rec["updated_at"] = now_iso()
            if rec["status"] != PENDING or rec["attempt_count"] != attempt_no:
                return False
            release_lease(rec)
            if change:
                change(rec)
            return True

        def follow(pipe, rec: dict, applied: bool) -> None:
            if not applied:
                return
            if rec["status"] == PENDING:
                self._due(pipe, tenant, delivery_id, rec["_next_ts"])
            else:
                pipe.zrem(self.keys.webhook_due(), due_member(tenant, delivery_id))
            if also is not None:
                also(pipe)

        return self.update(tenant, delivery_id, record, also=follow)[0]

    def restart(self, tenant: str, delivery_id: str, change: Callable[[dict], None], *,
                due: float, also: Also | None = None) -> dict:
        """Apply `change` (a new round: manual redelivery) and make the delivery due at `due`."""
        def follow(pipe, _rec: dict, _result) -> None:
            self._due(pipe, tenant, delivery_id, due)
            if also is not None:
                also(pipe)
        return self.update(tenant, delivery_id, change, also=follow)[0]


def _start_attempt(rec: dict, now: float, lease_s: float) -> None:
    """Start the next attempt: the previous one, if still in flight, was interrupted."""
    last = rec["attempts"][-1] if rec["attempts"] else None
    if last and last["outcome"] == "in_flight":
        last.update(outcome="interrupted", error={
            "code": "attempt_interrupted",
            "message": "the worker stopped during this attempt; its answer is unknown"})
    rec["attempt_count"] += 1
    take_lease(rec, f"attempt {rec['attempt_count']}", now, lease_s)
    rec["attempts"].append({
        "attempt": rec["attempt_count"], "started_at": now_iso(now), "status_code": None,
        "latency_ms": None, "error": None, "response_body": "", "outcome": "in_flight"})
    rec["next_attempt_at"] = None
    rec["updated_at"] = now_iso(now)
