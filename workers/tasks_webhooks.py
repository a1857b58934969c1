"""Tasks on the `webhooks` queue: one message per attempt, carrying only tenant + delivery id.

Why the task re-enqueues itself with a countdown instead of sleeping or using autoretry: a retry
can be hours away, and the delivery record (not the message) says which attempt is due, so a
duplicate or redelivered message finds the attempt claimed or done and does nothing.
"""
from celery import shared_task

from mmservice.webhooks.events import run_attempt
from workers.deps import get_deps


@shared_task(name="mms.deliver_webhook", acks_late=True, ignore_result=True)
def deliver_webhook(tenant: str, delivery_id: str) -> str:
    return run_attempt(tenant, delivery_id, get_deps())
