"""A hung Redis (SIGSTOP) makes the API answer 503 `store_unavailable` within the configured
`REDIS_TIMEOUT_S`, not after redis-py's retries and health checks (~10 s with a 5 s timeout).

The Redis here is the test's own `EmbeddedRedis`, never the session's: stopping that one would
stall every other test.
"""
from __future__ import annotations

import os
import signal
import time

import pytest

from mmservice.embedded import EmbeddedRedis
from mmservice.testing.client import Client
from mmservice.testing.procs import ApiServer, wait_until

TIMEOUT_S = 1.0


@pytest.fixture()
def private_api(base_cfg, tmp_path):
    r = EmbeddedRedis(str(tmp_path / "redis"), appendonly=False).start()
    api = None
    try:
        api = ApiServer({**base_cfg, "REDIS_URL": r.url, "REDIS_TIMEOUT_S": TIMEOUT_S})
        yield r, Client(api.base, api.key)
    finally:
        if r.proc is not None and r.proc.poll() is None:
            os.kill(r.proc.pid, signal.SIGCONT)  # never leave it stopped, even on failure
        if api is not None:
            api.stop()
        r.stop()


def test_hung_redis_is_a_prompt_503(private_api):
    r, client = private_api
    ok = client.submit({"text": "before the hang"})
    assert ok.status_code == 202, ok.text  # the client's pooled connection is warm
    assert r.proc is not None
    os.kill(r.proc.pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        resp = client.submit({"text": "during the hang"})
        took = time.monotonic() - t0
    finally:
        os.kill(r.proc.pid, signal.SIGCONT)
    assert resp.status_code == 503, resp.text
    assert resp.json()["error"]["code"] == "store_unavailable"
    # Generous bound (3x): the point is one timeout, not redis-py's retries (~10 s before).
    assert took < 3 * TIMEOUT_S, took
    # Back once it answers (new connections may be refused for up to one timeout after a hang).
    wait_until(lambda: client.submit({"text": "after the hang"}).status_code == 202,
               10 * TIMEOUT_S, what="a POST to be accepted after SIGCONT")


def test_after_a_timeout_new_connections_fail_fast(tmp_path):
    """A hung Redis costs one timeout per request, not one per connection the request opens
    (intake's tidy-up after the failed write used to wait a second full timeout)."""
    import redis

    from mmservice.redis_conn import get_redis

    r = EmbeddedRedis(str(tmp_path / "redis"), appendonly=False).start()
    assert r.proc is not None
    try:
        c = get_redis(r.url, TIMEOUT_S)
        c.ping()
        os.kill(r.proc.pid, signal.SIGSTOP)
        with pytest.raises(redis.TimeoutError):
            c.set("k", "v")  # waits the one timeout
        fresh = c.connection_pool.make_connection()
        with pytest.raises(redis.TimeoutError, match="not reconnecting yet"):
            fresh.connect()  # refused at once, not another handshake timeout
    finally:
        os.kill(r.proc.pid, signal.SIGCONT)
        r.stop()


def test_client_options_bound_each_call():
    """The arithmetic behind the bound: one socket timeout, no retry of a timeout, no health
    check PING before a command."""
    from mmservice.redis_conn import get_redis

    c = get_redis("redis://127.0.0.1:1/0", 0.7)
    kw = c.connection_pool.connection_kwargs
    assert kw["socket_timeout"] == 0.7 and kw["socket_connect_timeout"] == 0.7
    assert kw["health_check_interval"] == 0
    assert c.get_retry() is None  # no client-level retry
    assert c.connection_pool.make_connection().retry._retries == 0  # nor per connection
