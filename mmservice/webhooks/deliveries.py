"""Delivery records, their attempt log and endpoint disable state, in Redis, namespaced by tenant.

Why one JSON value per delivery updated by compare-and-set: an attempt is claimed, performed and
recorded by whichever worker holds the message, and a duplicate message (broker redelivery after
a crash, or an ETA message restored past the visibility timeout) must see the claim and back off.

Why small Lua scripts instead of WATCH/MULTI: they sit between a job settling and its webhook
leaving, where every round trip is latency (and, with many threads, a wait for the GIL). Creating
a delivery is one script (marker, record, index); an update is a GET plus one script that writes
only if the record is unchanged and can read other keys in the same step (WATCH/MULTI: three).
"""
from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from mmservice.errors import NotFound
from mmservice.jobs.store import now_iso

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
    def create_for_event(self, tenant: str, job_id: str, event_type: str, url: str,
                         body: str, *, now: float | None = None) -> tuple[dict, bool]:
        """One delivery per (job, event type), whoever asks and however often.

        `body` is the frozen payload: the job is terminal when its event is created, so the body
        every attempt sends is known now. The event marker (which picks the delivery id), the
        record, its index entry and the enqueue mark for the first attempt are written by one
        script: one round trip, and no state where one exists without the others. The caller
        queues the first attempt's message right after (the mark says one is on its way)."""
        rec, created, _ = self._create(tenant, job_id, event_type, url, body, now=now)
        return rec, created

    def create_claimed(self, tenant: str, job_id: str, event_type: str, url: str, body: str, *,
                       lease_s: float, secret_key: str | None = None, inflight: bool = False,
                       now: float | None = None) -> Claim | None:
        """Like `create_for_event`, but the record is born with its first attempt claimed by
        the caller (as `claim` would leave it), and the same script reads what the attempt
        needs (disabled flag, generated secret). `inflight`: also entered in the in-flight set
        until the lease ends (see `inflight_due`). None if the event already had a delivery."""
        rec, created, extra = self._create(tenant, job_id, event_type, url, body, now=now,
                                           lease_s=lease_s, secret_key=secret_key,
                                           inflight=inflight)
        if not created:
            return None
        return Claim("claimed", 0.0, rec, json.loads(extra[0]) if extra[0] else None,
                     extra[1].decode() if secret_key and extra[1] else None)

    def _create(self, tenant: str, job_id: str, event_type: str, url: str, body: str, *,
                now: float | None, lease_s: float | None = None,
                secret_key: str | None = None, inflight: bool = False) -> tuple[dict, bool, list]:
        now = time.time() if now is None else now
        did = new_delivery_id()
        record = {
            "id": did, "job_id": job_id, "type": event_type, "url": url, "status": PENDING,
            "created_at": now_iso(now), "updated_at": now_iso(now), "attempt_count": 0,
            "next_attempt_at": now_iso(now), "error": None, "attempts": [],
            "_event_ts": now, "_next_ts": now, "_lease_until": 0.0, "_round_start": 0,
            "_client_errors": 0, "_enqueued_for": now, "_body": body,
        }
        reads, member = [], ""
        if lease_s is not None:
            _claim_in_place(record, now, lease_s)
            reads = [self.disabled_key(tenant, url)] + ([secret_key] if secret_key else [])
        if inflight:
            reads, member = [self.inflight_key(), *reads], self._member(tenant, did)
        res = _run(self.r, _CREATE_LUA,
                   keys=[self.event_key(tenant, job_id, event_type), self.key(tenant, did),
                         self.index_key(tenant, job_id), *reads],
                   args=[did, json.dumps(record), self.ttl_s, int(now * 1000), member,
                         record["_lease_until"]])
        if res[0] == 1:
            return record, True, list(res[1:])
        found_id, found = res[1].decode(), (res[2] if len(res) > 2 else None)
        if found is not None:
            return json.loads(found), False, []
        # A marker without its record (written by a version that wrote them separately and
        # crashed in between): write the record under the marker's id, as that version did.
        record["id"] = found_id
        pipe = self.r.pipeline(transaction=True)
        pipe.set(self.key(tenant, found_id), json.dumps(record), ex=self.ttl_s, nx=True)
        pipe.zadd(self.index_key(tenant, job_id), {found_id: int(now * 1000)}, nx=True)
        pipe.expire(self.index_key(tenant, job_id), self.ttl_s)
        if inflight:
            reads = reads[1:]
            pipe.zadd(self.inflight_key(), {self._member(tenant, found_id):  # type: ignore[dict-item]
                                            record["_lease_until"]})
        for key in reads:
            pipe.get(key)
        written, *values = pipe.execute()
        return ((record if written else self.get(tenant, found_id)), bool(written),
                values[-len(reads):] if reads else [])

    # -- first attempts made outside the queue ----------------------------------------------
    def inflight_key(self) -> str:
        return f"{self.prefix}:webhooks:inflight"

    @staticmethod
    def _member(tenant: str, delivery_id: str) -> str:
        return json.dumps([tenant, delivery_id])

    def inflight_done(self, tenant: str, delivery_id: str) -> None:
        self.r.zrem(self.inflight_key(), self._member(tenant, delivery_id))

    def inflight_due(self, now: float, limit: int) -> list[tuple[str, str]]:
        """In-flight first attempts whose lease has run out (their process died)."""
        raw = self.r.zrangebyscore(self.inflight_key(), "-inf", now, start=0, num=limit)
        return [tuple(json.loads(m)) for m in raw]  # type: ignore[arg-type]

    def inflight_take(self, tenant: str, delivery_id: str) -> bool:
        return bool(self.r.zrem(self.inflight_key(), self._member(tenant, delivery_id)))

    def inflight_put_back(self, tenant: str, delivery_id: str) -> None:
        self.r.zadd(self.inflight_key(), {self._member(tenant, delivery_id): time.time()})

    def get(self, tenant: str, delivery_id: str) -> dict:
        raw = self.r.get(self.key(tenant, delivery_id))
        if raw is None:
            raise NotFound(f"no delivery {delivery_id!r}", code="delivery_not_found")
        return json.loads(raw)

    def list_for_job(self, tenant: str, job_id: str) -> list[dict]:
        ids = [i.decode() for i in self.r.zrange(self.index_key(tenant, job_id), 0, -1)]  # type: ignore[union-attr]
        if not ids:
            return []
        raws = self.r.mget([self.key(tenant, i) for i in ids])
        return [json.loads(x) for x in raws if x]

    def update(self, tenant: str, delivery_id: str, fn: Callable[[dict], Any], *,
               reads: Callable[[dict], list[str]] | None = None,
               raw: bytes | None = None) -> tuple[dict, Any, list]:
        """Apply `fn(record)` (mutating in place) atomically; returns (record, fn's result, the
        values of the keys `reads(record)` names, read in the same step as the write).

        A compare-and-set in two round trips: GET, then one script that writes only if the
        record is still the one read (by SHA-1) and reads the extra keys. On a conflict the
        script returns the current value and `fn` runs again on it; `fn` may raise to abort
        without writing. `raw`: the record as just read, to skip the GET."""
        key = self.key(tenant, delivery_id)
        raw = self.r.get(key) if raw is None else raw  # type: ignore[assignment]
        while True:
            if raw is None:
                raise NotFound(f"no delivery {delivery_id!r}", code="delivery_not_found")
            rec = json.loads(raw)
            result = fn(rec)
            res = _run(self.r, _CAS_LUA, keys=[key, *(reads(rec) if reads else ())],
                       args=[hashlib.sha1(raw).hexdigest(), json.dumps(rec)])
            if res[0] == 1:
                return rec, result, list(res[1:])
            raw = res[1] if res[0] == 0 else None

    # -- attempts ---------------------------------------------------------------------------
    def claim(self, tenant: str, delivery_id: str, *, lease_s: float,
              secret_key: str | None = None) -> Claim:
        """Decide what this message may do: "claimed" owns the next attempt; "done", "busy",
        "early" and "early-unscheduled" (with `wait` seconds) do not.

        The write that claims also reads what the attempt needs besides the record: whether the
        endpoint is disabled, and the generated signing secret when `secret_key` names it. With
        the body frozen in the record, that is everything: two round trips before the POST."""
        def fn(rec: dict) -> tuple[str, float]:
            now = time.time()
            if rec["status"] != PENDING:
                raise _Verdict("done", 0.0, rec)
            if rec["_lease_until"] > now:
                raise _Verdict("busy", rec["_lease_until"] - now, rec)
            if rec["_next_ts"] > now + EARLY_SLACK_S:
                kind = "early" if rec.get("_enqueued_for") == rec["_next_ts"] else \
                    "early-unscheduled"
                raise _Verdict(kind, rec["_next_ts"] - now, rec)
            _claim_in_place(rec, now, lease_s)
            return "claimed", 0.0

        def reads(rec: dict) -> list[str]:
            return [self.disabled_key(tenant, rec["url"])] + ([secret_key] if secret_key else [])

        try:
            rec, (verdict, wait), extra = self.update(tenant, delivery_id, fn, reads=reads)
        except _Verdict as v:
            return Claim(v.kind, v.wait, v.rec)
        disabled = json.loads(extra[0]) if extra[0] else None
        secret = extra[1].decode() if secret_key and extra[1] else None
        return Claim(verdict, wait, rec, disabled, secret)

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

    def enable_endpoint(self, tenant: str, url: str) -> None:
        self.r.delete(self.disabled_key(tenant, url))


def _claim_in_place(rec: dict, now: float, lease_s: float) -> None:
    """Start the next attempt: the previous one, if still in flight, was interrupted."""
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


# KEYS: event marker, record, the job's delivery index, [the in-flight set,] then keys to read.
# ARGV: new id, record JSON, TTL, index score, in-flight member (or ''), its score (lease end).
# Returns {1, values of the keys to read...} when this call created the delivery, else
# {0, existing id, existing record or nil}. (Standalone Redis: the existing
# record's key is derived from the marker's id, so it is not among KEYS.)
_CREATE_LUA = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[3]) then
  redis.call('SET', KEYS[2], ARGV[2], 'NX', 'EX', ARGV[3])
  redis.call('ZADD', KEYS[3], 'NX', ARGV[4], ARGV[1])
  redis.call('EXPIRE', KEYS[3], ARGV[3])
  local first = 4
  if ARGV[5] ~= '' then
    redis.call('ZADD', KEYS[4], ARGV[6], ARGV[5])
    first = 5
  end
  local out = {1}
  for i = first, #KEYS do out[#out + 1] = redis.call('GET', KEYS[i]) end
  return out
end
local id = redis.call('GET', KEYS[1])
local prefix = string.sub(KEYS[2], 1, #KEYS[2] - #ARGV[1])
return {0, id, redis.call('GET', prefix .. id)}
"""

_scripts: dict[str, Any] = {}


def _run(r: redis.Redis, source: str, *, keys: list, args: list):
    """Run a Lua script by its SHA (EVALSHA; loaded again if the server lost it)."""
    script = _scripts.get(source)
    if script is None:
        script = _scripts[source] = r.register_script(source)
    return script(keys=keys, args=args, client=r)


# KEYS: the record, then keys to read. ARGV: SHA-1 of the record as read, the new record.
# Returns {1, values of the other keys...} when written, {0, current record} when it changed
# since it was read, {-1} when it is gone. The TTL set at creation is kept.
_CAS_LUA = """
local cur = redis.call('GET', KEYS[1])
if not cur then return {-1} end
if redis.sha1hex(cur) ~= ARGV[1] then return {0, cur} end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
local out = {1}
for i = 2, #KEYS do out[i] = redis.call('GET', KEYS[i]) end
return out
"""


@dataclass
class Claim:
    verdict: str
    wait: float
    rec: dict
    disabled: dict | None = None  # the endpoint's disable record, if a 410 disabled it
    secret: str | None = None  # the generated signing secret, when asked for and present


class _Verdict(Exception):
    def __init__(self, kind: str, wait: float, rec: dict):
        super().__init__(kind)
        self.kind, self.wait, self.rec = kind, wait, rec


def public_view(rec: dict) -> dict:
    """What `GET /v1/jobs/<id>/deliveries` shows: no payload copy, no leases, never a secret."""
    return {k: v for k, v in rec.items() if not k.startswith("_")}
