"""Signed webhooks (Standard Webhooks) for events: today a job reaching a terminal state.

Why a package of small modules: an event becomes a delivery (`emit`), a delivery is attempted
(`attempts`, one Celery message per attempt: `workers.tasks_webhooks` only loads dependencies and
calls it), retries come due (`due`), an operator redelivers (`redeliver`); records (`store`),
endpoint state (`endpoints`), signing, transport and the retry policy (`schedule`) change for
different reasons and are tested on their own. `wiring` is the one place that reads `Deps`.

Settings are read here with typed defaults rather than added to `config.DEFAULTS`, because
environment values arrive as strings and tests pass native values: one place coerces both.
`MMS_WEBHOOK_SWEEP_EVERY_S` (1): how often each worker's sweeper sends the attempts that are due.
`MMS_WEBHOOK_LOCAL_FIRST_ATTEMPT` and `MMS_WEBHOOK_LOCAL_SENDERS`: see `local_senders`.
"""
from __future__ import annotations

from dataclasses import dataclass

from mmservice.errors import Invalid

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


def _items(raw) -> list[str]:
    if raw is None:
        return []
    if isinstance(raw, (list, tuple)):
        return [str(i).strip() for i in raw if str(i).strip()]
    return [i.strip() for i in str(raw).split(",") if i.strip()]


def _number(cfg: dict, key: str, default: float) -> float:
    raw = cfg.get(key, default)
    try:
        value = float(raw if raw not in (None, "") else default)
    except (TypeError, ValueError):
        raise Invalid(f"MMS_{key} must be a number of seconds", code="invalid_setting",
                      field=f"MMS_{key}") from None
    if value < 0:
        raise Invalid(f"MMS_{key} must not be negative", code="invalid_setting",
                      field=f"MMS_{key}")
    return value


def _auto_flag(cfg: dict, key: str) -> str:
    raw = cfg.get(key, "auto")
    text = ("on" if raw else "off") if isinstance(raw, bool) else str(raw).strip().lower()
    if text in ("", "none", "auto"):
        return "auto"
    if text in ("1", "true", "yes", "on"):
        return "on"
    if text in ("0", "false", "no", "off"):
        return "off"
    raise Invalid(f"MMS_{key} must be auto, true or false", code="invalid_setting",
                  field=f"MMS_{key}")


def settings(cfg: dict) -> WebhookSettings:
    raw_schedule = _items(cfg.get("WEBHOOK_RETRY_SCHEDULE_S"))
    try:
        schedule = tuple(float(s) for s in raw_schedule) or DEFAULT_SCHEDULE_S
    except ValueError:
        raise Invalid("MMS_WEBHOOK_RETRY_SCHEDULE_S must be comma-separated seconds",
                      code="invalid_setting", field="MMS_WEBHOOK_RETRY_SCHEDULE_S") from None
    if any(s < 0 for s in schedule):
        raise Invalid("MMS_WEBHOOK_RETRY_SCHEDULE_S must not hold negative delays",
                      code="invalid_setting", field="MMS_WEBHOOK_RETRY_SCHEDULE_S")
    allow = cfg.get("WEBHOOK_ALLOWLIST") or ""
    return WebhookSettings(
        secrets=tuple(_items(cfg.get("WEBHOOK_SECRETS"))),
        allowlist=",".join(_items(allow)),
        default_url=str(cfg.get("WEBHOOK_DEFAULT_URL") or "").strip(),
        timeout_s=_number(cfg, "WEBHOOK_TIMEOUT_S", 15.0) or 15.0,
        schedule_s=schedule,
        retry_after_max_s=_number(cfg, "WEBHOOK_RETRY_AFTER_MAX_S", 3600.0),
        ttl_s=int(cfg.get("JOB_TTL_S") or 7 * 24 * 3600),
        sweep_every_s=_number(cfg, "WEBHOOK_SWEEP_EVERY_S", 1.0) or 1.0,
        local_first_attempt=_auto_flag(cfg, "WEBHOOK_LOCAL_FIRST_ATTEMPT"),
        local_senders=int(_number(cfg, "WEBHOOK_LOCAL_SENDERS", 4)),
    )
