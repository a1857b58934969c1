"""Baseline 2: a bare Celery app with one no-op task, on the same Redis server as mmservice
(broker on db 0, results on db 1), run under the same pool as mmservice's worker.

`celery -A bench._celery_noop worker --pool threads -c 8`; the benchmark calls
`noop.apply_async().get()`: publish, a worker picks it up, runs nothing, stores the result, the
caller is told (Redis pub/sub). That is the least any Celery-based service adds to a job.
"""
from __future__ import annotations

import os

from celery import Celery

_url = os.environ.get("MMS_REDIS_URL", "redis://127.0.0.1:6379/0")
app = Celery("bench_noop", broker=_url, backend=_url.rsplit("/", 1)[0] + "/1")
app.conf.update(task_default_queue="bench-noop", worker_prefetch_multiplier=1,
                task_serializer="json", accept_content=["json"], result_serializer="json",
                broker_connection_retry_on_startup=True, worker_hijack_root_logger=False,
                worker_send_task_events=False, task_send_sent_event=False, broker_heartbeat=0)


@app.task(name="bench.noop")
def noop() -> None:
    return None
