"""Key events and refusals: logged (key prefix id, tenant, source address; never the key) and
counted in `/metrics` (`mms_auth_events_total{event, tenant}`); key events also go to the
tenant's audit chain (`mmservice.audit`).

Log fields: `auth_event`, `credential_id` (`mms_<id>`: a field named like "key" would be masked
by the log redaction), `tenant`, `source`.

Why failures are logged per burst: a brute force sends thousands of bad keys; one log line per
try would flood the log and cost more than the refusal. Failures are counted per source address
in 10-second windows per refusal kind in Redis (shared by every API process): the first of a
window is logged, then the 10th, 100th, 1000th... with the count so far.
"""
from __future__ import annotations

import logging
import time
from typing import Any

from mmservice import metrics
from mmservice.keys import Keys

log = logging.getLogger("mmservice.auth")
WINDOW_S = 10


def key_event(r: Any, keys: Keys, event: str, key: Any, *, source: str = "cli",
              actor: str | None = None) -> None:
    """`event`: key_created, key_rotated, key_revoked. `key` is the `ApiKey` record."""
    log.info("api key %s", event.removeprefix("key_"),
             extra={"auth_event": event, "credential_id": key.prefix, "tenant": key.tenant,
                    "scopes": ",".join(key.scopes), "source": source, "actor": actor or ""})
    metrics.Recorder(r, keys.prefix).auth_event(event, key.tenant)
    from mmservice import audit  # the tenant's audit chain (issue 14 point 7)

    audit.append(r, keys, key.tenant, {"type": "key." + event.removeprefix("key_"),
                                       "actor": actor or source, "key": key.prefix,
                                       "source": source, "after": key.public()})


def window() -> int:
    return int(time.time() // WINDOW_S)


def refused(r: Any, keys: Keys, event: str, *, source: str, tenant: str | None = None,
            key_prefix: str = "", path: str = "") -> None:
    """A refusal: `unauthorized`, `forbidden`, `rate_limited`, `quota_exceeded`. Counted
    always (one round trip); logged per burst (per event and source address)."""
    name = keys.auth_failures(window())
    try:
        pipe = r.pipeline(transaction=False)
        pipe.hincrby(name, f"{event}|{source}", 1)
        pipe.expire(name, WINDOW_S * 3)
        pipe.hincrby(keys.metrics(metrics.AUTH_EVENTS), metrics.field(event, tenant), 1)
        count = int(pipe.execute()[0])
    except Exception:  # noqa: BLE001 - the refusal is answered whatever the log does
        return
    log_burst(event, count, source=source, tenant=tenant, key_prefix=key_prefix, path=path)


def log_burst(event: str, count: int, *, source: str, tenant: str | None = None,
              key_prefix: str = "", path: str = "") -> None:
    """Log the `count`th refusal of its window when it starts a burst or passes a power of 10."""
    if count == 1 or _power_of_ten(count):
        log.warning("request refused: %s%s", event, "" if count == 1 else " (burst)",
                    extra={"auth_event": event, "source": source, "tenant": tenant or "",
                           "credential_id": key_prefix, "refusals_in_window": count,
                           "window_s": WINDOW_S, "path": path})


def _power_of_ten(n: int) -> bool:
    while n >= 10 and n % 10 == 0:
        n //= 10
    return n == 1
