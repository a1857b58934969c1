"""Per-tenant settings: overrides of the `tenant` settings, kept in Redis, read through the
typed overlay (`config.overlay`).

Why Redis and the overlay: every API process and worker must see the same value, and a tenant
value is validated exactly like the environment's (a bad threshold is refused when it is set,
not when a job meets it). Reading costs one HGETALL; a process keeps the result for
`MMS_TENANT_SETTINGS_CACHE_S` (2 s), so a change is effective everywhere within that. Keys are
different: a revocation is never cached (keystore.py).
"""
from __future__ import annotations

import json
import threading
import time
from typing import Any

import redis

from mmservice import config
from mmservice.keys import Keys


class TenantSettings:
    def __init__(self, r: redis.Redis, keys: Keys, cfg: dict):
        self.r, self.keys, self.cfg = r, keys, cfg
        self.cache_s = float(cfg.get("TENANT_SETTINGS_CACHE_S", 2.0))
        self._cache: dict[str, tuple[float, dict]] = {}
        self._lock = threading.Lock()

    def overrides(self, tenant: str) -> dict[str, Any]:
        raw = self.r.hgetall(self.keys.tenant_settings(tenant))
        return {k.decode(): json.loads(v) for k, v in raw.items()}  # type: ignore[union-attr]

    def update(self, tenant: str, values: dict[str, Any]) -> dict[str, Any]:
        """Set (or, with None, drop) overrides; all validated together before any is written.
        Returns the tenant's overrides after the change."""
        current = self.overrides(tenant)
        merged = {k: v for k, v in {**current, **values}.items() if v is not None}
        validated = config.overlay(self.cfg, merged)  # raises Invalid naming the setting
        stored = {k: validated[k] for k in merged}
        pipe = self.r.pipeline(transaction=True)
        key = self.keys.tenant_settings(tenant)
        pipe.delete(key)
        if stored:
            pipe.hset(key, mapping={k: json.dumps(v) for k, v in stored.items()})
        pipe.sadd(self.keys.tenants(), tenant)
        pipe.execute()
        with self._lock:
            self._cache.pop(tenant, None)
        return stored

    def validated(self, tenant: str) -> dict[str, Any]:
        """The tenant's overrides, validated, read at most every `cache_s` seconds."""
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(tenant)
        if hit is not None and now - hit[0] < self.cache_s:
            return hit[1]
        values = self.overrides(tenant)
        if values:
            checked = config.overlay(self.cfg, values)
            values = {k: checked[k] for k in values}
        with self._lock:
            self._cache[tenant] = (now, values)
        return values

    def cfg_for(self, tenant: str, base: dict | None = None) -> dict:
        """The settings for `tenant`'s requests and jobs: `base` (the process's settings, or a
        caller's variant of them) with the tenant's overrides; `base` itself when it has none."""
        base = self.cfg if base is None else base
        values = self.validated(tenant)
        return {**base, **values} if values else base
