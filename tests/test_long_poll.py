"""Long-polling `GET /v1/jobs/<id>?wait=`: woken by the settle itself (pub/sub), bounded, and
never more waiters than the process allows.

How "woken by the announcement" is told apart from the safety re-read without a stopwatch: the
re-read interval is stretched far past the wait (`slow_recheck`), so a wait that ends well before
its own deadline can only have been ended by the announcement.
"""
from __future__ import annotations

import threading
import time
import uuid

import pytest

from mmservice.jobs import settle_watch
from mmservice.testing.stack import wait_until


@pytest.fixture()
def slow_recheck(monkeypatch):
    monkeypatch.setattr(settle_watch, "RECHECK_S", 120.0)


@pytest.fixture()
def watch(api):
    return api.app.extensions["mms"].settle_watch


def waiting_get(client, path: str) -> tuple[threading.Thread, dict]:
    out: dict = {}
    t = threading.Thread(target=lambda: out.update(r=client.get(path)), daemon=True)
    t.start()
    return t, out


def test_wait_returns_when_the_job_settles(client, stub, watch, slow_recheck):
    client.run({"text": "warm the worker up"})
    stub.configure(latency_ms=400)
    try:
        job_id = client.submit({"text": "long poll me"}).json()["id"]
        t, out = waiting_get(client, f"/v1/jobs/{job_id}?wait=30")
        # Ends with the settle: long before the 30 s wait or the 120 s re-read could end it.
        t.join(20)
        assert not t.is_alive(), "the wait was not woken by the settle"
    finally:
        stub.configure(latency_ms=0)
    r = out["r"]
    assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text
    assert r.json()["results"]["moderation"]["flagged"] is False
    assert watch.waiting("default", job_id) == 0  # the waiter went away with the request


def test_wait_is_bounded_and_answers_the_current_state(client, stub):
    stub.configure(latency_ms=1500)
    try:
        job_id = client.submit({"text": "slow"}).json()["id"]
        t0 = time.monotonic()
        r = client.get(f"/v1/jobs/{job_id}?wait=0.4")
        assert time.monotonic() - t0 >= 0.4  # it did wait ...
        assert r.status_code == 200 and r.json()["status"] in ("queued", "running")  # ... no more
        assert client.poll(job_id, timeout=30)["status"] == "succeeded"
    finally:
        stub.configure(latency_ms=0)


def test_cancel_wakes_a_waiting_reader(client, stub, watch, slow_recheck):
    stub.configure(latency_ms=1500)  # under UPSTREAM_TIMEOUT_S (2 s): no retries outlive the test
    try:
        job_id = client.submit({"text": "cancel me"}).json()["id"]
        t, out = waiting_get(client, f"/v1/jobs/{job_id}?wait=30")
        wait_until(lambda: watch.waiting("default", job_id) == 1, 10, what="the reader to wait")
        assert client.delete(f"/v1/jobs/{job_id}").status_code == 200
        t.join(20)
        assert not t.is_alive(), "the cancel did not wake the reader"
    finally:
        stub.configure(latency_ms=0)
    assert out["r"].json()["status"] == "canceled"


@pytest.mark.parametrize("wait", ["31", "-1", "soon"])
def test_bad_wait_is_a_422_naming_the_field(client, wait):
    job_id = client.run({"text": "done"})["id"]
    r = client.get(f"/v1/jobs/{job_id}?wait={wait}")
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "validation_error" and err.get("field") == "wait", err


def test_wait_on_an_unknown_job_is_404(client):
    # A client timeout of a third of the wait: a 404 that waited first would time out instead.
    r = client.get("/v1/jobs/job_doesnotexist?wait=30", timeout=10)
    assert r.status_code == 404 and r.json()["error"]["code"] == "job_not_found"


def test_waiter_slots_bound_the_threads_held(base_cfg, slow_recheck):
    """Past `max_waiters`, a wait answers at once: long polls can't take every API thread."""
    from mmservice.redis_conn import get_redis

    r = get_redis(base_cfg["REDIS_URL"])
    watch = settle_watch.SettleWatch(r, f"mmstest:settled:{uuid.uuid4().hex}", max_waiters=1)
    running = {"id": "job_x", "status": "running"}
    results = {}

    def wait(name, wait_s):
        results[name] = watch.wait_settled("t", "job_x", wait_s, lambda: dict(running))

    first = threading.Thread(target=wait, args=("first", 0.8))
    first.start()
    wait_until(lambda: watch.waiting() == 1, 10, what="the first waiter")
    wait("second", 0.8)
    assert results["second"][1] == 0.0 and results["second"][0]["status"] == "running"
    first.join(30)
    assert results["first"][1] >= 0.75 and watch.waiting() == 0
    # A slot is free again once the first wait is over; an announcement wakes the waiter.
    t = threading.Thread(target=wait, args=("third", 60))
    t.start()
    wait_until(lambda: watch.waiting() == 1, 10, what="the third waiter")
    running["status"] = "succeeded"
    r.publish(watch._channel, "t/job_x")
    t.join(30)  # half its wait, and the re-read is 120 s away: only the announcement ends it
    assert not t.is_alive() and results["third"][0]["status"] == "succeeded"
