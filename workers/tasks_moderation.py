"""Tasks on the `moderation` queue."""
from celery import shared_task

from mmservice.capabilities import moderate
from mmservice.jobs.pipeline import run_step
from workers.deps import get_deps


@shared_task(name="mms.moderate", acks_late=True)
def moderate_task(tenant: str, job_id: str, step: str = "moderate") -> str:
    return run_step(tenant, job_id, "moderate", get_deps(), {"moderate": moderate.run})
