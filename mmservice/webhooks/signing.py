"""Standard Webhooks signatures, with several active secrets so a secret can be rotated.

Why every active secret signs: during a rotation the receiver may know only the old secret or
only the new one. The `webhook-signature` header lists one `v1,<sig>` per secret (space
separated), and a receiver accepts the request if any entry verifies.

Why a generated secret lives in Redis: with no `MMS_WEBHOOK_SECRETS` the API and every worker
must still sign with the same key, and no process may print it.
"""
from __future__ import annotations

import base64
import binascii
import logging
import os
import time
from datetime import UTC, datetime

from standardwebhooks import Webhook

from mmservice.errors import Invalid

log = logging.getLogger("mmservice.webhooks")

PREFIX = "whsec_"


def new_secret() -> str:
    return PREFIX + base64.b64encode(os.urandom(32)).decode()


def _signer(secret: str) -> Webhook:
    """A bad secret is a configuration error; say which setting, never echo the value."""
    body = (secret[len(PREFIX):] if secret.startswith(PREFIX) else secret).rstrip("=")
    try:
        key = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) < 16:
        raise Invalid("MMS_WEBHOOK_SECRETS holds a value that is not whsec_<base64 of at least "
                      "16 bytes>", code="webhook_secret_invalid", field="MMS_WEBHOOK_SECRETS")
    return Webhook(secret)


def active_secrets(configured: tuple[str, ...], r, key: str) -> list[str]:
    """The configured secrets, or the shared generated one at `key` (`Keys.webhook_secret`),
    created once, race-free."""
    if configured:
        return list(configured)
    raw = r.get(key)
    if raw is None:
        if r.set(key, new_secret(), nx=True):
            log.warning("no MMS_WEBHOOK_SECRETS configured: generated a webhook signing secret "
                        "and stored it in Redis", extra={"redis_key": key})
        raw = r.get(key)
    return [raw.decode() if isinstance(raw, bytes) else raw]


def signature_header(msg_id: str, timestamp: int, body: str, secrets: list[str]) -> str:
    when = datetime.fromtimestamp(timestamp, tz=UTC)
    return " ".join(_signer(s).sign(msg_id, when, body) for s in secrets)


def headers(msg_id: str, body: str, secrets: list[str], *, now: float | None = None) -> dict:
    """Headers for one attempt. The timestamp is the attempt's (receivers reject old ones), the
    id is the delivery's (receivers dedupe on it)."""
    ts = int(time.time() if now is None else now)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": signature_header(msg_id, ts, body, secrets),
        "content-type": "application/json",
        "user-agent": "mmservice-webhooks/1",
    }
