"""First attempts made by the worker that settled the job, from a few sender threads of its own.

Why it exists: it saves the first attempt's Celery publish, hop and claim message, which is most
of the webhook latency figure (the A/B run in BENCHMARKS.md, "Webhook first attempts: local or
queued"). Why it is fenced here: it is the only other way an attempt starts. `emit` calls
`start` once; everything else (retries, redelivery, and the recovery of an attempt whose sender
died, which the due-time set brings back after the claim's lease) is the one queued path.

`MMS_WEBHOOK_LOCAL_FIRST_ATTEMPT`: `auto` (default) is on in a worker that consumes the
`webhooks` queue itself (the one worker of `make run`; `workers.tasks_webhooks` tells this module
at start), off elsewhere (docker-compose's per-queue workers: there only worker-webhooks sends
webhooks, so egress and its thread budget stay where the operator put them); `on`; `off`. The
attempt runs on one of `MMS_WEBHOOK_LOCAL_SENDERS` (4) threads, never a pool thread (a slow
receiver holds a sender for up to the timeout); while all are busy, first attempts are queued.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from mmservice.webhooks import WebhookSettings
from mmservice.webhooks.attempts import attempt
from mmservice.webhooks.store import CLAIMED
from mmservice.webhooks.wiring import Hooks

log = logging.getLogger("mmservice.webhooks")

# Set by `workers.tasks_webhooks` once the worker knows its queues ("auto" reads it).
consumes_webhook_queue = False


def enabled(cfg: WebhookSettings) -> bool:
    if cfg.local_first_attempt == "auto":
        return consumes_webhook_queue
    return cfg.local_first_attempt == "on"


def start(h: Hooks, tenant: str, delivery_id: str, *, local_ok: bool) -> bool:
    """Start a just-created delivery's first attempt on a sender thread of this process.
    False: not here (an API process, off, or every sender busy): the caller queues it."""
    if not (local_ok and enabled(h.cfg) and senders.reserve(h.cfg.local_senders)):
        return False
    try:
        c = h.store.claim(tenant, delivery_id, lease_s=h.cfg.lease_s, now=time.time(),
                          reads=lambda pipe, rec: h.endpoints.queue_reads(pipe, tenant,
                                                                          rec["url"]))
    except BaseException:
        senders.unreserve()
        raise
    if c.outcome != CLAIMED:  # a message got there first: it owns the attempt
        senders.unreserve()
        return True
    log.info("webhook attempt started locally", extra={"delivery_id": delivery_id})
    senders.submit(lambda: attempt(h, tenant, c))
    return True


class Senders:
    """Daemon threads started on demand, up to the limit `reserve` is given."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reserved = self.started = 0
        self.work: queue.SimpleQueue[Callable[[], object]] = queue.SimpleQueue()

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

    def submit(self, fn: Callable[[], object]) -> None:
        self.work.put(fn)

    def _run(self) -> None:
        while True:
            fn = self.work.get()
            try:
                fn()
            except Exception:  # the claim's due time brings the attempt back
                log.exception("local webhook attempt failed")
            finally:
                self.unreserve()


senders = Senders()
