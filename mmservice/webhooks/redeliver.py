"""Manual redelivery: a new round of attempts on the same delivery (same `webhook-id`, same body).

Why a new round and not a new delivery: receivers dedupe on `webhook-id`, so an operator's retry
of something already processed stays harmless. Asking for it also re-enables an endpoint a 410
disabled: the operator is saying the endpoint is back.
"""
from __future__ import annotations

import logging
import time

from mmservice.errors import Conflict, NotFound
from mmservice.jobs.store import now_iso
from mmservice.records import lease_of
from mmservice.webhooks.wiring import hooks

log = logging.getLogger("mmservice.webhooks")


def redeliver(tenant: str, subject_id: str, delivery_id: str, deps) -> dict:
    """Restart `delivery_id` (which must belong to `subject_id`) and queue its attempt now."""
    h = hooks(deps)
    found = h.store.get(tenant, delivery_id)
    if found["_subject"] != subject_id:
        raise NotFound(f"no delivery {delivery_id!r} for job {subject_id!r}",
                       code="delivery_not_found")
    now = time.time()

    def new_round(r: dict) -> None:
        if lease_of(r, now) is not None:
            raise Conflict("an attempt of this delivery is in flight; retry once it is recorded",
                           code="delivery_in_flight")
        r.update(status="pending", error=None, _round_start=r["attempt_count"],
                 _client_errors=0, _next_ts=now, next_attempt_at=now_iso(now),
                 updated_at=now_iso(now))
        r["manual_retries"] = r.get("manual_retries", 0) + 1

    url = found["url"]  # fixed at creation
    rec = h.store.restart(tenant, delivery_id, new_round, due=now + h.cfg.lease_s,
                          also=lambda pipe: h.endpoints.enable(pipe, tenant, url))
    h.send(tenant, delivery_id)
    log.info("webhook redelivery requested", extra={"subject_id": subject_id,
                                                    "delivery_id": delivery_id})
    return rec
