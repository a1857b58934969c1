"""The facade's hand-off task: one synchronous OpenAI-compatible call the API gave a worker
because its provider is local (`mmservice.facade.calls`). Not acked late: the API waits for the
reply for a bounded time, so a copy delivered again after a crash would answer nobody."""
from __future__ import annotations

from celery import shared_task

from mmservice.facade.calls import TASK, serve
from workers.deps import get_deps


@shared_task(name=TASK, acks_late=False)
def facade_call(call_id: str) -> str:
    return serve(get_deps(), call_id)
