"""Where a tenant's webhooks go and in what state that endpoint is: its URL, its disabled flag,
the secret that signs for it.

Why a module of its own: the URL comes from the event (a job's `webhook_url`) or the tenant's
default (`WEBHOOK_DEFAULT_URL`, per tenant), the secrets are the tenant's (`WEBHOOK_SECRETS`
per tenant, else one generated per tenant), and the 410 disable state is per (tenant, URL);
attempts and redelivery ask this module rather than reading keys themselves.
"""
from __future__ import annotations

import json
from typing import Any

import redis

from mmservice.keys import Keys
from mmservice.webhooks import WebhookSettings


class Endpoints:
    def __init__(self, r: redis.Redis, keys: Keys, cfg: WebhookSettings):
        self.r, self.keys, self.cfg = r, keys, cfg

    def url_for(self, tenant: str, asked: str | None) -> str:
        """The URL an event goes to: the one it names, else the default (empty: none)."""
        return (asked or self.cfg.default_url or "").strip()

    # -- read with a delivery's claim ------------------------------------------------------
    def queue_reads(self, pipe: Any, tenant: str, url: str) -> None:
        """Queue, into an attempt's claim transaction, what the attempt needs to know: whether
        the endpoint is disabled and, with no configured secrets, the generated one."""
        pipe.get(self.keys.endpoint_disabled(tenant, url))
        if not self.cfg.secrets:
            pipe.get(self.keys.webhook_secret(tenant))

    def parse_reads(self, values: list) -> tuple[dict | None, str | None]:
        """(disable record or None, generated secret or None) from `queue_reads`' results."""
        disabled = json.loads(values[0]) if values and values[0] else None
        secret = None
        if not self.cfg.secrets and len(values) > 1 and values[1]:
            secret = values[1].decode() if isinstance(values[1], bytes) else values[1]
        return disabled, secret

    # -- the 410 state ---------------------------------------------------------------------
    def disable(self, pipe: Any, tenant: str, url: str, info: dict) -> None:
        """No expiry: 410 Gone means gone, until an operator redelivers by hand."""
        pipe.set(self.keys.endpoint_disabled(tenant, url), json.dumps({"url": url, **info}))

    def enable(self, pipe: Any, tenant: str, url: str) -> None:
        pipe.delete(self.keys.endpoint_disabled(tenant, url))
