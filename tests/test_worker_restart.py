"""A worker killed mid-job (SIGKILL: no goodbye, message unacked) does not lose the job, and the
job finishes exactly once on the worker that replaces it.

Runs on its own stack (a fresh Redis database) so the session's worker cannot pick the job up.
"""
from __future__ import annotations

from mmservice.testing.stack import broker_idle, wait_until


def test_worker_killed_mid_job_job_finishes_once(stack, stub):
    s = stack({"BROKER_VISIBILITY_TIMEOUT_S": 3, "BROKER_RESTORE_INTERVAL_S": 1.0}, workers=0)
    store, r, c = s.services.store, s.redis, s.client
    first = s.add_worker("doomed")
    stub.reset()
    stub.script("/moderations", [{"latency_ms": 4000}])
    jid = c.submit({"text": "survive a crash"}).json()["id"]
    try:
        wait_until(lambda: bool(stub.requests.matching("/moderations")), 20,
                   what="the doomed worker's upstream call")
        assert store.get("default", jid)["status"] == "running"
        assert r.hlen("unacked") == 1  # the message is held, not acked
    finally:
        first.kill()
    assert store.get("default", jid)["status"] == "running"  # nobody finished it

    s.add_worker("heir")
    job = c.poll(jid, timeout=45, until=("succeeded", "failed"))
    assert job["status"] == "succeeded", job
    assert job["results"]["moderation"]["verdict"] in ("allow", "review", "block")
    # Once the broker holds no message for the job, no duplicate delivery can follow.
    wait_until(lambda: broker_idle(r), 30, what="the broker to hold no message")
    finished = int(r.hget("mms:metrics:jobs_finished", "succeeded") or 0)
    assert finished == 1, f"the job settled {finished} times"
    assert c.get(f"/v1/jobs/{jid}").json()["finished_at"] == job["finished_at"]
