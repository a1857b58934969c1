"""Signed webhooks (Standard Webhooks) for jobs that reach a terminal state.

Why a package of small modules: signing, storage, the retry policy and the HTTP attempt change
for different reasons and are tested on their own; `events` ties them together and the Celery
task (`workers.tasks_webhooks`) only loads dependencies and calls it.

Settings are declared, coerced and validated in `mmservice.config` like every other one;
`settings(cfg)` only gathers the webhook ones into a `WebhookSettings`.

First attempts made by the worker that settled the job (`MMS_WEBHOOK_LOCAL_FIRST_ATTEMPT`):
`auto` (default) means on in a worker that consumes the `webhooks` queue itself (the one worker of
`make run`), off in the others (docker-compose's per-queue workers: there only worker-webhooks
sends webhooks, so egress and its thread budget stay where the operator put them). When on, the
attempt is made by one of `MMS_WEBHOOK_LOCAL_SENDERS` (4) threads of that process, never by a pool
thread: a slow receiver holds a sender for up to `MMS_WEBHOOK_TIMEOUT_S`, and while every sender
is busy first attempts simply go through the queue. It saves the Celery publish, the hop and the
claim (about 3 ms at p50 and 1-2 ms of worker CPU per webhook in bench/e2e_latency.py). A process
that dies mid-attempt leaves the delivery in an in-flight set; a sweeper in every worker queues
it once the attempt's lease (2 x timeout + 5 s) has run out, every `MMS_WEBHOOK_SWEEP_EVERY_S` (5).
Retries always go through the `webhooks` queue.
"""
from __future__ import annotations

from dataclasses import dataclass

from mmservice.config import seconds_list

QUEUE = "webhooks"
TASK_NAME = "mms.deliver_webhook"

# Standard Webhooks: the first attempt is immediate, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
DEFAULT_SCHEDULE_S = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)


@dataclass(frozen=True)
class WebhookSettings:
    secrets: tuple[str, ...]
    allowlist: str
    default_url: str
    timeout_s: float
    schedule_s: tuple[float, ...]
    retry_after_max_s: float
    ttl_s: int
    local_first_attempt: str = "auto"  # "auto" | "on" | "off"
    local_senders: int = 4
    sweep_every_s: float = 5.0

    @property
    def lease_s(self) -> float:
        """How long a claimed attempt is presumed alive: past it, another message may retry."""
        return 2 * self.timeout_s + 5


def settings(cfg: dict) -> WebhookSettings:
    """The webhook view of a `config.load()`ed cfg (validated and normalized there)."""
    return WebhookSettings(
        secrets=tuple(i for i in cfg["WEBHOOK_SECRETS"].split(",") if i),
        allowlist=cfg["WEBHOOK_ALLOWLIST"],
        default_url=cfg["WEBHOOK_DEFAULT_URL"],
        timeout_s=cfg["WEBHOOK_TIMEOUT_S"],
        schedule_s=seconds_list(cfg["WEBHOOK_RETRY_SCHEDULE_S"]) or DEFAULT_SCHEDULE_S,
        retry_after_max_s=cfg["WEBHOOK_RETRY_AFTER_MAX_S"],
        ttl_s=cfg["JOB_TTL_S"],
        local_first_attempt=cfg["WEBHOOK_LOCAL_FIRST_ATTEMPT"],
        local_senders=cfg["WEBHOOK_LOCAL_SENDERS"],
        sweep_every_s=cfg["WEBHOOK_SWEEP_EVERY_S"],
    )
