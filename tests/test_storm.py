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
