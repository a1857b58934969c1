"""What the job steps call: the job's cache, wrapped providers, and the result's `cached` flag.

Why per tenant: one tenant's content must not tell another anything (a hit is faster, so even
"this was seen before" leaks), so entries live under the tenant's namespace. A tenant that opts
in (`MMS_CACHE_SHARED`, a per-tenant setting) reads and writes the pool shared by the tenants
that opted in. `MMS_CACHE` (per tenant too) or a job's `options.cache: false` turns the cache
off: nothing is looked up and nothing is stored for that job.
"""
from __future__ import annotations

from typing import Any

from mmservice import metrics
from mmservice.cache.store import ResultCache
from mmservice.cache.wrappers import CachedModeration, CachedTranscription, CachedVision


class StepCache:
    """One step execution's use of the cache; `cache` is None when the job does not use it."""

    def __init__(self, task: str, cache: ResultCache | None, recorder: Any = None):
        self.task, self.cache, self.recorder = task, cache, recorder

    def moderation(self, provider: Any, text_provider: Any) -> tuple[Any, Any]:
        """(image provider, text provider) for `capabilities.moderate`."""
        if self.cache is None:
            return provider, text_provider
        wrapped = CachedModeration(provider, text_provider, self.cache)
        return wrapped, wrapped

    def transcription(self, provider: Any) -> Any:
        return provider if self.cache is None else CachedTranscription(provider, self.cache)

    def vision(self, provider: Any) -> Any:
        return provider if self.cache is None else CachedVision(provider, self.cache)

    def done(self, result: dict[str, Any]) -> dict[str, Any]:
        """The step's result with `cached` (true when no upstream call was made), without
        `usage` then (nothing was used); the lookups are counted for `/metrics`."""
        served = self.cache is not None and self.cache.served
        if self.cache is not None and self.recorder is not None:
            self.recorder.cache_lookups(self.task, self.cache.hits, self.cache.misses)
        return mark(result, served)


def mark(result: dict[str, Any], served: bool) -> dict[str, Any]:
    result["cached"] = served
    if served:
        result.pop("usage", None)
    return result


def for_step(job: dict, deps: Any, task: str) -> StepCache:
    cfg = deps.cfg_for(job["tenant"])  # the tenant's CACHE and CACHE_SHARED
    if not cfg.get("CACHE", True) or (job.get("options") or {}).get("cache") is False:
        return StepCache(task, None)
    cache = ResultCache(deps.redis, deps.store.keys,
                        namespace=None if cfg.get("CACHE_SHARED") else job["tenant"],
                        ttl_s=float(deps.cfg.get("CACHE_TTL_S") or 86400))
    return StepCache(task, cache, metrics.Recorder(deps.redis, deps.store.keys.prefix))
