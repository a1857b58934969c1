"""What job steps and the pipeline are given: the stores, the providers and the ways to publish.

Why a plain dataclass built by the composition root (`mmservice.services.build`): tasks, the
API, the CLI, tests and benchmarks hand the same functions the same kind of object, and a test
can replace one field (`dataclasses.replace`) without patching modules.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from mmservice.blobs import BlobStore
from mmservice.jobs.store import JobStore
from mmservice.providers.registry import Registry


def _nothing(job: dict) -> None:
    return None


# send_task(name, args, *, task_id, queue): publish one task message.
SendTask = Callable[..., None]


@dataclass
class Deps:
    cfg: dict
    redis: redis.Redis
    store: JobStore
    blobs: BlobStore
    providers: Registry
    # Publish a job's step once (an enqueue-once marker guards it): enqueue_step(job, step).
    enqueue_step: Callable[..., None]
    send_task: SendTask
    # Called once a job settles (succeeded, failed, canceled): hands it to delivery.
    on_terminal: Callable[[dict], None] = _nothing
    # Jobs waiting in the moderation queue: micro-batching holds texts only under a backlog.
    moderation_backlog: Callable[[], int] | None = None
    # The API's first task message, queued into the transaction that creates the job record
    # (`RedisTaskPublisher.queue_first_step`); None: published right after with enqueue_step.
    first_step_with_record: Callable[[Any, dict], None] | None = None
    # The tenants' quotas (`mmservice.auth.limits.Limits`): intake reserves a place among the
    # tenant's unfinished jobs before it stores anything. None: no quota (workers, tests).
    limits: Any = None
    # A tenant's settings: `cfg` with the tenant's overrides (`mmservice.auth.tenant_settings`):
    # thresholds and webhook URL/secrets are read through it. None: `cfg` for every tenant.
    tenant_cfg: Callable[[str, dict], dict] | None = None
    # The tenants' moderation policies (`mmservice.policies.PolicyStore`): intake resolves a
    # job's policy version, the moderate step loads it. None: the builtin policy for every job.
    policies: Any = None
    # Admits a job in one round trip (`mmservice.jobs.admission.Admission`): its policy and
    # quotas. None: intake makes one.
    admission: Any = None
    # The tenants' block/allow lists on a worker (`mmservice.lists.apply.ListMatcher`, one per
    # process: its indexes and compiled term lists are reused by every job). None: no lists.
    lists: Any = None
    # Whether list matching may read an image's text with the offline OCR engine (a model):
    # true on workers, false in the API process, which never loads one (the facade).
    ocr: bool = True
    # Appends an audit entry soon, off the request (`facade.audit_writer`, one per API process):
    # the API's own verdicts (cache hits at intake, the facade) do not wait for the hash chain.
    # None: entries are appended before the caller goes on (workers).
    audit_later: Callable[[str, dict], None] | None = None

    def cfg_for(self, tenant: str) -> dict:
        """`cfg` with `tenant`'s overrides."""
        return self.tenant_cfg(tenant, self.cfg) if self.tenant_cfg is not None else self.cfg
