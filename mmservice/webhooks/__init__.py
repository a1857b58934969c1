"""Signed webhooks (Standard Webhooks) for events: today a job reaching a terminal state.

Why a package of small modules: an event becomes a delivery (`emit`), a delivery is attempted
(`attempts`, one Celery message per attempt: `workers.tasks_webhooks` only loads dependencies and
calls it), retries come due (`due`), an operator redelivers (`redeliver`); records (`store`),
endpoint state (`endpoints`), signing, transport and the retry policy (`schedule`) change for
different reasons and are tested on their own. `wiring` is the one place that reads `Deps`.

Settings are declared, coerced and validated in `mmservice.config` like every other one;
`settings(cfg)` only gathers the webhook ones into a `WebhookSettings`.
`MMS_WEBHOOK_SWEEP_EVERY_S`: how often each worker's sweeper sends the attempts that are due.
`MMS_WEBHOOK_LOCAL_FIRST_ATTEMPT` and `MMS_WEBHOOK_LOCAL_SENDERS`: see `local_senders`.
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
    sweep_every_s: float = 1.0
    local_first_attempt: str = "auto"  # "auto" | "on" | "off"
    local_senders: int = 4

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
