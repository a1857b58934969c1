"""Putting step tasks on their queues. Messages carry the tenant and job id, nothing else.

Why an enqueue-once marker: a step is enqueued by exactly one writer (the API for the first step,
the finishing step for the next). A re-delivered step message that finds its work done calls
`advance` again; the marker keeps that from enqueuing the next step twice. Crash recovery is the
broker's job (`acks_late` redelivers the unacked message), not a second enqueue.
"""
from __future__ import annotations

from typing import Any

from mmservice.jobs.pipeline import QUEUES

TASK_NAMES = {"transcribe": "mms.transcribe", "moderate": "mms.moderate",
              "describe": "mms.describe", "speak": "mms.speak"}


def marker_key(job: dict, step: str) -> str:
    return f"mms:t:{job['tenant']}:enq:{job['id']}:{step}"


def make_enqueue_step(celery_app: Any, redis_client, ttl_s: int):
    def enqueue_step(job: dict, step: str, *, marked: bool = False) -> None:
        """`marked`: the caller already wrote the marker (the API does, with the job record)."""
        marker = marker_key(job, step)
        if not marked and not redis_client.set(marker, 1, nx=True, ex=ttl_s):
            return
        first = step == job["tasks"][0]
        try:
            celery_app.send_task(TASK_NAMES[step], args=[job["tenant"], job["id"], step],
                                 task_id=job["id"] if first else f"{job['id']}.{step}",
                                 queue=QUEUES[step])
        except Exception:
            redis_client.delete(marker)
            raise
    return enqueue_step
