"""One Celery task per job step (from the step registry) and the fan-out part task.

Tasks are thin: they hand ids to the pipeline with the process's services. Each step's task is
named `mms.<step>` and runs on the step's queue; the message carries the tenant and job id only.
"""
from __future__ import annotations

from celery import shared_task

from mmservice.jobs import fanout
from mmservice.jobs.pipeline import run_step
from mmservice.steps import registry
from workers.deps import get_deps


def _step_task(step: registry.Step) -> None:
    @shared_task(name=step.task_name, acks_late=True)
    def task(tenant: str, job_id: str, _step: str = step.name) -> str:
        return run_step(tenant, job_id, step.name, get_deps())


for _step in registry.STEPS:
    _step_task(_step)


@shared_task(name=registry.FANOUT_TASK, acks_late=True)
def fanout_part(tenant: str, job_id: str, step: str, index: int) -> str:
    return fanout.run_part(get_deps(), tenant, job_id, step, int(index))
