"""Nothing is stranded: a running step of a dead worker is re-run soon (not at the deadline), an
overdue job is settled without a client's GET, and a Redis error in a step reaches the task layer
(which retries it) instead of being swallowed.

The in-process tests run the real pipeline, store and recovery sweep against a real Redis; only
the moderation provider is supplied (a counting one). The end-to-end test SIGKILLs a real worker
with the DEFAULT broker visibility timeout (a minute) and a 3 s heartbeat: the recovery sweep
saves its jobs before the broker would return their messages.
"""
from __future__ import annotations

import time
import uuid

import pytest
import redis

from doubles import CountingModeration as _Moderation
from doubles import OneProvider
from mmservice.testing.stack import wait_until


class _BreakableRedis(redis.Redis):
    """A real client whose transactions go to a closed port once `broken` is set: the record
    write after a successful upstream call meets a real ConnectionError."""

    broken = False

    def pipeline(self, transaction=True, shard_hint=None):
        if self.broken:
            from mmservice.embedded import free_port

            dead = redis.Redis(port=free_port(), socket_connect_timeout=0.5)
            return dead.pipeline(transaction=transaction, shard_hint=shard_hint)
        return super().pipeline(transaction=transaction, shard_hint=shard_hint)


@pytest.fixture()
def env(base_cfg):
    from mmservice import config
    from mmservice.jobs.deps import Deps
    from mmservice.jobs.store import JobStore

    r = _BreakableRedis.from_url(base_cfg["REDIS_URL"])
    store = JobStore(r, 600, prefix=f"mmsrec{uuid.uuid4().hex[:8]}")
    sent: list[tuple] = []
    settled: list[dict] = []
    deps = Deps(cfg=config.load(base_cfg, environ={}), redis=r, store=store, blobs=None,
                providers=None, enqueue_step=lambda job, step: None,
                send_task=lambda name, args, **kw: sent.append((name, args, kw)),
                on_terminal=settled.append)
    yield deps, sent, settled
    from mmservice.jobs import recovery

    recovery.set_runner("")


def _job(deps, *, deadline_in_s: float = 60.0) -> dict:
    ts = time.time()
    job = {"id": f"job_{uuid.uuid4().hex}", "tenant": f"t{uuid.uuid4().hex[:6]}",
           "status": "queued", "tasks": ["moderate"], "task_status": {"moderate": "pending"},
           "results": {}, "input": {"kind": "text"}, "_text": "hello", "_created_ts": ts,
           "_deadline_ts": ts + deadline_in_s, "created_at": "x", "updated_at": "x"}
    deps.store.create(job)
    return job


def _mark_running(deps, job: dict, runner: str) -> None:
    """What `run_step`'s start writes for a step whose worker then dies."""
    from mmservice.jobs import recovery

    def start(j: dict) -> None:
        j["status"] = "running"
        j["task_status"]["moderate"] = "running"
        j.setdefault("_runner", {})["moderate"] = runner

    deps.store.update(job["tenant"], job["id"], start,
                      in_same_transaction=lambda p, j, _: recovery.queue_running(
                          p, deps, j, "moderate"))


def _finished(deps, status: str) -> int:
    return int(deps.redis.hget(deps.store.keys.metrics("jobs_finished"), status) or 0)


def test_a_step_records_its_runner_and_leaves_the_index_when_done(env):
    from mmservice.jobs import recovery
    from mmservice.jobs.pipeline import run_step

    deps, _, _ = env
    recovery.set_runner("node-a/123")
    job = _job(deps)
    seen: list[tuple] = []

    def during() -> None:  # while the upstream call runs: indexed, runner recorded
        seen.append((deps.redis.zrange(recovery.running_key(deps), 0, -1),
                     deps.store.get(job["tenant"], job["id"])["_runner"]))

    deps.providers = OneProvider(_Moderation([], during))
    assert run_step(job["tenant"], job["id"], "moderate", deps) == "succeeded"
    assert seen == [([f"{job['tenant']}/{job['id']}/moderate".encode()],
                     {"moderate": "node-a/123"})]
    assert deps.redis.zcard(recovery.running_key(deps)) == 0


def test_a_dead_runners_step_is_republished_once(env):
    from mmservice import heartbeat
    from mmservice.jobs import recovery
    from mmservice.jobs.pipeline import run_step

    deps, sent, _ = env
    dead, live = _job(deps), _job(deps)
    _mark_running(deps, dead, "gone/1")
    alive_name = f"alive/{uuid.uuid4().hex}"
    heartbeat.publish(deps.redis, alive_name, queues=[], engines={}, pid=1, ttl_s=60)
    _mark_running(deps, live, alive_name)
    one, two = recovery.Sweeper(deps, "s1/1"), recovery.Sweeper(deps, "s2/2")
    assert one.sweep()["requeued"] == 1
    assert two.sweep()["requeued"] == 0 and one.sweep()["requeued"] == 0  # claimed: once
    assert sent == [("mms.moderate", [dead["tenant"], dead["id"], "moderate"],
                     {"task_id": dead["id"], "queue": "moderation"})]
    assert deps.store.get(dead["tenant"], dead["id"])["_runner"]["moderate"] == "requeued:s1/1"
    # The re-published message runs the step (the worker that takes it becomes the runner).
    recovery.set_runner("heir/9")
    deps.providers = OneProvider(_Moderation([]))
    assert run_step(dead["tenant"], dead["id"], "moderate", deps) == "succeeded"
    assert _finished(deps, "succeeded") == 1
    keys = [m.decode() for m in deps.redis.zrange(recovery.running_key(deps), 0, -1)]
    assert keys == [f"{live['tenant']}/{live['id']}/moderate"]  # the live one stays indexed
    heartbeat.withdraw(deps.redis, alive_name)


def test_an_overdue_running_job_is_settled_by_the_sweep_without_a_get(env):
    from mmservice.jobs import recovery

    deps, sent, settled = env
    job = _job(deps, deadline_in_s=-1)
    _mark_running(deps, job, "gone/2")
    done = recovery.Sweeper(deps, "s1/1").sweep()
    assert done["reaped"] == 1 and sent == []
    saved = deps.store.get(job["tenant"], job["id"])
    assert saved["status"] == "failed" and saved["error"]["code"] == "job_timeout"
    assert [j["id"] for j in settled] == [job["id"]]  # handed to webhook delivery, once
    assert _finished(deps, "failed") == 1
    assert deps.redis.zcard(recovery.running_key(deps)) == 0
    assert recovery.Sweeper(deps, "s2/2").sweep()["reaped"] == 0


def test_a_redis_error_in_the_result_write_reaches_the_task_and_a_rerun_finishes(env):
    from mmservice.jobs.pipeline import run_step

    deps, _, settled = env
    job = _job(deps)
    calls: list = []

    def break_redis() -> None:
        deps.redis.broken = True  # the upstream answered; now the record write fails

    deps.providers = OneProvider(_Moderation(calls, break_redis))
    with pytest.raises(redis.ConnectionError):
        run_step(job["tenant"], job["id"], "moderate", deps)
    deps.redis.broken = False
    saved = deps.store.get(job["tenant"], job["id"])
    assert saved["task_status"]["moderate"] == "running" and settled == []
    # The task's retry runs the step again: it finishes, once.
    deps.providers = OneProvider(_Moderation(calls))
    assert run_step(job["tenant"], job["id"], "moderate", deps) == "succeeded"
    assert deps.store.get(job["tenant"], job["id"])["status"] == "succeeded"
    assert calls == ["hello", "hello"] and _finished(deps, "succeeded") == 1


def test_the_step_task_retries_redis_errors_with_backoff():
    from workers.tasks import REDIS_ERRORS, retry_countdown

    assert redis.ConnectionError in REDIS_ERRORS and redis.TimeoutError in REDIS_ERRORS
    cfg = {"STEP_REDIS_RETRY_BACKOFF_S": 1.0}
    assert [retry_countdown(cfg, n) for n in range(7)] == [1, 2, 4, 8, 16, 30, 30]


def test_killed_worker_jobs_finish_soon_with_default_visibility_timeout(stack, stub):
    from mmservice.config import DEFAULTS

    s = stack({"WORKER_HEARTBEAT_TTL_S": 3.0}, workers=0)
    visibility = DEFAULTS["BROKER_VISIBILITY_TIMEOUT_S"]
    assert int(s.cfg.get("BROKER_VISIBILITY_TIMEOUT_S", visibility)) == visibility
    store, r, c = s.services.store, s.redis, s.client
    doomed = s.add_worker("doomed")
    stub.reset()
    stub.configure(latency_ms=1500)
    try:
        ids = [c.submit({"text": f"survive a crash {i}"}).json()["id"] for i in range(12)]
        wait_until(lambda: bool(stub.requests.matching("/moderations")), 30,
                   what="the doomed worker's upstream calls")
        doomed.kill()
        stranded = [j for j in ids if store.get("default", j)["status"] == "running"]
        assert stranded, "no job was running when the worker died"
        s.add_worker("heir")
        jobs = [c.poll(j, timeout=90, until=("succeeded", "failed")) for j in ids]
    finally:
        stub.configure(latency_ms=0)
    assert [j["status"] for j in jobs] == ["succeeded"] * len(ids), jobs
    wait_until(lambda: int(r.hget("mms:metrics:jobs_finished", "succeeded") or 0) >= len(ids),
               10, what="the finished counter")
    assert int(r.hget("mms:metrics:jobs_finished", "succeeded") or 0) == len(ids)
    assert int(r.hget("mms:metrics:jobs_finished", "failed") or 0) == 0
    assert r.zcard("mms:running_steps") == 0


def test_a_copy_of_a_step_running_under_a_live_worker_does_nothing(env):
    """The short visibility timeout returns a message whose step still runs: that copy must
    not run it again; the execution's own retry (same token) and a dead runner's re-run do."""
    from mmservice import heartbeat
    from mmservice.jobs import recovery
    from mmservice.jobs.pipeline import run_step

    deps, _, _ = env
    live = f"live-{uuid.uuid4().hex[:6]}/1"
    heartbeat.publish(deps.redis, live, queues=["moderation"], engines={}, pid=1, ttl_s=60)
    recovery.set_runner(live)
    job = _job(deps)
    calls: list = []
    seen: dict = {}

    def copy_arrives() -> None:  # while the step runs, a second copy of its message starts
        if not seen:
            seen["copy"] = run_step(job["tenant"], job["id"], "moderate", deps, "token-b")

    deps.providers = OneProvider(_Moderation(calls, copy_arrives))
    assert run_step(job["tenant"], job["id"], "moderate", deps, "token-a") == "succeeded"
    assert seen["copy"] == "running-elsewhere"
    assert calls == ["hello"]  # the upstream saw the text once
    assert _finished(deps, "succeeded") == 1
    heartbeat.withdraw(deps.redis, live)


def test_the_same_execution_may_run_its_step_again_after_a_redis_error(env):
    from mmservice import heartbeat
    from mmservice.jobs import recovery
    from mmservice.jobs.pipeline import run_step

    deps, _, _ = env
    live = f"live-{uuid.uuid4().hex[:6]}/1"
    heartbeat.publish(deps.redis, live, queues=["moderation"], engines={}, pid=1, ttl_s=60)
    recovery.set_runner(live)
    job = _job(deps)
    calls: list = []

    def break_redis() -> None:
        deps.redis.broken = True

    deps.providers = OneProvider(_Moderation(calls, break_redis))
    with pytest.raises(redis.ConnectionError):
        run_step(job["tenant"], job["id"], "moderate", deps, "token-a")
    deps.redis.broken = False
    deps.providers = OneProvider(_Moderation(calls))
    assert run_step(job["tenant"], job["id"], "moderate", deps, "token-b") == "running-elsewhere"
    assert run_step(job["tenant"], job["id"], "moderate", deps, "token-a") == "succeeded"
    # once the runner's heartbeat is gone, any copy may take over (here: the job is done)
    heartbeat.withdraw(deps.redis, live)
    assert run_step(job["tenant"], job["id"], "moderate", deps, "token-c") == "terminal"


def test_a_copy_of_a_dead_workers_step_runs_it(env):
    from mmservice.jobs import recovery
    from mmservice.jobs.pipeline import run_step

    deps, _, _ = env
    recovery.set_runner(f"heir-{uuid.uuid4().hex[:6]}/2")
    job = _job(deps)
    _mark_running(deps, job, f"dead-{uuid.uuid4().hex[:6]}/1")  # no heartbeat: it died
    calls: list = []
    deps.providers = OneProvider(_Moderation(calls))
    assert run_step(job["tenant"], job["id"], "moderate", deps, "token-x") == "succeeded"
    assert calls == ["hello"]


def test_a_task_runs_its_step_again_in_place_until_redis_answers():
    from workers.tasks import through_redis_errors

    cfg = {"STEP_REDIS_RETRY_MAX": 3, "STEP_REDIS_RETRY_BACKOFF_S": 1.0}
    pauses: list[float] = []
    errors = [redis.TimeoutError("hung"), redis.ConnectionError("refused")]

    def work() -> str:
        if errors:
            raise errors.pop(0)
        return "succeeded"

    assert through_redis_errors(cfg, work, "mms.moderate", pauses.append) == "succeeded"
    assert pauses == [1.0, 2.0]

    def never() -> str:
        raise redis.ConnectionError("down")

    pauses.clear()
    with pytest.raises(redis.ConnectionError):
        through_redis_errors(cfg, never, "mms.moderate", pauses.append)
    assert pauses == [1.0, 2.0, 4.0]  # 3 retries, then the error propagates


def test_a_fanout_part_running_under_a_live_worker_is_leased(env):
    from mmservice import heartbeat
    from mmservice.jobs import recovery
    from mmservice.jobs.fanout import _lease_part

    deps, _, _ = env
    key = f"{deps.store.keys.prefix}:fanout-test:{uuid.uuid4().hex}"
    live = f"live-{uuid.uuid4().hex[:6]}/1"
    heartbeat.publish(deps.redis, live, queues=["audio"], engines={}, pid=1, ttl_s=60)
    recovery.set_runner(live)
    assert _lease_part(deps, key, "0", "token-a")  # first execution takes part 0
    assert _lease_part(deps, key, "1", "token-c")  # another part is another lease
    recovery.set_runner(f"other-{uuid.uuid4().hex[:6]}/2")
    assert not _lease_part(deps, key, "0", "token-b")  # a copy elsewhere: the holder lives
    recovery.set_runner(live)
    assert _lease_part(deps, key, "0", "token-a")  # the holder's own retry
    heartbeat.withdraw(deps.redis, live)
    recovery.set_runner(f"heir-{uuid.uuid4().hex[:6]}/3")
    assert _lease_part(deps, key, "0", "token-b")  # the holder died: the copy takes over
    deps.redis.delete(key)
