"""A worker killed mid-job (SIGKILL: no goodbye, message unacked) does not lose the job, and the
job finishes exactly once on the worker that replaces it.

Runs in its own Redis database so the session's worker cannot pick the job up instead.
"""
from __future__ import annotations

import time

from conftest import WorkerProcess


def test_worker_killed_mid_job_job_finishes_once(base_cfg, stub, tmp_root):
    from mmservice import create_app

    cfg = {**base_cfg, "REDIS_URL": base_cfg["REDIS_URL"].rsplit("/", 1)[0] + "/3",
           "BROKER_VISIBILITY_TIMEOUT_S": 3,
           "BROKER_RESTORE_INTERVAL_S": 1.0}
    app = create_app(cfg)
    c = app.test_client()
    store = app.extensions["mms"].store
    r = app.extensions["mms"].redis
    r.flushdb()
    log = str(tmp_root / "restart-worker.log")
    first = WorkerProcess(cfg, log, name="doomed").start()
    stub.reset()
    stub.script("/moderations", [{"latency_ms": 4000}])
    jid = c.post("/v1/jobs", json={"text": "survive a crash"}).json["id"]
    try:
        deadline = time.time() + 20
        while time.time() < deadline and not stub.requests.matching("/moderations"):
            time.sleep(0.05)
        assert stub.requests.matching("/moderations"), "the doomed worker never called upstream"
        assert store.get("default", jid)["status"] == "running"
        first.kill()
    finally:
        first.kill()
    assert store.get("default", jid)["status"] == "running"  # nobody finished it

    second = WorkerProcess(cfg, log, name="heir").start()
    try:
        deadline = time.time() + 45
        job = None
        while time.time() < deadline:
            job = c.get(f"/v1/jobs/{jid}").json
            if job["status"] in ("succeeded", "failed"):
                break
            time.sleep(0.2)
        assert job["status"] == "succeeded", job
        assert job["results"]["moderation"]["verdict"] in ("allow", "review", "block")
        time.sleep(1.0)  # any duplicate delivery would have settled by now
        finished = int(r.hget("mms:metrics:jobs_finished", "succeeded") or 0)
        assert finished == 1, f"the job settled {finished} times"
        assert c.get(f"/v1/jobs/{jid}").json["finished_at"] == job["finished_at"]
    finally:
        second.stop()
