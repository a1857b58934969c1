"""Job records in Redis, namespaced by tenant.

Why our own store and not Celery's result backend: polling must never block or re-raise a task's
error, a job spans several Celery tasks (one per capability, plus chunk fan-out), and a record
must exist before its task is enqueued. Each record is one JSON value updated through
`RedisRecords` (optimistic transactions), so concurrent steps never lose each other's writes.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from mmservice import jsonwire, metrics
from mmservice.errors import Conflict, NotFound
from mmservice.jobs import lost_messages
from mmservice.keys import Keys
from mmservice.queued_commands import recorded
from mmservice.records import RecordMissing, RedisRecords, SameTransaction

TERMINAL = ("succeeded", "failed", "canceled")
STATUSES = ("queued", "running") + TERMINAL
_ALLOWED = {
    "queued": {"running", "canceled", "failed", "succeeded"},
    "running": {"succeeded", "failed", "canceled"},
    "succeeded": set(), "failed": set(), "canceled": set(),
}


@dataclass(frozen=True)
class Creation:
    """A new job's writes, to be committed by a script (`JobStore.creation`)."""

    key: str  # the record's key (SET ... NX: never over an existing record)
    record: bytes  # its JSON
    ttl_s: int
    commands: list[tuple]  # everything committed with it, as Redis command arguments


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
        self.keys = Keys(prefix)
        self.records = RedisRecords(r)

    # -- CRUD -------------------------------------------------------------------------------
    def create(self, job: dict, *, markers: tuple[str, ...] = (),
               in_same_transaction: Callable[[Any], None] | None = None,
               idempotency: tuple[str, str] | None = None, idempotency_ttl_s: int = 0,
               results: Callable[[list], None] | None = None) -> dict | None:
        """Write a new record with its index entry, counters and `markers` (e.g. the first
        step's enqueue marker) in one transaction; `in_same_transaction(pipe)` queues more (the
        first step's task message, so no record exists without one).

        `idempotency=(key, body_hash)`: the key is claimed in that same transaction. Returns
        None when this call created the job, else the job an earlier request with the same key
        created (Conflict when its body differed); that job is readable, since its claim and
        its record were committed together. A claim whose job record is gone (expired,
        deleted) is free: this request creates its job and takes the claim over, atomically.

        A job created settled (a cache hit answered at intake) is counted and announced as
        settled in the same transaction, and never enters the open-jobs set."""
        tenant = job["tenant"]
        more = self._with_record(job, markers, in_same_transaction)
        key = self.keys.job(tenant, job["id"])
        if idempotency is None:
            # `results`: handed the transaction's replies (a GET queued there reads atomically)
            done = self.records.create(key, job, self.ttl_s, more)
            if not done[0]:
                raise Conflict("job id already exists", code="job_exists")
            if results is not None:
                results(done)
            return None
        idem_key, body_hash = idempotency
        while True:
            prior = self.records.claim_or_create(
                self.keys.idempotency(tenant, idem_key), {"hash": body_hash, "job_id": job["id"]},
                idempotency_ttl_s, key, job, self.ttl_s, more,
                claimed_key=lambda claim: self.keys.job(tenant, claim["job_id"]))
            if prior is None:
                return None
            if prior["hash"] != body_hash:
                raise Conflict("Idempotency-Key was already used with a different request body",
                               code="idempotency_key_reused", field="Idempotency-Key")
            try:
                return self.get(tenant, prior["job_id"])
            except NotFound:
                continue  # its record expired just now: the claim is free, take it over

    def _with_record(self, job: dict, markers: tuple[str, ...],
                     in_same_transaction: Callable[[Any], None] | None) -> Callable[[Any], None]:
        """What is committed with a new record: its index entry, its place among the open
        jobs, its first step's entry among the waiting steps (`jobs.lost_messages`), the
        counters, the `markers` and whatever the caller queues."""
        def more(pipe: Any) -> None:
            for key in markers:
                pipe.set(key, "1", ex=self.ttl_s)
            if in_same_transaction is not None:
                in_same_transaction(pipe)
            pipe.zadd(self.keys.jobs_index(job["tenant"]),
                      {job["id"]: int(job["_created_ts"] * 1000)})
            metrics.Recorder(pipe, self.keys.prefix).job_created(job)
            if job["status"] in TERMINAL:  # decided at intake (`cache.at_intake`)
                # Not announced: nobody can be long-polling a job whose id this request has
                # not answered yet, and a later wait finds it settled at once. An announcement
                # would wake every API process's subscriber for nothing, while the POST is
                # still answering.
                self.queue_settled(pipe, job, announce=False)
            else:
                pipe.sadd(self.keys.open_jobs(job["tenant"]), job["id"])  # until it settles
                # its first step waits for its message: swept if that message is lost
                lost_messages.queue_waiting(pipe, self.keys, job, job["tasks"][0])
        return more

    def creation(self, job: dict, *, markers: tuple[str, ...] = (),
                 in_same_transaction: Callable[[Any], None] | None = None) -> Creation:
        """`create`'s writes as plain commands, for a caller that commits them inside its own
        script (`jobs.admission`: the quotas, the policy and the record in one round trip).
        Recorded from a pipeline, so both ways write exactly the same keys."""
        commands = recorded(self.r, self._with_record(job, markers, in_same_transaction))
        return Creation(self.keys.job(job["tenant"], job["id"]), jsonwire.dumps(job), self.ttl_s,
                        commands)

    def get(self, tenant: str, job_id: str) -> dict:
        try:
            return self.records.get(self.keys.job(tenant, job_id))
        except RecordMissing:
            raise NotFound(f"no job {job_id!r}", code="job_not_found") from None

    def get_many(self, tenant: str, ids: list[str]) -> list[dict | None]:
        return self.records.get_many([self.keys.job(tenant, i) for i in ids])

    def update(self, tenant: str, job_id: str, fn: Callable[[dict], Any],
               in_same_transaction: SameTransaction | None = None) -> dict:
        """Apply `fn(job)` (mutating in place) atomically; returns the new job.

        `fn` may raise to abort without writing. Retries on concurrent modification.
        `in_same_transaction` queues more commands into the same MULTI (see `RedisRecords`)."""
        return self.update_returning(tenant, job_id, fn, in_same_transaction)[0]

    def update_returning(self, tenant: str, job_id: str, fn: Callable[[dict], Any],
                         in_same_transaction: SameTransaction | None = None) -> tuple[dict, Any]:
        """`update`, also returning what `fn` returned."""
        try:
            job, result, _ = self.records.update(self.keys.job(tenant, job_id), fn,
                                                 in_same_transaction=in_same_transaction,
                                                 results=False)
        except RecordMissing:
            raise NotFound(f"no job {job_id!r}", code="job_not_found") from None
        return job, result

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

    def settled_channel(self) -> str:
        return self.keys.settled_channel()

    def queue_settled(self, pipe: Any, job: dict, announce: bool = True) -> None:
        """Inside the transaction that settles `job`: count it, and announce it to long-polling
        readers (`GET /v1/jobs/<id>?wait=`), committing exactly when the settle does.
        `announce=False`: counted and off the open-jobs quota, not announced (a job created
        settled, which nobody can be waiting on yet)."""
        metrics.Recorder(pipe, self.keys.prefix).job_finished(job["status"])
        pipe.srem(self.keys.open_jobs(job["tenant"]), job["id"])  # the open-jobs quota
        if announce:
            pipe.publish(self.settled_channel(), f"{job['tenant']}/{job['id']}")

    def list(self, tenant: str, *, status: str | None, cursor: str | None,
             limit: int) -> tuple[list[dict], str | None]:
        """Newest first. The cursor is the last id seen: ids are time-ordered, so the next page
        starts strictly below its score. Expired records are pruned from the index as met."""
        idx = self.keys.jobs_index(tenant)
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
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(self.keys.job(tenant, job_id))
        pipe.zrem(self.keys.jobs_index(tenant), job_id)
        pipe.srem(self.keys.open_jobs(tenant), job_id)
        pipe.execute()


def public_view(job: dict) -> dict:
    """The job as clients see it (API answers, webhook bodies): dumped through the output
    schema, which sends only what it declares."""
    from mmservice.schemas.output import JOB_SCHEMA

    return JOB_SCHEMA.dump(job)
