"""Job records in Redis, namespaced by tenant.

Why our own store and not Celery's result backend: polling must never block or re-raise a task's
error, a job spans several Celery tasks (one per capability, plus chunk fan-out), and a record
must exist before its task is enqueued. Each record is one JSON value updated with optimistic
transactions (WATCH/MULTI), so concurrent steps never lose each other's writes.
"""
from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis

from mmservice.errors import Conflict, NotFound
from mmservice.redis_conn import update_json

TERMINAL = ("succeeded", "failed", "canceled")
STATUSES = ("queued", "running") + TERMINAL
_ALLOWED = {
    "queued": {"running", "canceled", "failed", "succeeded"},
    "running": {"succeeded", "failed", "canceled"},
    "succeeded": set(), "failed": set(), "canceled": set(),
}


def now_iso(ts: float | None = None) -> str:
    ts = time.time() if ts is None else ts
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"


def new_job_id() -> str:
    """Time-ordered (uuid7-like) so ids sort by creation and work as Celery task ids."""
    ms = int(time.time() * 1000)
    rand = uuid.uuid4().hex[:20]
    return f"job_{ms:012x}{rand}"


class JobStore:
    def __init__(self, r: redis.Redis, ttl_s: int, prefix: str = "mms"):
        self.r = r
        self.ttl_s = ttl_s
        self.prefix = prefix

    # -- keys -------------------------------------------------------------------------------
    def key(self, tenant: str, job_id: str) -> str:
        return f"{self.prefix}:t:{tenant}:job:{job_id}"

    def index_key(self, tenant: str) -> str:
        return f"{self.prefix}:t:{tenant}:jobs"

    # -- CRUD -------------------------------------------------------------------------------
    def create(self, job: dict, also_set: dict[str, str] | None = None,
               also: Callable[[Any], None] | None = None) -> None:
        """Write a new record (and its index entry, counters and `also_set` keys, e.g. the
        first step's enqueue marker) in one round trip. `also(pipe)` queues more commands into
        the same MULTI (the first step's task message, so no record exists without one)."""
        k = self.key(job["tenant"], job["id"])
        created_ms = int(job["_created_ts"] * 1000)
        pipe = self.r.pipeline(transaction=True)
        pipe.set(k, json.dumps(job), ex=self.ttl_s, nx=True)
        for key, value in (also_set or {}).items():
            pipe.set(key, value, ex=self.ttl_s)
        if also is not None:
            also(pipe)
        pipe.zadd(self.index_key(job["tenant"]), {job["id"]: created_ms})
        pipe.incr(f"{self.prefix}:metrics:jobs_created:{job['input']['kind']}")
        ok, *_ = pipe.execute()
        if not ok:
            raise Conflict("job id already exists", code="job_exists")

    def get(self, tenant: str, job_id: str) -> dict:
        raw = self.r.get(self.key(tenant, job_id))
        if raw is None:
            raise NotFound(f"no job {job_id!r}", code="job_not_found")
        return json.loads(raw)

    def get_many(self, tenant: str, ids: list[str]) -> list[dict | None]:
        if not ids:
            return []
        raws = self.r.mget([self.key(tenant, i) for i in ids])
        return [json.loads(x) if x else None for x in raws]

    def update(self, tenant: str, job_id: str, fn: Callable[[dict], Any],
               also: Callable[[Any, dict, Any], None] | None = None) -> dict:
        """Apply `fn(job)` (mutating in place) atomically; returns the new job.

        `fn` may raise to abort without writing. Retries on concurrent modification. `also`
        queues more commands into the same transaction (see `update_json`).
        """
        job, _ = update_json(self.r, self.key(tenant, job_id), fn, also=also,
                             missing=lambda: NotFound(f"no job {job_id!r}", code="job_not_found"))
        return job

    def set_status(self, job: dict, status: str, **extra: Any) -> None:
        """Mutates a job dict (inside `update`) following the status machine."""
        current = job["status"]
        if status != current and status not in _ALLOWED[current]:
            raise Conflict(f"job is {current}, cannot become {status}", code="invalid_transition")
        ts = time.time()
        job["status"] = status
        job["updated_at"] = now_iso(ts)
        if status == "running" and not job.get("started_at"):
            job["started_at"] = job["updated_at"]
        if status in TERMINAL:
            job["finished_at"] = job["updated_at"]
        job.update(extra)

    def finished_key(self, status: str) -> str:
        return f"{self.prefix}:metrics:jobs_finished:{status}"

    def settled_channel(self) -> str:
        return f"{self.prefix}:settled"

    def queue_settled(self, pipe: Any, job: dict) -> None:
        """Inside the transaction that settles `job`: count it, and announce it to long-polling
        readers (`GET /v1/jobs/<id>?wait=`), committing exactly when the settle does."""
        pipe.incr(self.finished_key(job["status"]))
        pipe.publish(self.settled_channel(), f"{job['tenant']}/{job['id']}")

    def list(self, tenant: str, *, status: str | None, cursor: str | None,
             limit: int) -> tuple[list[dict], str | None]:
        """Newest first. The cursor is the last id seen: ids are time-ordered, so the next page
        starts strictly below its score. Expired records are pruned from the index as met."""
        idx = self.index_key(tenant)
        max_score = "+inf"
        if cursor:
            score = self.r.zscore(idx, cursor)
            if score is None:
                # The cursor's job expired: recover its position from the id's timestamp.
                try:
                    score = int(cursor[4:16], 16)
                except ValueError:
                    from mmservice.errors import Invalid
                    raise Invalid("cursor is not valid", code="invalid_cursor",
                                  field="cursor") from None
            max_score = f"({int(score)}"
        out: list[dict] = []
        offset = 0
        batch = max(limit * 2, 50)
        last_id = None
        while len(out) < limit:
            ids = [i.decode() for i in self.r.zrevrangebyscore(idx, max_score, "-inf",  # type: ignore[union-attr]
                                                               start=offset, num=batch)]
            if not ids:
                last_id = None
                break
            offset += len(ids)
            gone = []
            for jid, job in zip(ids, self.get_many(tenant, ids)):
                if job is None:
                    gone.append(jid)
                    continue
                if status and job["status"] != status:
                    continue
                out.append(job)
                last_id = jid
                if len(out) == limit:
                    break
            if gone:
                self.r.zrem(idx, *gone)
        next_cursor = last_id if len(out) == limit else None
        return out, next_cursor

    def delete(self, tenant: str, job_id: str) -> None:
        self.r.delete(self.key(tenant, job_id))
        self.r.zrem(self.index_key(tenant), job_id)

    # -- idempotency ------------------------------------------------------------------------
    def claim_idempotency_key(self, tenant: str, key: str, body_hash: str, job_id: str,
                              ttl_s: int) -> str | None:
        """Returns None when this request owns the key, else the job id of the earlier request.

        Raises Conflict when the key was used with another body."""
        k = f"{self.prefix}:t:{tenant}:idem:{key}"
        value = json.dumps({"hash": body_hash, "job_id": job_id})
        if self.r.set(k, value, ex=ttl_s, nx=True):
            return None
        raw = self.r.get(k)
        if raw is None:  # expired between the two calls: claim again
            return self.claim_idempotency_key(tenant, key, body_hash, job_id, ttl_s)
        prior = json.loads(raw)
        if prior["hash"] != body_hash:
            raise Conflict("Idempotency-Key was already used with a different request body",
                           code="idempotency_key_reused", field="Idempotency-Key")
        return prior["job_id"]

    def release_idempotency_key(self, tenant: str, key: str) -> None:
        self.r.delete(f"{self.prefix}:t:{tenant}:idem:{key}")


def public_view(job: dict) -> dict:
    """The job as clients see it: internal fields (leading underscore, tenant) removed."""
    return {k: v for k, v in job.items() if not k.startswith("_") and k != "tenant"}
