"""A job event's delivery lifecycle: create it once, run attempts, schedule retries, redeliver.

Why plain functions with an `enqueue` callable: the Celery task, the API (cancellations, manual
redelivery) and the tests all run the same code; only how a message is queued differs.
Why nothing here may raise into the caller: a job's state never depends on its webhook, so a
broken receiver, a bad secret or a full queue must not fail the step that settled the job.
"""
from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from mmservice import logs, metrics
from mmservice.errors import Conflict, MMSError, NotFound
from mmservice.jobs.store import TERMINAL, now_iso, public_view
from mmservice.webhooks import QUEUE, TASK_NAME, settings, signing, transport
from mmservice.webhooks.deliveries import FAILED, SKIPPED, SUCCEEDED, DeliveryStore
from mmservice.webhooks.schedule import DISABLE, RETRY, decide, is_client_error
from mmservice.webhooks.schedule import SUCCEEDED as OK

log = logging.getLogger("mmservice.webhooks")

Enqueue = Callable[[str, str, float], None]  # (tenant, delivery_id, countdown_s)


def celery_enqueue(celery_app) -> Enqueue:
    def enqueue(tenant: str, delivery_id: str, countdown: float) -> None:
        celery_app.send_task(TASK_NAME, args=[tenant, delivery_id], queue=QUEUE,
                             countdown=max(0.0, countdown) or None)
    return enqueue


def _store(deps) -> DeliveryStore:
    return DeliveryStore(deps.store.r, settings(deps.cfg).ttl_s)


def _enqueue(deps) -> Enqueue:
    return deps.extra.get("webhook_enqueue") or celery_enqueue(deps.extra["celery"])


def on_job_terminal(job: dict, deps, *, local_ok: bool = False) -> str | None:
    """Create the job's delivery (at most one per event type) and start its first attempt.

    The job is terminal and in hand, so the body is built and frozen here, written with the
    record in one round trip (`DeliveryStore.create_for_event`); the attempt reads nothing else.

    `local_ok` (a worker process, not an API request): when local first attempts are on (see
    `local_first`), the first attempt goes to this process's own sender threads
    (`LocalSenders`) instead of a Celery message, while one of them is free; otherwise, and for
    every retry, through the `webhooks` queue. Its record is created already claimed and in the
    in-flight set, in the same script: no message, no claim, no hop before the POST."""
    try:
        cfg = settings(deps.cfg)
        url = job.get("webhook_url") or cfg.default_url
        if not url or job.get("status") not in TERMINAL:
            return None
        store, enqueue = _store(deps), _enqueue(deps)
        event_type, now = f"job.{job['status']}", time.time()
        body = build_body(job, event_type, now)
        if local_ok and local_first(cfg) and senders.reserve(cfg.local_senders):
            try:
                c = store.create_claimed(job["tenant"], job["id"], event_type, url, body,
                                         lease_s=cfg.lease_s, secret_key=_secret_key(cfg),
                                         inflight=True, now=now)
            except BaseException:
                senders.unreserve()
                raise
            if c is not None:
                senders.submit(lambda: _local_attempt(store, enqueue, cfg, deps,
                                                      job["tenant"], c))
                return c.rec["id"]
            senders.unreserve()  # the event already has its delivery (and its own messages)
        rec, created = store.create_for_event(job["tenant"], job["id"], event_type, url, body,
                                              now=now)
        if created:
            enqueue(job["tenant"], rec["id"], 0)
            log.info("webhook scheduled", extra={"job_id": job["id"], "delivery_id": rec["id"],
                                                  "event": rec["type"]})
        return rec["id"]
    except Exception:
        log.exception("webhook not scheduled", extra={"job_id": job.get("id")})
        return None


# Set by the worker (workers.tasks_webhooks) once it knows its queues: "auto" makes first
# attempts locally only in a worker that consumes `webhooks` itself, i.e. one already meant to
# send webhooks (in docker-compose only worker-webhooks does; under `make run` the one worker).
consumes_webhook_queue = False


def local_first(cfg) -> bool:
    if cfg.local_first_attempt == "auto":
        return consumes_webhook_queue
    return cfg.local_first_attempt == "on"


def _secret_key(cfg) -> str | None:
    """The Redis key of the generated secret, when the attempt has to read it."""
    return None if cfg.secrets else signing.SECRET_KEY


def _local_attempt(store: DeliveryStore, enqueue: Enqueue, cfg, deps, tenant: str, c) -> None:
    """Make a first attempt claimed at creation. Only once it is recorded (and its retry, if
    any, queued) does the delivery leave the in-flight set: if this process dies before, the
    sweeper (`sweep_inflight`) queues it once its lease has run out."""
    rec = c.rec
    log.info("webhook attempt started locally", extra={"job_id": rec["job_id"],
                                                       "delivery_id": rec["id"]})
    _attempt(store, enqueue, cfg, deps, tenant, c)
    store.inflight_done(tenant, rec["id"])


def sweep_inflight(deps, *, now: float | None = None, limit: int = 100) -> int:
    """Queue the first attempts whose local sender died (lease run out, still in flight): the
    message claims the delivery again, marks the lost attempt interrupted and retries with the
    same `webhook-id`. Returns how many were queued. Safe to run in every worker at once."""
    store, enqueue = _store(deps), _enqueue(deps)
    n = 0
    for tenant, did in store.inflight_due(time.time() if now is None else now, limit):
        if not store.inflight_take(tenant, did):
            continue  # another sweeper took it
        try:
            enqueue(tenant, did, 0)
        except Exception:
            store.inflight_put_back(tenant, did)
            raise
        log.warning("webhook attempt lost with its worker: queued again",
                    extra={"delivery_id": did})
        n += 1
    return n


class LocalSenders:
    """A few daemon threads per worker process that make first attempts, so neither a Celery
    hop nor a pool thread (which a slow receiver would hold for up to the timeout) is spent on
    them. `reserve` fails when all are busy: that first attempt then goes through the queue."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reserved = self.started = 0
        self.work: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()

    def reserve(self, limit: int) -> bool:
        with self.lock:
            if self.reserved >= limit:
                return False
            self.reserved += 1
            if self.started < self.reserved:
                self.started += 1
                threading.Thread(target=self._run, name=f"mms-webhook-sender-{self.started}",
                                 daemon=True).start()
            return True

    def unreserve(self) -> None:
        with self.lock:
            self.reserved -= 1

    def submit(self, fn: Callable[[], None]) -> None:
        self.work.put(fn)

    def _run(self) -> None:
        while True:
            fn = self.work.get()
            try:
                fn()
            except Exception:  # recorded as in flight: the sweeper retries it
                log.exception("local webhook attempt failed")
            finally:
                self.unreserve()


senders = LocalSenders()


def build_body(job: dict, event_type: str, event_ts: float) -> str:
    when = datetime.fromtimestamp(event_ts, tz=UTC)
    payload = {"type": event_type,
               "timestamp": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
               "data": public_view(job)}
    return json.dumps(payload, separators=(",", ":"))


def _freeze_legacy_body(store: DeliveryStore, tenant: str, rec: dict, deps) -> dict:
    """A delivery created before bodies were frozen at creation has none: build it from the
    job now, once (the same `webhook-id` must always carry the same body)."""
    body = build_body(deps.store.get(tenant, rec["job_id"]), rec["type"], rec["_event_ts"])

    def keep(r: dict) -> None:
        r.setdefault("_body", body)
    return store.update(tenant, rec["id"], keep)[0]


def run_attempt(tenant: str, delivery_id: str, deps) -> str:
    """Handle one task message for a delivery. Returns what happened (for logs and tests).

    Before the POST: one GET and one script (claim, disabled check, generated secret)."""
    cfg = settings(deps.cfg)
    store, enqueue = _store(deps), _enqueue(deps)
    try:
        c = store.claim(tenant, delivery_id, lease_s=cfg.lease_s, secret_key=_secret_key(cfg))
    except NotFound:
        return "gone"
    verdict, wait, rec = c.verdict, c.wait, c.rec
    if verdict == "busy":  # maybe a crashed attempt: look again once its lease runs out
        enqueue(tenant, delivery_id, wait + 0.1)
        return "busy"
    if verdict == "early-unscheduled":  # its scheduler died before queueing the next attempt
        enqueue(tenant, delivery_id, wait)
        store.mark_enqueued(tenant, delivery_id, rec["_next_ts"])
        return "rescheduled"
    if verdict != "claimed":
        return verdict
    return _attempt(store, enqueue, cfg, deps, tenant, c)


def _attempt(store: DeliveryStore, enqueue: Enqueue, cfg, deps, tenant: str, c) -> str:
    """Make the attempt `c` claimed, record it, and schedule what comes next."""
    rec = c.rec
    delivery_id, n = rec["id"], rec["attempt_count"]
    ctx = {"job_id": rec["job_id"], "delivery_id": delivery_id, "attempt": n}
    logs.start(tenant=tenant, **ctx)

    def settle(status: str, error: dict):
        def change(r: dict) -> None:
            r.update(status=status, error=error, next_attempt_at=None)
        return change

    if "_body" not in rec:
        try:
            rec = _freeze_legacy_body(store, tenant, rec, deps)
        except NotFound:
            err = {"code": "job_not_found",
                   "message": "the job expired before its webhook was sent"}
            store.finish(tenant, delivery_id, n, {"outcome": FAILED, "error": err},
                         settle(FAILED, err))
            return FAILED
    disabled = c.disabled
    if disabled:
        err = {"code": "endpoint_disabled",
               "message": f"the endpoint answered 410 Gone at {disabled.get('at')} (delivery "
                          f"{disabled.get('delivery_id')}); deliveries to it are skipped until "
                          "one is retried by hand"}
        store.finish(tenant, delivery_id, n, {"outcome": SKIPPED, "error": err},
                     settle(SKIPPED, err))
        log.info("webhook skipped: endpoint disabled", extra=ctx)
        return SKIPPED

    try:
        secrets = [c.secret] if c.secret else signing.active_secrets(cfg.secrets, deps.store.r)
        headers = signing.headers(delivery_id, rec["_body"], secrets)
    except MMSError as e:
        res = transport.AttemptResult(error=e.to_dict())
    else:
        res = transport.post(rec["url"], rec["_body"].encode(), headers, allow=cfg.allowlist,
                             timeout_s=cfg.timeout_s)
    d = decide(status_code=res.status_code, error_code=(res.error or {}).get("code"),
               attempts_in_round=n - rec["_round_start"],
               client_errors_in_round=rec["_client_errors"], schedule=cfg.schedule_s,
               retry_after=res.retry_after, retry_after_max_s=cfg.retry_after_max_s,
               final_error=res.final)
    fields = {"status_code": res.status_code, "latency_ms": res.latency_ms, "error": res.error,
              "response_body": res.response_body, "finished_at": now_iso()}
    next_ts = time.time() + d.delay_s
    if d.outcome == OK:
        fields["outcome"], change = SUCCEEDED, settle(SUCCEEDED, None)  # type: ignore[arg-type]
    elif d.outcome == RETRY:
        fields.update(outcome="retry_scheduled", next_attempt_at=now_iso(next_ts))

        def change(r: dict) -> None:
            r.update(_next_ts=next_ts, next_attempt_at=now_iso(next_ts), _enqueued_for=None,
                     error=res.error)
            r["_client_errors"] = r["_client_errors"] + 1 if is_client_error(
                res.status_code) else 0
    elif d.outcome == DISABLE:
        err = {"code": "endpoint_gone",
               "message": "the receiver answered 410 Gone; the endpoint is disabled"}
        fields["outcome"], change = "endpoint_disabled", settle(FAILED, err)
        store.disable_endpoint(tenant, rec["url"], {"at": now_iso(), "delivery_id": delivery_id,
                                                    "job_id": rec["job_id"]})
    else:
        reason = d.reason if d.reason == "retries_exhausted" else (res.error or {}).get("code")
        err = {"code": reason or "webhook_failed",
               "message": _give_up_message(d.reason, res.error)}
        fields["outcome"], change = FAILED, settle(FAILED, err)
    rec = store.finish(tenant, delivery_id, n, fields, change)
    metrics.Recorder(deps.store.r).webhook_attempt(str(fields["outcome"]))
    log.info("webhook attempt", extra={**ctx, "status_code": res.status_code,
                                       "outcome": fields["outcome"],
                                       "error": (res.error or {}).get("code"),
                                       "latency_ms": res.latency_ms})
    if d.outcome == RETRY and rec["status"] == "pending" and rec["_next_ts"] == next_ts:
        enqueue(tenant, delivery_id, d.delay_s)
        store.mark_enqueued(tenant, delivery_id, next_ts)
    return fields["outcome"]  # type: ignore[return-value]


def _give_up_message(reason: str, error: dict | None) -> str:
    last = (error or {}).get("message", "")
    if reason == "retries_exhausted":
        return f"gave up after the last scheduled retry; last error: {last}"
    return f"not retried: {last}" if last else "not retried"


def redeliver(tenant: str, job_id: str, delivery_id: str, deps) -> dict:
    """Start a new round of attempts on the same delivery (same `webhook-id`, same body). An
    operator asking for it also re-enables an endpoint a 410 disabled."""
    store = _store(deps)
    if store.get(tenant, delivery_id)["job_id"] != job_id:
        raise NotFound(f"no delivery {delivery_id!r} for job {job_id!r}",
                       code="delivery_not_found")
    now = time.time()

    def restart(r: dict) -> None:
        if r["_lease_until"] > now:
            raise Conflict("an attempt of this delivery is in flight; retry once it is recorded",
                           code="delivery_in_flight")
        r.update(status="pending", error=None, _round_start=r["attempt_count"],
                 _client_errors=0, _next_ts=now, next_attempt_at=now_iso(now),
                 _enqueued_for=None, updated_at=now_iso(now))
        r["manual_retries"] = r.get("manual_retries", 0) + 1

    rec = store.update(tenant, delivery_id, restart)[0]
    store.enable_endpoint(tenant, rec["url"])
    _enqueue(deps)(tenant, delivery_id, 0)
    store.mark_enqueued(tenant, delivery_id, now)
    log.info("webhook redelivery requested", extra={"job_id": job_id,
                                                    "delivery_id": delivery_id})
    return rec
