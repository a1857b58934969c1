"""Counters and histograms recorded as the work happens, into a few fixed Redis hashes.

Why Redis and not prometheus_client's in-process values: the API replicas and the Celery workers
are separate processes, and a scrape reaches one API replica. Every process adds into the same
hashes (HINCRBY / HINCRBYFLOAT), so any replica reports the whole service, and a scrape reads
a handful of fixed keys (`KEYS` below, one HGETALL each) instead of scanning the keyspace.

Why the recorder takes a client or a pipeline: a job's creation and settling are counted inside
the transaction that writes the record, so a count commits exactly when the write does and costs
no round trip of its own. Recording never fails the work: errors are logged at debug and dropped.

A histogram is one hash: per label set, one counter per bucket (not cumulative: an observation
adds to one field), plus `sum` and `count`; the collector makes the buckets cumulative.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import redis

from mmservice.keys import DEFAULT as DEFAULT_KEYS
from mmservice.keys import Keys

log = logging.getLogger("mmservice.metrics")

# One Redis hash each, named by the key module (`Keys.metrics(name)`).
JOBS_CREATED = "jobs_created"  # field: input kind
TASKS_CREATED = "job_tasks_created"  # field: task (one per task a job asks for)
JOBS_FINISHED = "jobs_finished"  # field: terminal status
UPSTREAM_ERRORS = "upstream_errors"  # field: capability|code|status
WEBHOOK_ATTEMPTS = "webhook_attempts"  # field: outcome
STEP_SECONDS = "step_seconds"  # histogram; labels: step|provider
BATCH_SIZE = "moderation_batch_size"  # histogram; no labels
UPSTREAM_BREAKER = "upstream_breaker"  # gauge (HSET, not added): capability|upstream -> state
UPSTREAM_BREAKER_OPENED = "upstream_breaker_opened"  # field: capability|upstream
AUTH_EVENTS = "auth_events"  # field: event|tenant (key created/rotated/revoked, refusals)
POLICY_SHADOW = "policy_shadow"  # field: tenant|policy|agree or disagree (with the live verdict)
RESULT_CACHE = "result_cache"  # field: task|outcome (hit, miss), one per looked-up item
LIST_FLOOD = "list_flood"  # field: tenant|list (an item went over its flood_per_minute)
KEYS = (AUTH_EVENTS, JOBS_CREATED, TASKS_CREATED, JOBS_FINISHED, UPSTREAM_ERRORS, WEBHOOK_ATTEMPTS,
        STEP_SECONDS, BATCH_SIZE, UPSTREAM_BREAKER, UPSTREAM_BREAKER_OPENED, POLICY_SHADOW,
        RESULT_CACHE, LIST_FLOOD)

STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                120.0, 300.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
SEP = "|"  # between label values in a field name; label values never contain it (see _value)


def _value(v: Any) -> str:
    return ("none" if v is None or v == "" else str(v)).replace(SEP, "/")[:64]


def field(*values: Any) -> str:
    return SEP.join(_value(v) for v in values)


def bucket_for(value: float, buckets: Iterable[float]) -> str:
    """The field suffix of the first bucket whose upper bound holds `value` (`+Inf` past all)."""
    for b in buckets:
        if value <= b:
            return repr(float(b))
    return "+Inf"


class Recorder:
    """Adds to the fixed hashes through `target`: a Redis client (the commands go in one round
    trip) or an open pipeline/transaction (they are queued into it; the caller executes).
    `prefix` follows a JobStore's own namespace (tests isolate themselves with one)."""

    def __init__(self, target: Any, prefix: str = "mms"):
        self.target = target
        self.keys = Keys(prefix)

    def _write(self, ops: Callable[[], Iterable[tuple[str, str, str, Any]]]) -> None:
        """Queue or send the increments `ops()` lists; nothing here may raise."""
        try:
            queued = isinstance(self.target, redis.client.Pipeline)
            pipe = self.target if queued else self.target.pipeline(transaction=False)
            for op, metric, name, amount in ops():
                key = self.keys.metrics(metric)
                if op == "f":
                    pipe.hincrbyfloat(key, name, amount)
                elif op == "s":
                    pipe.hset(key, name, amount)
                else:
                    pipe.hincrby(key, name, int(amount))
            if not queued:
                pipe.execute()
        except Exception:  # noqa: BLE001 - a metric must never fail the work it measures
            log.debug("metric not recorded", exc_info=True)

    def _observe(self, key: str, labels: str, value: float, buckets) -> list:
        b = bucket_for(value, buckets)
        pre = labels + SEP if labels else ""
        return [("i", key, f"{pre}le={b}", 1), ("f", key, f"{pre}sum", value),
                ("i", key, f"{pre}count", 1)]

    # -- what the service records -------------------------------------------------------------
    def job_created(self, job: dict) -> None:
        self._write(lambda: [("i", JOBS_CREATED, field(job["input"]["kind"]), 1)]
                    + [("i", TASKS_CREATED, field(t), 1) for t in job.get("tasks") or []])

    def job_finished(self, status: str) -> None:
        self._write(lambda: [("i", JOBS_FINISHED, field(status), 1)])

    def step_done(self, step: str, result: Any, seconds: float) -> None:
        """`result` is what the step function returned (its `provider` labels the series)."""
        def ops() -> list:
            provider = result.get("provider") if isinstance(result, dict) else None
            return self._observe(STEP_SECONDS, field(step, provider), seconds, STEP_BUCKETS)
        self._write(ops)

    def upstream_error(self, capability: str, code: str, status: int | None) -> None:
        self._write(lambda: [("i", UPSTREAM_ERRORS, field(capability, code, status), 1)])

    def breaker_state(self, capability: str, upstream: str, state: str, opened: bool) -> None:
        """An upstream's circuit breaker changed state (see providers/breaker.py)."""
        def ops() -> list:
            out = [("s", UPSTREAM_BREAKER, field(capability, upstream), state)]
            return out + ([("i", UPSTREAM_BREAKER_OPENED, field(capability, upstream), 1)]
                          if opened else [])
        self._write(ops)

    def webhook_attempt(self, outcome: str) -> None:
        self._write(lambda: [("i", WEBHOOK_ATTEMPTS, field(outcome), 1)])

    def auth_event(self, event: str, tenant: str | None) -> None:
        self._write(lambda: [("i", AUTH_EVENTS, field(event, tenant or ""), 1)])

    def shadow_verdict(self, tenant: str, policy: str, *, agree: bool) -> None:
        """A shadow policy's verdict on a job, compared with the live one."""
        outcome = "agree" if agree else "disagree"
        self._write(lambda: [("i", POLICY_SHADOW, field(tenant, policy, outcome), 1)])

    def cache_lookups(self, task: str, hits: int, misses: int) -> None:
        """Result-cache lookups of one step (`mmservice.cache`): items found and not found."""
        self._write(lambda: [("i", RESULT_CACHE, field(task, outcome), n)
                             for outcome, n in (("hit", hits), ("miss", misses)) if n])

    def list_flood(self, tenant: str, list_name: str) -> None:
        """A list item went over its list's flood_per_minute (once per item per minute)."""
        self._write(lambda: [("i", LIST_FLOOD, field(tenant, list_name), 1)])

    def moderation_batch(self, size: int) -> None:
        self._write(lambda: self._observe(BATCH_SIZE, "", float(size), BATCH_BUCKETS))


def for_cfg(cfg: dict) -> Recorder:
    """The recorder of a process that has settings but no client at hand (the retry layer,
    moderation batching): the process's cached client for `REDIS_URL`."""
    from mmservice.redis_conn import get_redis

    url = cfg.get("REDIS_URL")
    return Recorder(get_redis(url, cfg.get("REDIS_TIMEOUT_S"))) if url else NULL


class _Null(Recorder):
    def __init__(self):
        super().__init__(None)

    def _write(self, ops) -> None:
        return None


NULL = _Null()  # for a component built without settings (tests that build one by hand)


# -- reading (the API's collector) ------------------------------------------------------------
def read(r: redis.Redis, queues: Iterable[str]) -> dict:
    """Every hash, and each queue's depth and oldest message, in one round trip."""
    queues = list(queues)
    pipe = r.pipeline(transaction=False)
    for name in KEYS:
        pipe.hgetall(DEFAULT_KEYS.metrics(name))
    for q in queues:
        pipe.llen(q)
        pipe.lindex(q, -1)  # kombu LPUSHes and BRPOPs: the tail is the next (oldest) message
    out = pipe.execute()
    hashes = {k: {f.decode(): v.decode() for f, v in h.items()} for k, h in zip(KEYS, out)}
    rest = out[len(KEYS):]
    return {"hashes": hashes,
            "queues": {q: (int(rest[2 * i]), rest[2 * i + 1]) for i, q in enumerate(queues)}}
