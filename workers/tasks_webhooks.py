"""Tasks on the `webhooks` queue: one message per attempt, carrying only tenant + delivery id,
and the sweeper thread that sends those messages when a retry comes due.

Why no countdown messages and no autoretry: a retry can be hours away, longer than the broker
keeps an unacknowledged message invisible; the delivery record says which attempt is due and the
due-time set (`mmservice.webhooks.due`) says when, so a duplicate message does nothing.
"""
from __future__ import annotations

import logging
import threading

from celery import shared_task
from celery.signals import worker_ready

from mmservice.webhooks import QUEUE, local_senders, settings
from mmservice.webhooks.attempts import run_attempt
from mmservice.webhooks.due import sweep
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
            sweep(deps)
        except Exception:
            log.exception("webhook due sweep failed")
            every = 5.0
        stop.wait(every)


@worker_ready.connect
def _on_worker_ready(sender=None, **_kw) -> None:
    try:
        local_senders.consumes_webhook_queue = QUEUE in set(sender.app.amqp.queues.consume_from)
        cfg = settings(sender.app.conf.mms)
        log.info("webhook first attempts", extra={"local": local_senders.enabled(cfg),
                                                  "setting": cfg.local_first_attempt})
    except Exception:  # then first attempts go through the queue
        log.exception("webhook first-attempt mode not decided")
    threading.Thread(target=_sweeper, name="mms-webhook-sweeper", daemon=True).start()
