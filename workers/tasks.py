"""One Celery task per job step (from the step registry) and the fan-out part task.

Tasks are thin: they hand ids to the pipeline with the process's services. Each step's task is
named `mms.<step>` and runs on the step's queue; the message carries the tenant and job id only.

A Redis error in a step (its record write, or a read the step needed) is not the step's result:
the task waits and runs the step again, in place, until Redis answers (backoff from
`MMS_STEP_REDIS_RETRY_BACKOFF_S`, doubled, at most 30 s; `MMS_STEP_REDIS_RETRY_MAX` times).
Steps are idempotent, so the re-run finds saved work. Why in place and not `task.retry`: the
broker is the same Redis; a retry message cannot be published while Redis hangs, and Celery
then rejects the message for good (seen under a 10 s SIGSTOP: the job stayed `running` with no
message left). Waiting in place keeps the message unacked; if even that runs out (or the ack
cannot be written), the broker's visibility timeout brings the message back.

Every execution of a task draws a token; its in-place re-runs keep it, so the step's record can
tell them from a second copy of the same message (`pipeline.run_step`).
"""
from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable

import redis
from celery import shared_task

from mmservice.jobs import fanout
from mmservice.jobs.pipeline import run_step
from mmservice.steps import registry
from workers.deps import get_deps

REDIS_ERRORS = (redis.ConnectionError, redis.TimeoutError)
log = logging.getLogger("mmservice.tasks")


def retry_countdown(cfg: dict, retries: int) -> float:
    """Exponential backoff from `MMS_STEP_REDIS_RETRY_BACKOFF_S`, capped at 30 s."""
    return min(30.0, float(cfg["STEP_REDIS_RETRY_BACKOFF_S"]) * 2 ** retries)


def through_redis_errors(cfg: dict, work: Callable[[], str], what: str,
                         pause: Callable[[float], None] = time.sleep) -> str:
    """`work()`, run again after each Redis error (at most `STEP_REDIS_RETRY_MAX` more times,
    pausing with the backoff in between); the last error propagates."""
    retries = int(cfg["STEP_REDIS_RETRY_MAX"])
    for attempt in range(retries + 1):
        try:
            return work()
        except REDIS_ERRORS as e:
            if attempt == retries:
                raise
            delay = retry_countdown(cfg, attempt)
            log.warning("Redis error in a task: running it again once Redis answers",
                        extra={"task": what, "error": type(e).__name__, "attempt": attempt + 1,
                               "delay_s": delay})
            pause(delay)  # a backoff between tries of a failing server, not a synchronisation
    raise AssertionError("unreachable")


def _step_task(step: registry.Step) -> None:
    @shared_task(name=step.task_name, acks_late=True)
    def task(tenant: str, job_id: str, _step: str = step.name) -> str:
        deps, token = get_deps(), secrets.token_hex(8)
        return through_redis_errors(
            deps.cfg, lambda: run_step(tenant, job_id, step.name, deps, token), step.task_name)


for _step in registry.STEPS:
    _step_task(_step)


@shared_task(name=registry.FANOUT_TASK, acks_late=True)
def fanout_part(tenant: str, job_id: str, step: str, part: str) -> str:
    deps, token = get_deps(), secrets.token_hex(8)
    return through_redis_errors(
        deps.cfg, lambda: fanout.run_part(deps, tenant, job_id, step, str(part), token),
        registry.FANOUT_TASK)

