"""Per-process dependencies for tasks, built once on first use (never at import)."""
from __future__ import annotations

import threading

from mmservice import logs
from mmservice.blobs import blob_store_from_config
from mmservice.jobs.dispatch import make_enqueue_step
from mmservice.jobs.pipeline import QUEUES, Deps
from mmservice.jobs.store import JobStore
from mmservice.providers.registry import Registry
from mmservice.redis_conn import get_redis

_deps: Deps | None = None
_lock = threading.Lock()


def get_deps() -> Deps:
    global _deps
    with _lock:
        if _deps is None:
            from workers.celery_app import app

            cfg = app.conf.mms
            logs.setup(cfg["LOG_LEVEL"])
            r = get_redis(cfg["REDIS_URL"])
            _deps = Deps(cfg=cfg, store=JobStore(r, cfg["JOB_TTL_S"]),
                         blobs=blob_store_from_config(cfg), providers=Registry(cfg),
                         enqueue_step=make_enqueue_step(app, r, cfg["JOB_TTL_S"]),
                         on_terminal=_on_terminal,
                         extra={"celery": app,
                                # jobs waiting in the broker: micro-batching holds only then
                                "moderation_backlog": lambda: r.llen(QUEUES["moderate"])})
        return _deps


def _on_terminal(job: dict) -> None:
    """Hook for deliveries (webhooks) once a job settles."""
    try:
        from mmservice.webhooks.events import on_job_terminal
    except ImportError:
        return
    on_job_terminal(job, get_deps(), local_ok=True)  # a worker: may attempt in-process
