"""One Redis client per URL per process.

Why cached: redis-py clients hold a connection pool; creating one per request would open a socket
per request.

Why these options: a hung Redis (SIGSTOP, a stalled host) must be a 503 within
`REDIS_TIMEOUT_S`, not a request that waits. redis-py 8 by default retries a timed-out command
three times with backoff, and the periodic health check PINGs (with its own retries) before the
command, so one call could wait several socket timeouts (~10 s with a 5 s timeout). Here a call
is bounded by one timeout: a timeout is never retried; a ConnectionError (a pooled socket that a
restarted Redis closed) is retried once, at once, on a fresh connection, since that one is cheap
and the server is likely back.
"""
from __future__ import annotations

import threading

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

_clients: dict[tuple[str, float], redis.Redis] = {}
_lock = threading.Lock()


def get_redis(url: str, timeout_s: float | None = None) -> redis.Redis:
    """The process's client for `url`; every call on it is bounded by `timeout_s` seconds
    (None: the declared default of `REDIS_TIMEOUT_S`)."""
    if timeout_s is None:
        from mmservice.config import DEFAULTS

        timeout_s = float(DEFAULTS["REDIS_TIMEOUT_S"])
    with _lock:
        client = _clients.get((url, timeout_s))
        if client is None:
            client = redis.Redis.from_url(
                url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
                retry_on_timeout=False, health_check_interval=0, decode_responses=False)
            _clients[(url, timeout_s)] = client
        return client
