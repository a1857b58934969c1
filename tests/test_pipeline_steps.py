"""A step's record writes against a real Redis: the checks, the result, the usage counters, the
finished counter and the settle announcement travel in the step's own transactions, so a
re-delivered task (acks_late) changes nothing twice.

The moderation provider is the one thing supplied here (a counting one); the step, its policy,
records, counters and pub/sub are the real ones against a real Redis."""
from __future__ import annotations

import time
import uuid

import pytest

from doubles import OneProvider


@pytest.fixture()
def pipe_env(base_cfg):
    from mmservice.jobs.deps import Deps
    from mmservice.jobs.store import JobStore
    from mmservice.redis_conn import get_redis

    r = get_redis(base_cfg["REDIS_URL"])
    store = JobStore(r, 600, prefix=f"mmstest{uuid.uuid4().hex[:8]}")
    enqueued: list[str] = []
    settled: list[dict] = []
    from mmservice import config

    deps = Deps(cfg=config.load(base_cfg, environ={}), redis=r, store=store, blobs=None,
                providers=None,
                enqueue_step=lambda job, step: enqueued.append(step),
                send_task=lambda *a, **k: None, on_terminal=settled.append)
    return deps, enqueued, settled


def _job(deps, *, kind="text", tasks=("moderate",), deadline_in_s=60.0, **status) -> dict:
    ts = time.time()
    job = {"id": f"job_{uuid.uuid4().hex}", "tenant": f"t{uuid.uuid4().hex[:6]}",
           "status": "queued", "tasks": list(tasks),
           "task_status": {t: status.get(t, "pending") for t in tasks}, "results": {},
           "input": {"kind": kind}, "_text": "hello", "_created_ts": ts,
           "_deadline_ts": ts + deadline_in_s,
           "created_at": "x", "updated_at": "x"}
    deps.store.create(job)
    return job


class _CountingModeration:
    """A moderation provider that records each text it is asked about and scores nothing."""

    name, model = "test", "omni-test"

    def __init__(self, calls: list):
        self.calls = calls

    def moderate_texts(self, texts: list[str]):
        from mmservice.providers.base import RawModeration

        self.calls.extend(texts)
        return [RawModeration({"violence": 0.0}, ["violence"], self.model, self.name,
                              usage={"requests": 1, "prompt_tokens": 7}) for _ in texts]


def _counting(deps, calls: list):
    """`deps` whose moderation provider counts its calls: the real `moderate` step runs."""
    deps.providers = OneProvider(_CountingModeration(calls))
    return deps


def _finished(deps, status: str) -> int:
    return int(deps.redis.hget(deps.store.keys.metrics("jobs_finished"), status) or 0)


def _usage(deps, job) -> dict:
    from mmservice.accounting import read_usage, today

    return read_usage(deps.redis, job["tenant"], today(), deps.store.keys)["totals"]


def test_step_saves_result_usage_count_and_announces_once(pipe_env):
    from mmservice.jobs.pipeline import run_step

    deps, _, settled = pipe_env
    job = _job(deps)
    calls: list = []
    ps = deps.store.r.pubsub(ignore_subscribe_messages=True)
    ps.subscribe(deps.store.settled_channel())
    try:
        assert run_step(job["tenant"], job["id"], "moderate", _counting(deps, calls)) == "succeeded"
        # The same message again (a worker died before its ack): nothing runs or counts twice.
        assert run_step(job["tenant"], job["id"], "moderate", _counting(deps, calls)) == "terminal"
        msgs = []
        deadline = time.time() + 2
        while time.time() < deadline and not msgs:
            m = ps.get_message(timeout=0.2)
            if m:
                msgs.append(m["data"].decode())
    finally:
        ps.close()
    saved = deps.store.get(job["tenant"], job["id"])
    assert saved["status"] == "succeeded" and saved["results"]["moderation"]["flagged"] is False
    # The re-delivered message hands the settled job to delivery again (an idempotent hook:
    # one delivery per job and event), but nothing is counted twice.
    assert calls == ["hello"] and [j["id"] for j in settled] == [job["id"]] * 2
    assert all(j["status"] == "succeeded" for j in settled)
    assert _finished(deps, "succeeded") == 1
    assert _usage(deps, job) == {"requests": 1, "prompt_tokens": 7}
    assert msgs == [f"{job['tenant']}/{job['id']}"]


def test_step_past_its_deadline_fails_the_job_without_running(pipe_env):
    from mmservice.jobs.pipeline import run_step

    deps, _, settled = pipe_env
    job = _job(deps, deadline_in_s=-1)
    calls: list = []
    assert run_step(job["tenant"], job["id"], "moderate", _counting(deps, calls)) == "timeout"
    saved = deps.store.get(job["tenant"], job["id"])
    assert calls == [] and saved["status"] == "failed"
    assert saved["error"]["code"] == "job_timeout"
    assert _finished(deps, "failed") == 1 and len(settled) == 1
    assert _usage(deps, job) == {}


def test_redelivered_done_step_only_advances(pipe_env):
    from mmservice.jobs.pipeline import run_step

    deps, enqueued, _ = pipe_env
    job = _job(deps, tasks=("moderate", "speak"), moderate="succeeded")
    calls: list = []
    assert run_step(job["tenant"], job["id"], "moderate", _counting(deps, calls)) == "already-done"
    assert calls == [] and enqueued == ["speak"]
    assert deps.store.get(job["tenant"], job["id"])["status"] == "queued"


def test_step_whose_dependency_failed_is_skipped_and_settles(pipe_env):
    from mmservice.jobs.pipeline import run_step

    deps, _, settled = pipe_env
    job = _job(deps, kind="audio", tasks=("transcribe", "moderate"), transcribe="failed")
    calls: list = []
    assert run_step(job["tenant"], job["id"], "moderate", _counting(deps, calls)) == "skipped"
    saved = deps.store.get(job["tenant"], job["id"])
    assert calls == [] and saved["status"] == "failed"
    assert saved["task_status"]["moderate"] == "skipped"
    assert saved["error"]["failed_tasks"] == ["transcribe", "moderate"]
    assert _finished(deps, "failed") == 1 and len(settled) == 1


def test_missing_job_is_gone(pipe_env):
    from mmservice.jobs.pipeline import run_step

    deps, _, _ = pipe_env
    assert run_step("nobody", "job_missing", "moderate", _counting(deps, [])) == "gone"


def test_settled_job_whose_worker_died_before_delivery_is_handed_over_on_redelivery(pipe_env):
    """The settling write committed, then the worker died before `on_terminal` (the webhook
    hand-off): with acks_late the message comes back, finds the job settled, and hands it over."""
    from mmservice.jobs.pipeline import run_step

    deps, _, settled = pipe_env
    job = _job(deps)
    handed = list(settled)
    deps.on_terminal = lambda j: None  # the first worker dies before its hook runs
    assert run_step(job["tenant"], job["id"], "moderate", _counting(deps, [])) == "succeeded"
    assert settled == handed == []
    deps.on_terminal = settled.append  # the replacement worker gets the redelivered message
    assert run_step(job["tenant"], job["id"], "moderate", _counting(deps, [])) == "terminal"
    assert [j["status"] for j in settled] == ["succeeded"]
