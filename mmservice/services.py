"""The composition root: `build(cfg, role=...)` wires the service together, once per process.

Why one place: the API factory, the Celery worker, the CLI, the benchmarks and the tests all need
the same stores, providers and publishing functions. Built here, each of them gets the same
objects, and a choice (how the first task message is published, where settled jobs go) is made
once rather than in every caller. Building does no I/O: Redis clients connect on first use and
providers are built when first asked for, so the API process never loads a model.

Roles: `api` publishes a new job's first message inside the transaction that creates the record
(`RedisTaskPublisher`, when the broker is the plain Redis it was written for); `worker` publishes
with Celery and may make a webhook's first attempt itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis
from celery import Celery

from mmservice import auth as auth_pkg
from mmservice.blobs import BlobStore, blob_store_from_config
from mmservice.celery_init import make_celery
from mmservice.jobs.admission import Admission
from mmservice.jobs.deps import Deps
from mmservice.jobs.dispatch import RedisTaskPublisher, make_enqueue_step
from mmservice.jobs.settle_watch import SettleWatch
from mmservice.jobs.store import JobStore
from mmservice.media import decode_budget
from mmservice.policies.store import PolicyStore
from mmservice.providers.registry import Registry
from mmservice.redis_conn import get_redis

ROLES = ("api", "worker")


@dataclass
class Services:
    cfg: dict
    role: str
    redis: redis.Redis
    store: JobStore
    blobs: BlobStore
    celery: Celery
    providers: Registry
    deps: Deps
    settle_watch: SettleWatch
    auth: auth_pkg.Auth


def build(cfg: dict, *, role: str = "api") -> Services:
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    r = get_redis(cfg["REDIS_URL"], cfg.get("REDIS_TIMEOUT_S"))
    decode_budget.configure(int(cfg["DECODE_PIXELS_PER_PROCESS"]))
    store = JobStore(r, int(cfg["JOB_TTL_S"]))
    blobs = blob_store_from_config(cfg)
    celery = make_celery(cfg)
    providers = Registry(cfg)
    publisher = None
    if role == "api" and RedisTaskPublisher.usable(celery, cfg["REDIS_URL"]):
        publisher = RedisTaskPublisher(celery, r)

    def send_task(name: str, args: list, *, task_id: str | None = None, queue: str) -> None:
        """No countdown (ETA) messages: they would wait unacked past the broker's short
        visibility timeout (see `celery_init`)."""
        celery.send_task(name, args=args, task_id=task_id, queue=queue)

    deps = Deps(cfg=cfg, redis=r, store=store, blobs=blobs, providers=providers,
                enqueue_step=make_enqueue_step(celery, r, int(cfg["JOB_TTL_S"]),
                                               publish=publisher, keys=store.keys),
                send_task=send_task,
                first_step_with_record=publisher.queue_first_step if publisher else None)
    auth = auth_pkg.build(r, store.keys, cfg)
    deps.tenant_cfg = auth.settings.cfg_for
    deps.policies = PolicyStore(r, store.keys)
    if role == "api":
        from mmservice.lists.apply import ListMatcher

        deps.limits = auth.limits
        deps.admission = Admission(r, store.keys)
        # The tenants' lists for what the API judges itself (cache hits at intake, the facade):
        # term and hash lists load on first use; reading an image's text (a model) is off.
        deps.lists, deps.ocr = ListMatcher(r, store.keys), False
    if role == "worker":
        from mmservice.lists.apply import ListMatcher
        from mmservice.steps import registry

        deps.lists = ListMatcher(r, store.keys)

        moderation_queue = registry.get("moderate").queue
        deps.moderation_backlog = lambda: int(r.llen(moderation_queue))
    deps.on_terminal = _delivery_hook(deps, local_ok=role == "worker")
    return Services(cfg=cfg, role=role, redis=r, store=store, blobs=blobs, celery=celery,
                    providers=providers, deps=deps,
                    settle_watch=SettleWatch(r, store.settled_channel(),
                                             int(cfg["JOB_WAITERS_PER_PROCESS"])),
                    auth=auth)


def _delivery_hook(deps: Deps, *, local_ok: bool) -> Any:
    """Settled jobs go to webhook delivery (a worker may make the first attempt itself)."""
    from mmservice.webhooks.emit import on_job_terminal

    def on_terminal(job: dict) -> None:
        on_job_terminal(job, deps, local_ok=local_ok)
    return on_terminal
