"""Long-polling `GET /v1/jobs/<id>?wait=`: woken by the settle itself (pub/sub), bounded, and
never more waiters than the process allows."""
from __future__ import annotations

import threading
import time
import uuid

import pytest


def _timed_get(client, path: str):
    t0 = time.monotonic()
    r = client.get(path)
    return r, time.monotonic() - t0


def test_wait_returns_when_the_job_settles(client, stub):
    client.run({"text": "warm the worker up"})
    stub.configure(latency_ms=400)
    try:
        job_id = client.submit({"text": "long poll me"}).json()["id"]
        r, took = _timed_get(client, f"/v1/jobs/{job_id}?wait=10")
    finally:
        stub.configure(latency_ms=0)
    assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text
    # Woken by the settle's announcement: well before the 1 s safety re-read, and not the 10 s.
    assert 0.3 < took < 0.9, took
    assert r.json()["results"]["moderation"]["flagged"] is False


def test_wait_is_bounded_and_answers_the_current_state(client, stub):
    stub.configure(latency_ms=1500)
    try:
        job_id = client.submit({"text": "slow"}).json()["id"]
        r, took = _timed_get(client, f"/v1/jobs/{job_id}?wait=0.4")
        assert r.status_code == 200 and r.json()["status"] in ("queued", "running")
        assert 0.35 < took < 1.2, took
        assert client.poll(job_id, timeout=30)["status"] == "succeeded"
    finally:
        stub.configure(latency_ms=0)


def test_cancel_wakes_a_waiting_reader(client, stub):
    stub.configure(latency_ms=1500)  # under UPSTREAM_TIMEOUT_S (2 s): no retries outlive the test
    try:
        job_id = client.submit({"text": "cancel me"}).json()["id"]
        out = {}
        t = threading.Thread(target=lambda: out.update(
            zip(("r", "took"), _timed_get(client, f"/v1/jobs/{job_id}?wait=10"))))
        t.start()
        time.sleep(0.3)
        assert client.delete(f"/v1/jobs/{job_id}").status_code == 200
        t.join(10)
    finally:
        stub.configure(latency_ms=0)
    assert out["r"].json()["status"] == "canceled"
    assert out["took"] < 1.0, out["took"]


@pytest.mark.parametrize("wait", ["31", "-1", "soon"])
def test_bad_wait_is_a_422_naming_the_field(client, wait):
    job_id = client.run({"text": "done"})["id"]
    r = client.get(f"/v1/jobs/{job_id}?wait={wait}")
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "validation_error" and err.get("field") == "wait", err


def test_wait_on_an_unknown_job_is_404(client):
    r, took = _timed_get(client, "/v1/jobs/job_doesnotexist?wait=5")
    assert r.status_code == 404 and r.json()["error"]["code"] == "job_not_found"
    assert took < 1.0


def test_waiter_slots_bound_the_threads_held(base_cfg):
    """Past `max_waiters`, a wait answers at once: long polls can't take every API thread."""
    from mmservice.jobs.settle_watch import SettleWatch
    from mmservice.redis_conn import get_redis

    r = get_redis(base_cfg["REDIS_URL"])
    watch = SettleWatch(r, f"mmstest:settled:{uuid.uuid4().hex}", max_waiters=1)
    running = {"id": "job_x", "status": "running"}
    results = {}

    def wait(name):
        results[name] = watch.wait_settled("t", "job_x", 0.8, lambda: dict(running))

    first = threading.Thread(target=wait, args=("first",))
    first.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    wait("second")
    second_took = time.monotonic() - t0
    first.join(5)
    assert second_took < 0.1 and results["second"][1] == 0.0
    assert results["first"][1] >= 0.75
    # A slot is free again once the first wait is over; an announcement wakes the waiter.
    t = threading.Thread(target=wait, args=("third",))
    t.start()
    time.sleep(0.2)
    running["status"] = "succeeded"
    r.publish(watch._channel, "t/job_x")
    t.join(5)
    assert results["third"][0]["status"] == "succeeded" and results["third"][1] < 0.5
