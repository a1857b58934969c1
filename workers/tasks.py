"""One Celery task per job step (from the step registry) and the fan-out part task.

Tasks are thin: they hand ids to the pipeline with the process's services. Each step's task is
named `mms.<step>` and runs on the step's queue; the message carries the tenant and job id only.

A Redis error in a step (its record write, or a read the step needed) is not the step's result:
the task is retried (a new message is published with a backoff, then the old one is acked), so
the step runs again once Redis answers; steps are idempotent, so the re-run finds saved work.
Without this, the failed task would be acked (late ack acks failures too) and the job would stay
`running` with no message left to finish it.
"""
from __future__ import annotations

from typing import Any

import redis
from celery import shared_task

from mmservice.jobs import fanout
from mmservice.jobs.pipeline import run_step
from mmservice.steps import registry
from workers.deps import get_deps

REDIS_ERRORS = (redis.ConnectionError, redis.TimeoutError)


def retry_countdown(cfg: dict, retries: int) -> float:
    """Exponential backoff from `MMS_STEP_REDIS_RETRY_BACKOFF_S`, capped at 30 s."""
    return min(30.0, float(cfg["STEP_REDIS_RETRY_BACKOFF_S"]) * 2 ** retries)


def _retry_on_redis_error(task: Any, exc: Exception) -> Exception:
    cfg = get_deps().cfg
    return task.retry(exc=exc, countdown=retry_countdown(cfg, task.request.retries),
                      max_retries=int(cfg["STEP_REDIS_RETRY_MAX"]))


def _step_task(step: registry.Step) -> None:
    @shared_task(name=step.task_name, acks_late=True, bind=True)
    def task(self: Any, tenant: str, job_id: str, _step: str = step.name) -> str:
        try:
            return run_step(tenant, job_id, step.name, get_deps())
        except REDIS_ERRORS as e:
            raise _retry_on_redis_error(self, e) from e


for _step in registry.STEPS:
    _step_task(_step)


@shared_task(name=registry.FANOUT_TASK, acks_late=True, bind=True)
def fanout_part(self: Any, tenant: str, job_id: str, step: str, index: int) -> str:
    try:
        return fanout.run_part(get_deps(), tenant, job_id, step, int(index))
    except REDIS_ERRORS as e:
        raise _retry_on_redis_error(self, e) from e
