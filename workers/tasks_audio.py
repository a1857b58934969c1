"""Tasks on the `audio` queue: transcription (whole clips and chunks) and speech synthesis."""
from celery import shared_task

from mmservice.capabilities import speak, transcribe
from mmservice.jobs.pipeline import run_step
from workers.deps import get_deps


@shared_task(name="mms.transcribe", acks_late=True)
def transcribe_task(tenant: str, job_id: str, step: str = "transcribe") -> str:
    return run_step(tenant, job_id, "transcribe", get_deps(), {"transcribe": transcribe.run})


@shared_task(name="mms.transcribe_chunk", acks_late=True)
def transcribe_chunk_task(tenant: str, job_id: str, index: int) -> str:
    return transcribe.run_chunk(tenant, job_id, int(index), get_deps())


@shared_task(name="mms.speak", acks_late=True)
def speak_task(tenant: str, job_id: str, step: str = "speak") -> str:
    return run_step(tenant, job_id, "speak", get_deps(), {"speak": speak.run})
