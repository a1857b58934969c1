"""Tasks on the `webhooks` queue: one message per attempt, carrying only tenant + delivery id.

Why the task re-enqueues itself with a countdown instead of sleeping or using autoretry: a retry
can be hours away, and the delivery record (not the message) says which attempt is due, so a
duplicate or redelivered message finds the attempt claimed or done and does nothing.

Why a sweeper thread: with `MMS_WEBHOOK_LOCAL_FIRST_ATTEMPT` a first attempt is made by the
worker that settled the job, with no message behind it; if that worker dies mid-attempt, a
sweeper in any worker queues the delivery once the attempt's lease has run out.
"""
from __future__ import annotations

import logging
import threading

from celery import shared_task
from celery.signals import worker_ready

from mmservice.webhooks import QUEUE, events, settings
from mmservice.webhooks.events import run_attempt, sweep_inflight
from workers.deps import get_deps

log = logging.getLogger("mmservice.webhooks")


@shared_task(name="mms.deliver_webhook", acks_late=True, ignore_result=True)
def deliver_webhook(tenant: str, delivery_id: str) -> str:
    return run_attempt(tenant, delivery_id, get_deps())


def _sweeper() -> None:
    stop = threading.Event()
    while True:
        try:
            deps = get_deps()
            every = settings(deps.cfg).sweep_every_s
            sweep_inflight(deps)
        except Exception:  # noqa: BLE001 - housekeeping must never kill the worker
            log.exception("webhook in-flight sweep failed")
            every = 5.0
        stop.wait(every)


@worker_ready.connect
def _on_worker_ready(sender=None, **_kw) -> None:
    try:
        events.consumes_webhook_queue = QUEUE in set(sender.app.amqp.queues.consume_from)
        cfg = settings(sender.app.conf.mms)
        log.info("webhook first attempts", extra={"local": events.local_first(cfg),
                                                  "setting": cfg.local_first_attempt})
    except Exception:  # noqa: BLE001 - then first attempts go through the queue
        log.exception("webhook first-attempt mode not decided")
    threading.Thread(target=_sweeper, name="mms-webhook-sweeper", daemon=True).start()
