"""The Celery app's settings, in one dict, built from the service's settings.

Late acks plus idempotent steps make a killed worker's job finish once (a step task retries
a Redis error itself, `workers.tasks`); prefetch 1 keeps a slow upstream call from hoarding
messages; results are ignored because job state lives in our job
store, never in a result backend. The API uses the app only to publish; the worker process
(`workers.celery_app`) gets the same app from the composition root and imports the task modules
named here (by name, so this package never imports `workers`).
"""
from __future__ import annotations

from celery import Celery

from mmservice.moderation.policy import default_thresholds

WORKER_MODULES = ("workers.tasks", "workers.tasks_webhooks", "workers.maintenance",
                  "workers.tasks_facade")


def make_celery(cfg: dict) -> Celery:
    default_thresholds(cfg)  # refuse review > block thresholds here, where API and worker start
    app = Celery("mmservice", broker=cfg["REDIS_URL"], include=list(WORKER_MODULES))
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_store_errors_even_if_ignored=False,
        result_backend=None,
        task_default_queue="moderation",
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=3,
        # kombu's Redis transport, fixed so a Redis crash cannot kill the worker (see the module).
        broker_transport="mmservice.broker_transport:Transport",
        broker_transport_options={
            # A killed worker's unacked messages (received, not started; or an ack that could
            # not be written) return to their queue after the visibility timeout. It is short
            # (a minute): a returned copy of a step or part that still runs under a live
            # worker does nothing (mmservice.jobs.recovery.held_elsewhere), and no message
            # carries a countdown. Running steps of a dead worker are re-run sooner by the
            # recovery sweep, which watches the worker's heartbeat.
            "visibility_timeout": int(cfg["BROKER_VISIBILITY_TIMEOUT_S"]),
            "unacked_restore_interval": float(cfg["BROKER_RESTORE_INTERVAL_S"]),
            "unacked_restore_throttle": 1,
            "socket_timeout": float(cfg["REDIS_TIMEOUT_S"]),
            "socket_connect_timeout": float(cfg["REDIS_TIMEOUT_S"])},
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0.1,
                                   "interval_step": 0.3, "interval_max": 1},
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
        broker_heartbeat=0,
    )
    app.conf.mms = cfg
    return app
