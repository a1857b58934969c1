"""Putting step tasks on their queues. Messages carry the tenant and job id, nothing else.

Why an enqueue-once marker: a step is enqueued by exactly one writer (the API for the first step,
the finishing step for the next). A re-delivered step message that finds its work done calls
`advance` again; the marker keeps that from enqueuing the next step twice. Crash recovery is the
broker's job (`acks_late` redelivers the unacked message), and a message lost outright (taken
off its queue by a worker when Redis died) is re-published by the sweep of waiting steps
(`jobs.lost_messages`), never by a second enqueue here.
"""
from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from mmservice.jobs import lost_messages
from mmservice.keys import DEFAULT as KEYS
from mmservice.keys import Keys
from mmservice.steps import registry

# The body's third element (Celery protocol 2 "embed"): no callbacks, errbacks, chain or chord.
_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def marker_key(job: dict, step: str, keys: Keys = KEYS) -> str:
    return keys.enqueued(job["tenant"], job["id"], step)


class RedisTaskPublisher:
    """A Celery task message, exactly as `send_task` would publish it to a Redis broker, LPUSHed
    with our own Redis client.

    Why: `send_task` cost ~0.5 ms of CPU per message, about a tenth of a whole `POST /v1/jobs`.
    It does reuse a pooled producer and pooled sockets; the cost is the layers: routing,
    `as_task_v2`, kombu's Producer and virtual channel, and kombu's Redis transport building a
    new `redis.Redis` client object for every publish (`Channel._put` -> `conn_or_acquire` ->
    `_create_client`, by design). Our messages have one fixed shape: protocol 2, JSON, default
    exchange, priority 0, no ETA, no callbacks. This builds that shape directly (~0.1 ms with
    the LPUSH).

    The format is Celery's and kombu's, not ours: `tests/test_dispatch.py` compares a message
    built here with one `send_task` puts on the list, field by field, so an upgrade that changes
    the envelope fails that test rather than the workers. `usable()` keeps everything outside
    the one configuration we build for (key prefixes, other serializers, routes, another broker)
    on `send_task`.
    """

    def __init__(self, celery_app: Any, redis_client: Any):
        self.app = celery_app
        self.r = redis_client

    @staticmethod
    def usable(celery_app: Any, redis_url: str) -> bool:
        conf = celery_app.conf
        opts = conf.broker_transport_options or {}
        return (conf.broker_url == redis_url
                and redis_url.startswith(("redis://", "rediss://", "unix://"))
                and conf.task_protocol == 2 and conf.task_serializer == "json"
                and not conf.task_routes and not conf.task_queues
                and not conf.task_send_sent_event and not conf.task_inherit_parent_priority
                and not opts.get("global_keyprefix") and "sep" not in opts
                and "priority_steps" not in opts)

    def message(self, name: str, args: list, task_id: str, queue: str) -> str:
        """The JSON string kombu's Redis transport LPUSHes for `send_task(name, args=args,
        task_id=task_id, queue=queue)` from a process that is not running a task."""
        from celery.utils.nodenames import anon_nodename

        body = json.dumps([args, {}, _EMBED])
        headers = {
            "lang": "py", "task": name, "id": task_id, "shadow": None, "eta": None,
            "expires": None, "group": None, "group_index": None, "retries": 0,
            "timelimit": [None, None], "root_id": task_id, "parent_id": None,
            "argsrepr": repr(args), "kwargsrepr": "{}", "origin": anon_nodename(),
            "ignore_result": None, "replaced_task_nesting": 0, "stamped_headers": None,
            "stamps": {},
        }
        properties = {
            "correlation_id": task_id, "reply_to": self.app.thread_oid, "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": queue}, "priority": 0,
            "body_encoding": "base64", "delivery_tag": str(uuid.uuid4()),
        }
        return json.dumps({"body": base64.b64encode(body.encode()).decode("ascii"),
                           "content-encoding": "utf-8", "content-type": "application/json",
                           "headers": headers, "properties": properties})

    def __call__(self, name: str, args: list, task_id: str, queue: str) -> None:
        self.r.lpush(queue, self.message(name, args, task_id, queue))

    def queue_first_step(self, pipe: Any, job: dict) -> None:
        """Queue a new job's first task message into the transaction that creates its record
        (`JobStore.create(in_same_transaction=...)`): one round trip, and no record is ever
        left without its message (or a message without its record) by a crash in between."""
        name, args, task_id, queue = step_task(job, job["tasks"][0])
        pipe.lpush(queue, self.message(name, args, task_id, queue))


def step_task(job: dict, step: str) -> tuple[str, list, str, str]:
    """(task name, args, task id, queue) for one step of a job. The first step's task id is the
    job id; later steps get `<job id>.<step>`."""
    task_id = job["id"] if step == job["tasks"][0] else f"{job['id']}.{step}"
    spec = registry.get(step)
    return spec.task_name, [job["tenant"], job["id"], step], task_id, spec.queue


def make_enqueue_step(celery_app: Any, redis_client, ttl_s: int,
                      publish: Callable[[str, list, str, str], None] | None = None,
                      keys: Keys = KEYS):
    """`publish(name, args, task_id, queue)` replaces `celery_app.send_task` when given (the API
    passes a `RedisTaskPublisher`). `keys`: the job store's, so the marker checked here is the
    one intake writes with the record."""
    if publish is None:
        def publish(name: str, args: list, task_id: str, queue: str) -> None:
            celery_app.send_task(name, args=args, task_id=task_id, queue=queue)
    mark = redis_client.register_script(lost_messages.MARK_AND_INDEX_LUA)

    def enqueue_step(job: dict, step: str, *, marked: bool = False) -> None:
        """`marked`: the caller already wrote the marker (the API does, with the job record).
        The marker and the step's entry among the waiting steps are one script (one round
        trip, as the marker alone was): a message lost from here on is re-published by the
        sweep (`jobs.lost_messages`), a publisher that dies right after the marker included."""
        marker = marker_key(job, step, keys)
        if not marked and not int(mark(keys=[marker, keys.queued_steps()],
                                       args=[ttl_s, time.time(),
                                             lost_messages.member(job["tenant"], job["id"],
                                                                  step)])):
            return
        try:
            publish(*step_task(job, step))
        except Exception:
            redis_client.delete(marker)
            raise
    return enqueue_step
