"""A cache hit answered at `POST /v1/jobs`: the job is judged in the API and stored settled.

Why: a hit that goes through the queue costs the POST, a Celery hop, a worker step (the record's
start and save transactions) and the long-poll answer, while all the work there is to do is the
policy and the lists on scores already measured: `bench/cache.py` measured 2.55x a bare Celery
round trip. Judged at POST, the hit costs the POST alone, and its answer is the finished job.

What qualifies: a text job whose only task is `moderate`, with the cache on (the tenant's
`MMS_CACHE`, the job's `options.cache`) and every piece of its text in the cache. Anything else
keeps the worker path: images (the PDQ index and OCR live in workers), audio (a transcript must
be made first), other tasks, a miss (the API never calls a model). `MMS_CACHE_AT_INTAKE` (per
tenant) turns it off for clients that treat only `202` as success.

How a miss stays cheap: the text's cache entries are read by the admission script intake already
runs (`jobs.admission`, one round trip), so a miss costs the hashing of its text and a longer
script reply, never a round trip of its own.

How the answer equals the worker's: the same `steps.moderate.judge` (the tenant's current policy
version, `options.thresholds`, its lists, the shadow policies) runs on the prefetched entries;
should an entry be missing after all, the text provider refuses (`NotCached`) and the job takes
the worker path. What a settled verdict leaves behind is left here too: the record settled in
its creating transaction (counters, the open-jobs quota, the settle announcement, the cache
lookups and step latency), then the review hook (audit entry, review item) and the job's
webhook (`on_terminal`), as the worker's `record_step` does.
"""
from __future__ import annotations

import dataclasses
import logging
import time
import zlib
from dataclasses import dataclass
from typing import Any

import redis

from mmservice import metrics
from mmservice.cache.steps import StepCache
from mmservice.cache.store import Preloaded, decode, digest, provider_identity, text_hash
from mmservice.jobs.store import now_iso

log = logging.getLogger("mmservice.cache")
TASK = "moderate"
# A text in more pieces than this takes the worker path: its keys would make the admission
# script's reply (and Lua's argument list, limited to a few thousand) as long as the text.
MAX_PIECES = 64


class NotCached(Exception):
    """A text piece was not among the prefetched entries: the worker path measures it."""


class _CacheOnly:
    """The text provider of a judgment at intake: it never calls a model, it refuses."""

    def moderate_texts(self, texts: list[str]) -> list[Any]:
        raise NotCached(f"{len(texts)} text piece(s) not in the cache")


@dataclass
class Probe:
    """The cache entries a text job's hit needs: `names` (digests) and their Redis `keys`."""

    namespace: str | None
    names: list[str]
    keys: list[str]


def probe(deps: Any, tenant: str, fields: dict, info: dict, tasks: list[str]) -> Probe | None:
    """The entries to prefetch when this job could be answered at intake, else None."""
    text = fields.get("text")
    options = fields.get("options") or {}
    if info.get("kind") != "text" or tasks != [TASK] or not text or options.get("cache") is False:
        return None
    cfg = deps.cfg_for(tenant)
    if not cfg.get("CACHE", True) or not cfg.get("CACHE_AT_INTAKE", True):
        return None
    try:
        # Building the provider object loads nothing (the registry is lazy, the local engines
        # load on their first call); only its identity is read here.
        identity = provider_identity(deps.providers.get("moderation"))
    except Exception:  # noqa: BLE001 - misconfigured: the worker path reports it on the job
        return None
    from mmservice.media.text_split import split_for_moderation

    pieces = split_for_moderation(text, int(deps.cfg["MODERATION_MAX_CHARS"]))
    if not pieces or len(pieces) > MAX_PIECES:
        return None
    namespace = None if cfg.get("CACHE_SHARED") else tenant
    names = [digest(f"{TASK}:text", identity, {}, text_hash(p)) for p in pieces]
    return Probe(namespace, names, [deps.store.keys.result_cache(namespace, n) for n in names])


def found(p: Probe, blobs: list[Any]) -> dict[str, Any] | None:
    """The decoded entries when every one was there, else None (a miss)."""
    values = {}
    for name, blob in zip(p.names, blobs):
        try:
            values[name] = decode(blob) if isinstance(blob, bytes) and blob else None
        except (ValueError, zlib.error):  # another version's entry: a miss
            return None
        if values[name] is None:
            return None
    return values if len(values) == len(p.names) else None


class _Shadows:
    """The policy store, with the shadow policies' names the admission script read."""

    def __init__(self, store: Any, names: tuple[str, ...]):
        self.store, self.names = store, names

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def shadows(self, tenant: str) -> list[dict[str, Any]]:
        from mmservice.errors import NotFound

        out = []
        for n in self.names:
            try:
                out.append(self.store.get(tenant, n))
            except NotFound:  # deleted since
                continue
        return out


class _Lists:
    """The list matcher, with the tenant's list names the admission script read."""

    def __init__(self, matcher: Any, names: tuple[str, ...]):
        self.matcher, self.names = matcher, names

    def __getattr__(self, name: str) -> Any:
        return getattr(self.matcher, name)

    def lists(self, tenant: str, names: tuple[str, ...] | None) -> list[dict[str, Any]]:
        return self.matcher.records.find(tenant, list(names if names is not None
                                                      else self.names))


def decide(deps: Any, job: dict, p: Probe, values: dict[str, Any],
           read: Any) -> dict[str, Any] | None:
    """The moderation result of `job` judged here, or None (take the worker path). `read`:
    the admission's verdict, with the shadow policies' and lists' names it read (two round
    trips fewer than asking again)."""
    from mmservice.capabilities.moderate import Content
    from mmservice.steps.moderate import judge

    t0, job["_started_ts"] = time.monotonic(), time.time()
    # Every entry is among `values` (a miss never gets here), so nothing is read again, and
    # nothing is written: the provider refuses before a miss could be measured.
    cache = StepCache(TASK, Preloaded(deps.redis, deps.store.keys, namespace=p.namespace,
                                      ttl_s=float(deps.cfg.get("CACHE_TTL_S") or 86400),
                                      values=values))
    if deps.policies is not None:
        deps = dataclasses.replace(deps, policies=_Shadows(deps.policies, read.shadow_names))
    if deps.lists is not None:
        deps = dataclasses.replace(deps, lists=_Lists(deps.lists, read.list_names))
    try:
        result = judge(job, deps, Content(text=job.get("_text")), batched=False,
                       step_cache=cache, text_provider=_CacheOnly())
    except NotCached:
        return None
    except (redis.ConnectionError, redis.TimeoutError):
        raise  # the store is down: 503, nothing is kept (intake cleans up)
    except Exception:  # noqa: BLE001 - a worker judges it again and records what goes wrong
        log.exception("judging a cache hit at intake failed", extra={"job_id": job["id"]})
        return None
    result["elapsed_ms"] = round((time.monotonic() - t0) * 1000, 1)
    job["_cache_lookups"] = (cache.cache.hits, cache.cache.misses)  # type: ignore[union-attr]
    return result


def settle(deps: Any, job: dict, result: dict[str, Any]) -> None:
    """Make `job` (not yet stored) the settled job the worker path would have stored."""
    deps.store.set_status(job, "running")
    job["started_at"] = now_iso(job.pop("_started_ts", None))  # when the judging began
    job["results"]["moderation"] = result
    job["task_status"][TASK] = "succeeded"
    deps.store.set_status(job, "succeeded")
    job["updated_at"] = job["finished_at"] = now_iso()


def queue_counters(deps: Any, job: dict) -> Any:
    """For the creating transaction: the lookups and the step's latency, as a worker counts
    them (the job's creation and settling are counted by `JobStore.create`)."""
    def more(pipe: Any) -> None:
        rec = metrics.Recorder(pipe, deps.store.keys.prefix)
        hits, misses = job.pop("_cache_lookups", (0, 0))
        rec.cache_lookups(TASK, hits, misses)
        result = job["results"]["moderation"]
        rec.step_done(TASK, result, float(result.get("elapsed_ms") or 0) / 1000)
    return more


def store(deps: Any, job: dict, idempotency: tuple[str, str] | None,
          idempotency_ttl_s: int) -> dict | None:
    """Create the settled `job` (None) or find the job an earlier request with the same
    Idempotency-Key made (returned). Without a key, the review hook's reads and the verdict's
    staged audit entry ride the creating transaction (`review.enqueue.queue_reads`): one
    round trip fewer, and the entry is committed exactly with the record."""
    from mmservice.review import enqueue

    result = job["results"]["moderation"]
    counters = queue_counters(deps, job)
    got: dict[str, Any] = {}

    def also(pipe: Any) -> None:
        counters(pipe)
        if idempotency is None:
            got["pick"] = enqueue.queue_reads(pipe, deps, job, result)
    prior = deps.store.create(job, in_same_transaction=also, idempotency=idempotency,
                              idempotency_ttl_s=idempotency_ttl_s,
                              results=lambda replies: got.__setitem__("replies", replies))
    if prior is None:
        read = got["pick"](got["replies"]) if "replies" in got and "pick" in got else None
        after(deps, job, read)
    return prior


def after(deps: Any, job: dict, read: Any = None) -> None:
    """What a settled verdict gets once its record is stored: the review hook (its audit
    entry; a review item when it says `review`; `read`: what `queue_reads` read in the
    creating transaction) and the job's webhook. The job is stored and answered whatever
    happens here; a failure is logged with the job id."""
    from mmservice.review.enqueue import from_reads
    from mmservice.steps.moderate import to_review

    try:
        if read is not None:
            from_reads(deps, job, job["results"]["moderation"], read)
        else:
            to_review(deps, job, job["results"]["moderation"])
    except Exception:  # noqa: BLE001 - the record is settled; the client gets its answer
        log.exception("review hook failed at intake", extra={"job_id": job["id"]})
    log.info("job settled at intake", extra={"job_id": job["id"], "status": job["status"]})
    try:
        deps.on_terminal(job)
    except Exception:  # noqa: BLE001 - same
        log.exception("webhook hand-off failed at intake", extra={"job_id": job["id"]})
