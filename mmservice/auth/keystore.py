"""API keys in Redis: created, listed, rotated, revoked and verified here.

Why hashed and looked up per request: a key is shown once at creation; Redis keeps only its
SHA-256 (a 256-bit random secret needs no slow hash), so a leaked dump holds no usable key. The
key carries its own id (`mms_<id>_<secret>`), so verifying is one HMGET of that id and a
constant-time compare, and the id is what listings and logs show. There is no per-process
cache: a revocation is effective on every API process at the next request.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
import time
from dataclasses import dataclass
from typing import Any

import redis

from mmservice.errors import Invalid, NotFound
from mmservice.keys import Keys

SCOPES = ("submit", "read", "review", "admin")
KEY_PREFIX = "mms_"
ID_LEN = 8
_ID_ALPHABET = string.ascii_lowercase + string.digits
KEY_RE = re.compile(r"^mms_([a-z0-9]{8})_([A-Za-z0-9_-]{32,128})$")
TENANT_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_FIELDS = ("sha256", "tenant", "scopes", "name", "created_at", "expires_ts", "revoked_at")


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def check_tenant(tenant: str) -> str:
    if not isinstance(tenant, str) or not TENANT_RE.match(tenant):
        raise Invalid("tenant must be 1-63 characters of a-z, 0-9, '-' and '_', starting with a "
                      "letter or digit", code="invalid_tenant", field="tenant")
    return tenant


def check_scopes(scopes: Any) -> tuple[str, ...]:
    items = scopes.split(",") if isinstance(scopes, str) else list(scopes or ())
    out = tuple(dict.fromkeys(s.strip() for s in items if str(s).strip()))
    bad = [s for s in out if s not in SCOPES]
    if bad or not out:
        raise Invalid(f"scopes must be a non-empty subset of {', '.join(SCOPES)}"
                      + (f" (unknown: {', '.join(bad)})" if bad else ""), code="invalid_scopes",
                      field="scopes")
    return out


@dataclass(frozen=True)
class ApiKey:
    id: str
    tenant: str
    scopes: tuple[str, ...]
    name: str
    created_at: str
    expires_ts: float | None
    revoked_at: str | None

    @property
    def prefix(self) -> str:
        """What logs and listings show of a key: never the secret."""
        return f"{KEY_PREFIX}{self.id}"

    def usable(self, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        return self.revoked_at is None and (self.expires_ts is None or now < self.expires_ts)

    def public(self) -> dict:
        return {"id": self.id, "prefix": self.prefix, "tenant": self.tenant,
                "scopes": list(self.scopes), "name": self.name, "created_at": self.created_at,
                "expires_at": iso(self.expires_ts) if self.expires_ts else None,
                "revoked_at": self.revoked_at, "active": self.usable()}


def _decode(key_id: str, raw: list[Any]) -> ApiKey | None:
    vals = [v.decode() if isinstance(v, bytes) else v for v in raw]
    if vals[0] is None:
        return None
    sha, tenant, scopes, name, created, expires, revoked = vals
    return ApiKey(id=key_id, tenant=tenant, scopes=tuple(s for s in scopes.split(",") if s),
                  name=name or "", created_at=created,
                  expires_ts=float(expires) if expires else None, revoked_at=revoked or None)


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyStore:
    def __init__(self, r: redis.Redis, keys: Keys):
        self.r, self.keys = r, keys

    def create(self, tenant: str, scopes: Any, *, name: str = "",
               expires_ts: float | None = None) -> tuple[str, ApiKey]:
        """A new key: (the key, shown this once; its record)."""
        check_tenant(tenant)
        scope_list = check_scopes(scopes)
        if expires_ts is not None and expires_ts <= time.time():
            raise Invalid("expires must be in the future", code="invalid_expires",
                          field="expires_at")
        if len(name) > 200:
            raise Invalid("name is longer than 200 characters", code="invalid_name", field="name")
        while True:
            key_id = "".join(secrets.choice(_ID_ALPHABET) for _ in range(ID_LEN))
            plain = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
            now = time.time()
            mapping: dict[Any, Any] = {
                "sha256": digest(plain), "tenant": tenant, "scopes": ",".join(scope_list),
                "name": name, "created_at": iso(now),
                "expires_ts": repr(expires_ts) if expires_ts else ""}
            if not self.r.hsetnx(self.keys.api_key(key_id), "sha256", mapping["sha256"]):
                continue  # 36^8 ids: a clash is rare, never overwrite one
            pipe = self.r.pipeline(transaction=True)
            pipe.hset(self.keys.api_key(key_id), mapping=mapping)
            pipe.sadd(self.keys.api_keys_of(tenant), key_id)
            pipe.sadd(self.keys.tenants(), tenant)
            pipe.execute()
            found = self.get(key_id)
            assert found is not None
            return plain, found

    def get(self, key_id: str) -> ApiKey | None:
        if not re.fullmatch(r"[a-z0-9]{8}", key_id or ""):
            return None
        return _decode(key_id, self.r.hmget(self.keys.api_key(key_id), _FIELDS))

    def get_of(self, tenant: str | None, key_id: str) -> ApiKey:
        """A key, or NotFound when it does not exist or (with `tenant`) belongs to another."""
        found = self.get(key_id)
        if found is None or (tenant is not None and found.tenant != tenant):
            raise NotFound(f"no API key {key_id!r}", code="key_not_found")
        return found

    def listing(self, tenant: str | None = None) -> list[ApiKey]:
        tenants = [tenant] if tenant else self.tenants()
        out: list[ApiKey] = []
        for t in tenants:
            ids = sorted(i.decode() for i in self.r.smembers(self.keys.api_keys_of(t)))  # type: ignore[union-attr]
            out += [k for k in (self.get(i) for i in ids) if k is not None]
        return sorted(out, key=lambda k: (k.tenant, k.created_at, k.id))

    def tenants(self) -> list[str]:
        return sorted(t.decode() for t in self.r.smembers(self.keys.tenants()))  # type: ignore[union-attr]

    def has_keys(self, tenant: str) -> bool:
        return bool(self.r.scard(self.keys.api_keys_of(tenant)))

    def revoke(self, key_id: str, tenant: str | None = None) -> ApiKey:
        found = self.get_of(tenant, key_id)
        if found.revoked_at is None:
            self.r.hset(self.keys.api_key(key_id), "revoked_at", iso(time.time()))
        return self.get_of(tenant, key_id)

    def rotate(self, key_id: str, tenant: str | None = None,
               grace_s: float = 0.0) -> tuple[str, ApiKey, ApiKey]:
        """A new key with the old one's tenant, scopes, name and expiry; the old one is revoked
        now, or expires after `grace_s` (clients switch over meanwhile). Returns (new key, its
        record, the old record)."""
        old = self.get_of(tenant, key_id)
        if not old.usable():
            raise Invalid(f"API key {key_id} is revoked or expired: create a new one",
                          code="key_not_active")
        plain, new = self.create(old.tenant, old.scopes, name=old.name, expires_ts=old.expires_ts)
        if grace_s > 0:
            until = time.time() + grace_s
            if old.expires_ts is None or until < old.expires_ts:
                self.r.hset(self.keys.api_key(key_id), "expires_ts", repr(until))
            return plain, new, self.get_of(tenant, key_id)
        return plain, new, self.revoke(key_id)

    def verify(self, presented: str) -> ApiKey | None:
        """The key's record when `presented` is a live key, else None. A malformed key costs no
        Redis call; a well-formed one costs one HMGET."""
        m = KEY_RE.match(presented or "")
        if m is None:
            return None
        raw = self.r.hmget(self.keys.api_key(m.group(1)), _FIELDS)
        stored = raw[0].decode() if isinstance(raw[0], bytes) else raw[0]
        if not stored or not hmac.compare_digest(stored, digest(presented)):
            return None
        found = _decode(m.group(1), raw)
        return found if found is not None and found.usable() else None


def parse_expires(text: str | None, now: float | None = None) -> float | None:
    """`--expires`: an ISO date or datetime (UTC unless it says), or a duration (`90d`, `12h`,
    `30m`); empty: never."""
    import datetime as dt

    if not text:
        return None
    now = time.time() if now is None else now
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([dhms])\s*", text)
    if m:
        return now + float(m.group(1)) * {"d": 86400, "h": 3600, "m": 60, "s": 1}[m.group(2)]
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Invalid("expires must be an ISO date/datetime or a duration like 90d, 12h",
                      code="invalid_expires", field="expires_at") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()
