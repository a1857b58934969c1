"""An upstream storm shorter than the retry budget fails no job, and the upstream's circuit
breaker opens during it and closes after it, as the worker publishes it (Redis, /metrics,
/readyz).

Settings are the defaults (30 attempts as a backstop, a 120 s budget, 5 failures open the
breaker) except the backoff and the breaker's cool-down, shortened so the test takes seconds.
The upstream is a stub of this test's own, so its breaker is not shared with other tests.
"""
from __future__ import annotations

import pytest

from mmservice import config
from mmservice import metrics as m
from mmservice.keys import DEFAULT as KEYS

JOBS = 20
STORM = [{"status": 429, "retry_after": 1}] * 8 + [{"status": 500}] * 8


@pytest.fixture()
def own_stub():
    from mmservice.devstub.server import start_stub

    server = start_stub()
    yield server
    server.shutdown()


def test_storm_shorter_than_budget_fails_nothing(stack, own_stub):
    d = config.DEFAULTS
    s = stack(cfg={"OPENAI_BASE_URL": own_stub.base_url,
                   "UPSTREAM_MAX_ATTEMPTS": d["UPSTREAM_MAX_ATTEMPTS"],
                   "UPSTREAM_RETRY_BUDGET_S": d["UPSTREAM_RETRY_BUDGET_S"],
                   "UPSTREAM_BREAKER_FAILURES": d["UPSTREAM_BREAKER_FAILURES"],
                   "UPSTREAM_BACKOFF_BASE_S": 0.05, "UPSTREAM_BACKOFF_MAX_S": 0.5,
                   "UPSTREAM_BREAKER_COOLDOWN_S": 0.5})
    own_stub.script("/moderations", list(STORM))
    ids = []
    for i in range(JOBS):
        r = s.client.submit({"text": f"storm job {i}"})
        assert r.status_code == 202, r.text
        ids.append(r.json()["id"])
    jobs = [s.client.poll(j, timeout=120) for j in ids]
    failed = [(j["id"], j.get("error")) for j in jobs if j["status"] != "succeeded"]
    assert not failed, failed
    seen = own_stub.requests.matching("/moderations")
    assert len(seen) > len(STORM)  # every fault was served, then the upstream answered

    label = m.field("moderation", own_stub.base_url)
    opened = s.redis.hget(KEYS.metrics(m.UPSTREAM_BREAKER_OPENED), label)
    assert opened is not None and int(opened) >= 1  # it opened during the storm
    assert s.redis.hget(KEYS.metrics(m.UPSTREAM_BREAKER), label) == b"closed"  # and closed

    text = s.client.get("/metrics").text
    series = f'capability="moderation",upstream="{own_stub.base_url}"'
    assert f"mms_upstream_breaker_state{{{series}}} 0.0" in text, text
    assert "mms_upstream_breaker_opened_total{" in text
    ready = s.client.get("/readyz").json()
    row = ready["checks"]["upstreams"]["upstreams"][own_stub.base_url]
    assert row["breaker"]["moderation"] == "closed", ready


def test_breaker_opens_probes_and_closes():
    """The state machine, on a real Breaker (no upstream): threshold failures open it, a call
    waiting past its deadline gets BreakerOpen, after the cool-down one call is the probe, a
    failed probe reopens it, a good one closes it; every change is published."""
    import threading
    import time

    from mmservice.providers.breaker import Breaker, BreakerOpen

    seen: list[tuple[str, bool]] = []
    b = Breaker("http://up/v1", "moderation", failures=2, cooldown_s=0.2,
                publish=lambda cap, up, state, opened: seen.append((state, opened)))
    b.acquire(time.monotonic())  # closed: goes out at once
    b.failure()
    assert b.state == "closed"
    b.failure()
    assert b.state == "open"
    with pytest.raises(BreakerOpen):
        b.acquire(time.monotonic())  # open and no time left: refused, not called
    b.acquire(time.monotonic() + 30)  # waits out the cool-down, then is the probe
    assert b.state == "half_open"
    waiter_done = threading.Event()

    def second_caller():
        b.acquire(time.monotonic() + 30)  # held back while the probe is out
        waiter_done.set()

    t = threading.Thread(target=second_caller)
    t.start()
    assert not waiter_done.is_set()  # the probe is out: nobody else goes
    b.failure()  # the probe failed: open again
    assert b.state == "open"
    # After another cool-down the waiting caller is the next probe (the only caller left, so
    # which thread probes is not a race), and its success closes the breaker.
    assert waiter_done.wait(30)
    assert b.state == "half_open"
    b.success()
    t.join(30)
    assert b.state == "closed"
    states = [s for s, _ in seen]
    assert states[:4] == ["open", "half_open", "open", "half_open"] and states[-1] == "closed"
    assert [o for _, o in seen].count(True) == 2  # two openings counted


def test_default_attempt_cap_is_only_a_backstop():
    """With the default cap and budget (no waits, no Redis, no breaker), 20 failures in a row
    are retried through; the 30th attempt is the last."""
    from mmservice.errors import UpstreamError
    from mmservice.providers.retry import RetryPolicy

    cfg = {**config.DEFAULTS, "REDIS_URL": "", "UPSTREAM_BACKOFF_BASE_S": 0.0,
           "UPSTREAM_BACKOFF_MAX_S": 0.0}
    policy = RetryPolicy(cfg, "moderation")
    assert policy.max_attempts == 30 and policy.budget == 120.0

    def flaky(failures: int):
        calls = {"n": 0}

        def fn():
            calls["n"] += 1
            if calls["n"] <= failures:
                raise UpstreamError("storm", code="upstream_server_error", retryable=True)
            return "ok"
        return fn, calls

    fn, calls = flaky(20)
    assert policy.call(fn, what="t") == "ok" and calls["n"] == 21
    fn, calls = flaky(100)
    with pytest.raises(UpstreamError):
        policy.call(fn, what="t")
    assert calls["n"] == 30
