"""Tasks on the `vision` queue."""
from celery import shared_task

from mmservice.capabilities import describe
from mmservice.jobs.pipeline import run_step
from workers.deps import get_deps


@shared_task(name="mms.describe", acks_late=True)
def describe_task(tenant: str, job_id: str, step: str = "describe") -> str:
    return run_step(tenant, job_id, "describe", get_deps(), {"describe": describe.run})
