"""What every review function works with: the tenant, its settings, Redis and the key names.

Why one small object: the API views, the `/review` page, the worker's hook and the tests all
build it the same way from the service's `Deps`, so no review module reaches into Flask.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import redis

from mmservice import audit
from mmservice.keys import Keys


@dataclass
class Ctx:
    deps: Any  # mmservice.jobs.deps.Deps
    tenant: str

    @property
    def r(self) -> redis.Redis:
        return self.deps.redis

    @property
    def keys(self) -> Keys:
        return self.deps.store.keys

    @cached_property
    def cfg(self) -> dict:
        return self.deps.cfg_for(self.tenant)

    def k(self, *parts: str) -> str:
        """A key of this tenant's review data (`Keys.review`)."""
        return self.keys.review(self.tenant, *parts)

    def audit(self, event: dict[str, Any]) -> str:
        return audit.append(self.r, self.keys, self.tenant, event)

    def audit_soon(self, event: dict[str, Any]) -> None:
        """An entry nothing here reads back (a verdict's): through the process's background
        writer when it has one (`Deps.audit_later`, the API), else appended now."""
        later = getattr(self.deps, "audit_later", None)
        if later is None:
            self.audit(event)
        else:
            later(self.tenant, event)
