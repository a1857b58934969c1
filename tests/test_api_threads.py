"""Calls waiting on a slow upstream do not hold up the API (issue 18 point 3), and the threads
that allow it do not multiply the memory of image decodes.

The API is a real gunicorn process with `make run`'s thread count (`MMS_API_THREADS`); the
upstream is the stub, made to hang by a fault marker in each text. The signal that every call is
in flight is the stub's own request log; with gunicorn's earlier 4 threads per process the fifth
call never reached the stub and this test failed.
"""
from __future__ import annotations

import json
import socket
import threading

import requests

from mmservice.config import DEFAULTS
from mmservice.embedded import free_port
from mmservice.media.decode_budget import PixelBudget
from mmservice.testing.procs import PY, GunicornApp, Proc, make_key, service_env, wait_until
from mmservice.testing.stack import ScratchStack

HANG = "[[fault:hang=60]]"
SLOW_CALLS = 8  # twice the old thread count, half of the default


def _send(port: int, key: str, text: str) -> socket.socket:
    data = json.dumps({"model": "omni-moderation-latest", "input": text}).encode()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"POST /v1/moderations HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer %s\r\n"
                 b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                 % (key.encode(), len(data), data))
    return sock


def test_calls_hanging_upstream_leave_the_api_free_to_answer(tmp_path):
    assert DEFAULTS["API_THREADS"] > SLOW_CALLS
    with ScratchStack("api-threads") as st:
        assert st.stub is not None
        cfg = st.cfg(AUTH="on", UPSTREAM_TIMEOUT_S=60.0, MODERATION_BATCH_SIZE=1)
        port = free_port()
        proc = Proc("api", [PY, "-m", "gunicorn", "app:app", "-b", f"127.0.0.1:{port}", "-w", "1",
                            "--threads", str(DEFAULTS["API_THREADS"]), "--timeout", "120"],
                    service_env(cfg), str(tmp_path / "api.log"))
        st.procs.append(proc)
        app = GunicornApp(proc, port)
        wait_until(lambda: app.ready("/healthz"), 60, 0.1, "api")
        key = make_key(cfg["REDIS_URL"])
        socks = [_send(port, key, f"slow call {i} {HANG}") for i in range(SLOW_CALLS)]
        try:
            wait_until(lambda: len(st.stub.requests("/moderations")) >= SLOW_CALLS, 30, 0.05,
                       f"{SLOW_CALLS} calls in flight upstream at once")
            # Every call still hangs (60 s); the API answers others at once.
            assert requests.get(app.base + "/healthz", timeout=10).status_code == 200
            r = requests.get(app.base + "/v1/jobs/job_nosuchjob",
                             headers={"Authorization": f"Bearer {key}"}, timeout=10)
            assert r.status_code == 404 and r.json()["error"]["code"] == "job_not_found"
        finally:
            for s in socks:  # hanging up cancels each upstream call (test_facade_cancel.py)
                s.close()


def test_a_decode_waits_while_the_budget_is_spent_and_small_ones_share_it():
    budget = PixelBudget(100)
    holding, release = threading.Event(), threading.Event()
    order: list[str] = []

    def first() -> None:
        with budget.take(60):
            order.append("first 60")
            holding.set()
            release.wait(30)

    def second() -> None:
        with budget.take(60):
            order.append("second 60")

    a = threading.Thread(target=first)
    a.start()
    assert holding.wait(30)
    with budget.take(30):  # fits beside it: no wait
        order.append("small 30")
    b = threading.Thread(target=second)
    b.start()
    wait_until(lambda: budget.waiting == 1, 30, 0.01, "the second big decode waiting")
    assert order == ["first 60", "small 30"] and budget.in_use == 60
    release.set()
    a.join(30)
    b.join(30)
    assert order == ["first 60", "small 30", "second 60"] and budget.in_use == 0


def test_a_decode_larger_than_the_whole_budget_runs_alone():
    budget = PixelBudget(10)
    with budget.take(1000):
        assert budget.in_use == 1000
    assert budget.in_use == 0
