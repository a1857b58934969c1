"""What the webhook code takes from the service's `Deps`, in one place.

Why: the rest of the package works on `Hooks` (settings, delivery store, endpoints, a way to send
an attempt's message) and never reaches into `Deps`; when the composition root renames what it
holds (the Redis client, the task sender), only this module changes.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mmservice.jobs.deps import Deps
from mmservice.webhooks import QUEUE, TASK_NAME, WebhookSettings, settings
from mmservice.webhooks.endpoints import Endpoints
from mmservice.webhooks.store import DeliveryStore

Send = Callable[[str, str], None]  # (tenant, delivery_id): queue one attempt's message now


@dataclass(frozen=True)
class Hooks:
    cfg: WebhookSettings
    store: DeliveryStore
    endpoints: Endpoints
    send: Send


def hooks(deps: Deps, tenant: str | None = None) -> Hooks:
    """From `deps`: the settings (with `tenant`'s overrides: its default URL and secrets), the
    job store's Redis client and key names, and `send_task` (which a test may replace to
    capture messages)."""
    cfg = settings(deps.cfg_for(tenant) if tenant else deps.cfg)
    r, keys = deps.store.r, deps.store.keys
    return Hooks(cfg, DeliveryStore(r, cfg.ttl_s, keys), Endpoints(r, keys, cfg), _sender(deps))


def _sender(deps: Deps) -> Send:
    def send(tenant: str, delivery_id: str) -> None:
        deps.send_task(TASK_NAME, [tenant, delivery_id], task_id=None, queue=QUEUE)
    return send
