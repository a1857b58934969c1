"""`/review` page sessions: a `review`-scoped API key exchanged once for a cookie.

Why a session and not the key in the page: a key in a URL ends up in history and access logs,
and a key kept by the page's script is readable by any script on it. The key is sent once, in a
POST body, and never stored: Redis keeps the session under the SHA-256 of its random id, with the
key's id (checked again on every request, so revoking the key ends its sessions at once), the
tenant and a CSRF token the page's forms and requests must echo.
"""
from __future__ import annotations

import hashlib
import json
import secrets
import time
from typing import Any

COOKIE = "mms_review"
LOGIN_CSRF_COOKIE = "mms_review_login"


def _key(keys: Any, sid: str) -> str:
    return keys.review_session(hashlib.sha256(sid.encode()).hexdigest())


def create(r: Any, keys: Any, api_key: Any, ttl_s: int) -> str:
    sid = secrets.token_urlsafe(32)
    session = {"tenant": api_key.tenant, "key_id": api_key.id, "reviewer": api_key.prefix,
               "scopes": list(api_key.scopes), "csrf": secrets.token_urlsafe(24),
               "created": time.time()}
    r.set(_key(keys, sid), json.dumps(session), ex=ttl_s)
    return sid


def get(r: Any, keys: Any, keystore: Any, sid: str | None) -> dict | None:
    """The live session of a cookie, or None (unknown, expired, or its key no longer usable)."""
    if not sid or len(sid) > 100:
        return None
    raw = r.get(_key(keys, sid))
    if not raw:
        return None
    session = json.loads(raw)
    key = keystore.get(session["key_id"])
    if key is None or not key.usable() or "review" not in key.scopes:
        r.delete(_key(keys, sid))
        return None
    return session


def end(r: Any, keys: Any, sid: str | None) -> None:
    if sid:
        r.delete(_key(keys, sid))
