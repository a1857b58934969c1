"""One Redis client per URL per process.

Why cached: redis-py clients hold a connection pool; creating one per request would open a socket
per request.

Why these options: a hung Redis (SIGSTOP, a stalled host) must be a 503 within
`REDIS_TIMEOUT_S`, not a request that waits. A call is bounded by one socket timeout: no retry
(no `retry` is passed: redis-py 8's connections then retry nothing) and no health-check PING
before a command (it could wait a timeout of its own).

Why fail fast after a timeout: a request that hit a timeout still tidies up (intake deletes what
it half-made), and each such call would open a new connection (a timed-out one is dropped) and
wait another full timeout for the handshake: a POST took 2x the timeout. For one timeout's length
after a call timed out, opening a new connection to that Redis fails at once (503 at once, with
`Retry-After`); connections already open are used as usual, and the first answer on any of them
ends that window.
"""
from __future__ import annotations

import threading
import time
from typing import Any

import redis
from redis.connection import Connection

_clients: dict[tuple[str, float], redis.Redis] = {}
_lock = threading.Lock()


class FailFastConnection(Connection):
    """A TCP connection whose class (one per client) remembers when a call last timed out."""

    timeout_s = 0.0
    hung_until = 0.0  # monotonic; set on a timeout, per subclass (so per client)

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            out = super().read_response(*args, **kwargs)
        except redis.TimeoutError:
            type(self).hung_until = time.monotonic() + self.timeout_s
            raise
        type(self).hung_until = 0.0  # it answers again: reconnect freely
        return out

    def connect_check_health(self, *args: Any, **kwargs: Any) -> None:
        if time.monotonic() < type(self).hung_until:
            raise redis.TimeoutError("Redis did not answer within the timeout just now: "
                                     "not reconnecting yet")
        super().connect_check_health(*args, **kwargs)


def get_redis(url: str, timeout_s: float | None = None) -> redis.Redis:
    """The process's client for `url`; every call on it is bounded by `timeout_s` seconds
    (None: the declared default of `REDIS_TIMEOUT_S`)."""
    if timeout_s is None:
        from mmservice.config import DEFAULTS

        timeout_s = float(DEFAULTS["REDIS_TIMEOUT_S"])
    with _lock:
        client = _clients.get((url, timeout_s))
        if client is None:
            extra: dict[str, Any] = {}
            if url.startswith("redis://"):  # rediss:// and unix:// keep redis-py's classes
                extra["connection_class"] = type("ClientConnection", (FailFastConnection,),
                                                 {"timeout_s": timeout_s})
            client = redis.Redis.from_url(
                url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                health_check_interval=0, decode_responses=False,
                **extra)
            _clients[(url, timeout_s)] = client
        return client
