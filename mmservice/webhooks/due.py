"""The sweeper: send a message for every delivery whose due time has come.

Why a due-time sorted set instead of countdown (ETA) messages: a retry can be hours away, longer
than the broker's visibility timeout, and an ETA message held that long gets restored and
duplicated; the record would then need "early" and "busy" answers to sort duplicates out. Here
the set says when each pending delivery next needs a message (a retry's time, or the end of a
running attempt's lease, after which a dead worker's attempt is retried), and one sweeper thread
per worker (`workers.tasks_webhooks`) sends it when that time comes. Safe to run in every worker
at once: a sweeper takes an entry by pushing its time one lease further (`ZADD XX GT`, which only
one sweeper of the same entry can do), so an entry whose message is lost comes back too.
"""
from __future__ import annotations

import json
import logging
import math
import time
from typing import cast

from mmservice.webhooks.wiring import hooks

log = logging.getLogger("mmservice.webhooks")


def sweep(deps, *, now: float | None = None, limit: int = 100) -> int:
    """Send the attempts that are due at `now`; returns how many messages this call sent."""
    h = hooks(deps)
    now = time.time() if now is None else now
    key, lease_s = h.store.keys.webhook_due(), h.cfg.lease_s
    sent = 0
    due = cast(list[tuple[bytes, float]],
               h.store.r.zrangebyscore(key, "-inf", now, start=0, num=limit, withscores=True))
    for member, score in due:
        # The same value in every sweeper that read this score: only one moves it forward.
        later = score + lease_s * (math.floor((now - score) / lease_s) + 1)
        if not h.store.r.zadd(key, {member: later}, xx=True, gt=True, ch=True):
            continue  # another sweeper took it, or it was settled meanwhile (gone: XX)
        tenant, delivery_id = json.loads(member)
        h.send(tenant, delivery_id)
        sent += 1
    if sent:
        log.info("webhook attempts due: queued", extra={"count": sent})
    return sent
