"""A step whose broker message vanished (taken off its queue by a worker just before Redis died,
so never recorded in kombu's unacked hash) is published again by the sweep of waiting steps,
once, and the job finishes once; a message that was only slow and its copy run the step once.

The in-process tests run the real store, pipeline, publisher and sweep against a Redis database
of their own (a queue key there is theirs alone); only the moderation provider is supplied (a
counting one) and `send_task` is recorded. The end-to-end test loses the message of a job
created by the API by taking it off the queue before any worker runs, then starts a worker.
"""
from __future__ import annotations

import json
import time
import uuid

import pytest
import redis

from doubles import CountingModeration as _Moderation
from doubles import OneProvider
from mmservice.testing.stack import wait_until


@pytest.fixture()
def env(base_cfg, redis_databases):
    from mmservice import config, heartbeat
    from mmservice.celery_init import make_celery
    from mmservice.jobs import recovery
    from mmservice.jobs.deps import Deps
    from mmservice.jobs.dispatch import RedisTaskPublisher
    from mmservice.jobs.store import JobStore

    url = redis_databases.allocate()  # its own database: the `moderation` queue is ours
    r = redis.Redis.from_url(url)
    cfg = config.load({**base_cfg, "REDIS_URL": url}, environ={})
    store = JobStore(r, 600)
    sent: list[tuple] = []
    deps = Deps(cfg=cfg, redis=r, store=store, blobs=None, providers=None,
                enqueue_step=lambda job, step: None,
                send_task=lambda name, args, **kw: sent.append((name, args, kw)))
    live = f"live-{uuid.uuid4().hex[:6]}/1"  # this test's worker, alive while it runs
    heartbeat.publish(r, live, queues=["moderation"], engines={}, pid=1, ttl_s=60)
    recovery.set_runner(live)
    publisher = RedisTaskPublisher(make_celery(cfg), r)
    yield deps, sent, publisher
    recovery.set_runner("")
    heartbeat.withdraw(r, live)


def _job(deps, publisher=None, tasks=("moderate",)) -> dict:
    """A job created as the API creates it: the record, its first step's message (when a
    publisher is given) and the step's entry among the waiting steps, in one transaction."""
    ts = time.time()
    job = {"id": f"job_{uuid.uuid4().hex}", "tenant": f"t{uuid.uuid4().hex[:6]}",
           "status": "queued", "tasks": list(tasks), "task_status": dict.fromkeys(tasks, "pending"),
           "results": {}, "input": {"kind": "text"}, "_text": "hello", "_created_ts": ts,
           "_deadline_ts": ts + 60, "created_at": "x", "updated_at": "x"}
    deps.store.create(job, in_same_transaction=(lambda pipe: publisher.queue_first_step(
        pipe, job)) if publisher else None)
    return job


AGE_S = 60.0


def _age(deps, seconds: float = 2 * AGE_S) -> None:
    """Make every waiting step `seconds` older (instead of waiting for it)."""
    key = deps.store.keys.queued_steps()
    for m, score in deps.redis.zrange(key, 0, -1, withscores=True):
        deps.redis.zadd(key, {m: score - seconds})


def _waiting(deps) -> list[str]:
    return [m.decode() for m in deps.redis.zrange(deps.store.keys.queued_steps(), 0, -1)]


def _finished(deps, status: str) -> int:
    return int(deps.redis.hget(deps.store.keys.metrics("jobs_finished"), status) or 0)


def test_a_lost_first_step_is_republished_once_and_the_job_finishes_once(env):
    from mmservice.jobs.lost_messages import QueuedSweeper
    from mmservice.jobs.pipeline import run_step

    deps, sent, publisher = env
    job = _job(deps, publisher)
    assert _waiting(deps) == [f"{job['tenant']}/{job['id']}/moderate"]
    # a worker's BRPOP took the message; Redis died before kombu recorded it as unacked
    taken = deps.redis.rpop("moderation")
    assert json.loads(taken)["headers"]["id"] == job["id"]
    young = QueuedSweeper(deps, "s0/0", age_s=AGE_S)
    assert young.sweep() == {"republished": 0, "unindexed": 0, "in_queue": 0}  # too young
    _age(deps)
    one, two = QueuedSweeper(deps, "s1/1", age_s=AGE_S), QueuedSweeper(deps, "s2/2", age_s=AGE_S)
    assert one.sweep()["republished"] == 1
    assert two.sweep()["republished"] == 0  # claimed: once per period, whoever sweeps
    assert sent == [("mms.moderate", [job["tenant"], job["id"], "moderate"],
                     {"task_id": job["id"], "queue": "moderation"})]
    calls: list = []
    deps.providers = OneProvider(_Moderation(calls))
    assert run_step(job["tenant"], job["id"], "moderate", deps, "token-a") == "succeeded"
    assert calls == ["hello"] and _finished(deps, "succeeded") == 1
    assert _waiting(deps) == []  # started: nothing left to sweep
    assert one.sweep() == {"republished": 0, "unindexed": 0, "in_queue": 0}


def test_a_message_still_in_its_queue_is_not_copied(env):
    """Under a backlog a message may wait longer than the age: it is left alone while it is
    (or an older one is) in the queue, and copied once it has left it without starting."""
    from mmservice.jobs.lost_messages import QueuedSweeper

    deps, sent, publisher = env
    older, job = _job(deps, publisher), _job(deps, publisher)
    _age(deps)
    sweeper = QueuedSweeper(deps, "s1/1", age_s=AGE_S)
    assert sweeper.sweep() == {"republished": 0, "unindexed": 0, "in_queue": 2}
    deps.redis.rpop("moderation")  # `older` is taken and lost; `job` still waits
    assert sweeper.sweep() == {"republished": 1, "unindexed": 0, "in_queue": 1}
    assert [args for _name, args, _kw in sent] == [[older["tenant"], older["id"], "moderate"]]
    deps.redis.rpop("moderation")  # now `job`'s too (`older`'s copy is young: left alone)
    assert sweeper.sweep()["republished"] == 1
    assert sweeper.sweep()["republished"] == 0
    assert [args[1] for _name, args, _kw in sent] == [older["id"], job["id"]]


def test_a_slow_message_and_its_copy_run_the_step_once(env):
    """The sweep copied a message that was only slow: both reach the worker. The copy that
    arrives while the step runs does nothing, and so does one arriving after it ended."""
    from mmservice.jobs.lost_messages import QueuedSweeper
    from mmservice.jobs.pipeline import run_step

    deps, sent, publisher = env
    job = _job(deps, publisher)
    deps.redis.rpop("moderation")  # taken by a worker that is slow to start it
    _age(deps)
    assert QueuedSweeper(deps, "s1/1", age_s=AGE_S).sweep()["republished"] == 1
    calls: list = []
    seen: dict = {}

    def copy_arrives() -> None:  # during the original's upstream call, the copy starts
        if not seen:
            seen["copy"] = run_step(job["tenant"], job["id"], "moderate", deps, "token-copy")

    deps.providers = OneProvider(_Moderation(calls, copy_arrives))
    assert run_step(job["tenant"], job["id"], "moderate", deps, "token-slow") == "succeeded"
    assert seen["copy"] == "running-elsewhere"
    assert run_step(job["tenant"], job["id"], "moderate", deps, "token-copy") == "terminal"
    assert calls == ["hello"]  # one upstream call
    assert _finished(deps, "succeeded") == 1  # settled once
    assert len(sent) == 1 and _waiting(deps) == []


def test_a_later_step_is_indexed_with_its_marker_and_a_lost_one_is_republished(env):
    from mmservice.jobs.dispatch import make_enqueue_step, marker_key
    from mmservice.jobs.lost_messages import QueuedSweeper
    from mmservice.jobs.pipeline import run_step

    deps, sent, _ = env
    job = _job(deps, tasks=("moderate", "describe"))
    deps.store.update(job["tenant"], job["id"],
                      lambda j: j["task_status"].update(moderate="succeeded"))
    published: list[tuple] = []
    enqueue = make_enqueue_step(None, deps.redis, 60, publish=lambda *a: published.append(a),
                                keys=deps.store.keys)
    enqueue(job, "describe")
    enqueue(job, "describe")  # a re-delivered `moderate` advancing again: the marker holds
    assert len(published) == 1 and deps.redis.exists(marker_key(job, "describe",
                                                                deps.store.keys))
    # the first step's entry left when it ended... here it never ran: it is stale, dropped
    assert sorted(_waiting(deps)) == sorted([f"{job['tenant']}/{job['id']}/moderate",
                                             f"{job['tenant']}/{job['id']}/describe"])
    _age(deps)
    done = QueuedSweeper(deps, "s1/1", age_s=AGE_S).sweep()  # the `describe` message was lost
    assert done == {"republished": 1, "unindexed": 1, "in_queue": 0}
    assert sent == [("mms.describe", [job["tenant"], job["id"], "describe"],
                     {"task_id": f"{job['id']}.describe", "queue": "vision"})]
    run_step(job["tenant"], job["id"], "describe", deps, "t")  # however it ends, it started
    assert _waiting(deps) == []


def test_a_recovery_rerun_is_watched_too_and_a_failed_job_leaves_the_index(env):
    from mmservice.jobs import recovery
    from mmservice.jobs.lost_messages import QueuedSweeper
    from mmservice.jobs.pipeline import fail_job

    deps, sent, _ = env
    job = _job(deps)
    deps.store.update(job["tenant"], job["id"], lambda j: j.update(
        status="running", task_status={"moderate": "running"},
        _runner={"moderate": "gone/1"}),
        in_same_transaction=lambda p, j, _: (recovery.queue_running(p, deps, j, "moderate"),
                                             p.zrem(deps.store.keys.queued_steps(),
                                                    f"{j['tenant']}/{j['id']}/moderate")))
    assert recovery.Sweeper(deps, "s1/1").sweep()["requeued"] == 1
    assert _waiting(deps) == [f"{job['tenant']}/{job['id']}/moderate"]  # with its claim
    _age(deps)
    assert QueuedSweeper(deps, "s1/1", age_s=AGE_S).sweep()["republished"] == 1  # that one lost
    assert [name for name, _a, _k in sent] == ["mms.moderate", "mms.moderate"]
    fail_job(deps, deps.store.get(job["tenant"], job["id"]), "x", "y")
    assert _waiting(deps) == []


def test_a_job_whose_message_was_lost_finishes_once_end_to_end(stack, stub):
    """The API creates the job and its message; the message is taken off the queue and never
    recorded (what a BRPOP just before a Redis crash leaves); a worker started afterwards
    sweeps, re-publishes it, and the job succeeds with exactly one upstream request."""
    s = stack({"QUEUED_REPUBLISH_AFTER_S": 0.5, "RECOVERY_SWEEP_S": 0.2,
               "UPSTREAM_TIMEOUT_S": 30.0}, workers=0)
    stub.reset()
    text = f"a message lost once {uuid.uuid4().hex}"
    job_id = s.client.submit({"text": text}).json()["id"]
    taken = s.redis.rpop("moderation")
    assert taken is not None and json.loads(taken)["headers"]["id"] == job_id
    assert s.redis.llen("moderation") == 0
    s.add_worker("sweeper")
    job = s.client.poll(job_id, timeout=60)
    assert job["status"] == "succeeded", job
    sent = [r for r in stub.requests.matching("/moderations")
            if text in ((r.get("json") or {}).get("input") or [])]
    assert len(sent) == 1
    wait_until(lambda: s.redis.zcard("mms:queued_steps") == 0, 10, what="the index emptied")
    assert int(s.redis.hget("mms:metrics:jobs_finished", "succeeded") or 0) == 1


def test_a_lost_fanout_part_is_republished_once_and_a_leased_one_is_left(env):
    """A step that fanned out waits on its parts' messages: one lost (never taken by a part
    task) is published again; one whose task took its lease has left the index."""
    from mmservice.jobs import fanout
    from mmservice.jobs import fanout_hash as fh
    from mmservice.jobs.lost_messages import QueuedSweeper
    from mmservice.steps import registry

    deps, sent, _ = env
    job = _job(deps, tasks=("transcribe",))
    deps.store.update(job["tenant"], job["id"], lambda j: j.update(
        status="running", task_status={"transcribe": "running"}))
    step = registry.get("transcribe")
    key = deps.store.keys.fanout(job["tenant"], job["id"], step.name)
    batch = {"0": {"start": 0}, "1": {"start": 30, "queue": "audio"}}
    fanout._publish(deps, job, step, key, batch)  # recorded, sent (here: to `sent`), marked
    assert [args[3] for name, args, _kw in sent if name == registry.FANOUT_TASK] == ["0", "1"]
    sent.clear()
    prefix = f"{job['tenant']}/{job['id']}/transcribe"
    assert sorted(_waiting(deps)) == [prefix, f"{prefix}#0", f"{prefix}#1"]
    # part 1's task arrived and took its lease; part 0's message was lost
    assert fanout._lease_part(deps, key, "1", "tok", f"{prefix}#1")
    _age(deps)
    one, two = QueuedSweeper(deps, "s1/1", age_s=AGE_S), QueuedSweeper(deps, "s2/2", age_s=AGE_S)
    assert one.sweep() == {"republished": 1, "unindexed": 1, "in_queue": 0}  # the step: started
    assert two.sweep()["republished"] == 0
    assert sent == [(registry.FANOUT_TASK, [job["tenant"], job["id"], "transcribe", "0"],
                     {"task_id": f"{job['id']}.transcribe.part0", "queue": "audio"})]
    assert fh.lease(deps.redis, key, "0", "{}", (deps.store.keys.queued_steps(), f"{prefix}#0"))
    assert _waiting(deps) == []
