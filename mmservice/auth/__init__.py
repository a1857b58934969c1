"""Tenants, API keys, scopes, rate limits and quotas.

Why a package: keys (`keystore`), what each route needs (`scopes`), the request guard
(`guard`), limits and quotas (`limits`), per-tenant settings (`tenant_settings`) and the audit
trail of key events (`events`) change for different reasons. `Auth` bundles what the composition
root builds once per process; the request's tenant is read from `flask.g` by
`mmservice.api.context.tenant()`, the one function every view asks.
"""
from __future__ import annotations

from dataclasses import dataclass

import redis

from mmservice.auth.keystore import SCOPES, ApiKey, KeyStore
from mmservice.auth.limits import Limits
from mmservice.auth.tenant_settings import TenantSettings
from mmservice.keys import Keys

__all__ = ["SCOPES", "ApiKey", "Auth", "KeyStore", "Limits", "TenantSettings", "build"]


@dataclass
class Auth:
    keys: KeyStore
    limits: Limits
    settings: TenantSettings


def build(r: redis.Redis, keys: Keys, cfg: dict) -> Auth:
    return Auth(keys=KeyStore(r, keys), limits=Limits(r, keys, cfg["REDIS_URL"]),
                settings=TenantSettings(r, keys, cfg))
