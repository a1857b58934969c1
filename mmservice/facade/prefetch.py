"""What a moderation in the API process reads before judging, in one round trip.

Why: `steps.moderate.judge` reads as it goes (the tenant's default policy, its list names, its
shadow policies, the result cache's entries), one round trip each, and on a loaded store every
round trip is a wait the client sees. Those four reads depend only on the tenant and the input,
so they go in one pipeline here, and the judgment runs on what it read: the same code (`judge`,
the list matcher, the shadow verdicts, the cache wrappers) with the reads handed in through the
wrappers the intake path already uses for the same purpose (`cache.at_intake._Lists`,
`_Shadows`) and a `ResultCache` that answers the prefetched names from memory.

What is not prefetched keeps its own round trip, as before: a named (not builtin) policy's
record (read once: resolving it hands the record to the judgment, `_Known`), the records of
lists that exist, the stored versions of shadow policies, a cache write after a miss. So a
tenant with no lists, no shadows and the builtin policy is judged on one pipelined read; the
others pay only for what they have.

Only the API path uses this (`calls.run` with the openai provider); a call handed to a worker
is judged there as a job step is.
"""
from __future__ import annotations

import dataclasses
import zlib
from dataclasses import dataclass, field
from typing import Any

from mmservice.cache.at_intake import _Lists, _Shadows
from mmservice.cache.steps import StepCache
from mmservice.cache.store import (
    Preloaded,
    bytes_hash,
    decode,
    digest,
    provider_identity,
    text_hash,
)


@dataclass
class Reads:
    """What one pipeline read for a tenant's moderation."""

    tenant: str
    default_policy: str | None
    list_names: tuple[str, ...]
    shadow_names: tuple[str, ...]
    cache: dict[str, Any] = field(default_factory=dict)  # entry name -> value (None: absent)
    namespace: str | None = None
    cache_on: bool = False


def _names(deps: Any, items: list[dict], media: list[bytes]) -> list[str]:
    """The cache entries `judge` will look up for `items` (the API judges no OCR text)."""
    from mmservice.media.text_split import split_for_moderation

    identity = provider_identity(deps.providers.get("moderation"))
    max_chars = int(deps.cfg["MODERATION_MAX_CHARS"])
    names = []
    for item in items:
        if item.get("image") is not None:
            names.append(digest("moderate:image", identity, {},
                                bytes_hash(media[item["image"]])))
        for piece in split_for_moderation(item.get("text") or "", max_chars):
            names.append(digest("moderate:text", identity, {}, text_hash(piece)))
    return names


def read(deps: Any, tenant: str, items: list[dict], media: list[bytes]) -> Reads:
    """The tenant's default policy, list names and shadow names, and the cache entries of
    `items`, in one pipeline."""
    keys = deps.store.keys
    cfg = deps.cfg_for(tenant)  # the tenant's CACHE and CACHE_SHARED
    cache_on = bool(cfg.get("CACHE", True))
    namespace = None if cfg.get("CACHE_SHARED") else tenant
    names: list[str] = []
    if cache_on:
        try:
            names = list(dict.fromkeys(_names(deps, items, media)))
        except Exception:  # noqa: BLE001 - a misconfigured provider: judge() reports it
            names = []
    pipe = deps.redis.pipeline(transaction=False)
    pipe.get(keys.policy_default(tenant))
    pipe.smembers(keys.list_names(tenant))
    pipe.smembers(keys.policy_shadows(tenant))
    if names:
        pipe.mget([keys.result_cache(namespace, n) for n in names])
    default, lists, shadows, *blobs = pipe.execute()
    values: dict[str, Any] = {}
    for name, blob in zip(names, blobs[0] if blobs else []):
        try:
            values[name] = decode(blob) if isinstance(blob, bytes) and blob else None
        except (ValueError, zlib.error):  # an entry from another version: a miss
            values[name] = None
    return Reads(tenant, default.decode() if default else None,
                 tuple(sorted(n.decode() for n in lists)),
                 tuple(sorted(n.decode() for n in shadows)), values, namespace, cache_on)


class _Known:
    """The policy store, with the version record the facade resolved (`policy_record`): the
    judgment's read of that version is answered from it."""

    def __init__(self, store: Any, tenant: str, record: dict[str, Any]):
        self.store, self.tenant, self.record = store, tenant, record

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def get(self, tenant: str, name: str, version: int | None = None) -> dict[str, Any]:
        rec = self.record
        if (tenant, name, version) == (self.tenant, rec["name"], rec["version"]):
            return rec
        return self.store.get(tenant, name, version)


def judging_deps(deps: Any, reads: Reads, record: dict[str, Any] | None = None) -> Any:
    """`deps` whose list matcher and policy store answer the names `reads` holds (and the
    resolved policy version `record`, when not the builtin one)."""
    if deps.policies is not None:
        store = deps.policies if record is None else _Known(deps.policies, reads.tenant, record)
        deps = dataclasses.replace(deps, policies=_Shadows(store, reads.shadow_names))
    if deps.lists is not None:
        deps = dataclasses.replace(deps, lists=_Lists(deps.lists, reads.list_names))
    return deps


def step_cache(deps: Any, reads: Reads, recorder: Any) -> StepCache:
    """One item's cache (as `cache.steps.for_step` builds it) on the prefetched entries; its
    lookups are counted through `recorder`."""
    if not reads.cache_on:
        return StepCache("moderate", None)
    cache = Preloaded(deps.redis, deps.store.keys, namespace=reads.namespace,
                      ttl_s=float(deps.cfg.get("CACHE_TTL_S") or 86400), values=reads.cache)
    return StepCache("moderate", cache, recorder)
