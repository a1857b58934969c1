"""One Redis client per URL per process.

Why cached: redis-py clients hold a connection pool; creating one per request would open a socket
per request. Short socket timeouts make a dead Redis a fast 503, never a hung request.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import redis

_clients: dict[str, redis.Redis] = {}
_lock = threading.Lock()


def get_redis(url: str) -> redis.Redis:
    with _lock:
        client = _clients.get(url)
        if client is None:
            client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2,
                                          health_check_interval=30, decode_responses=False)
            _clients[url] = client
        return client


def update_json(r: redis.Redis, key: str, fn: Callable[[dict], Any], *,
                missing: Callable[[], Exception],
                also: Callable[[Any, dict, Any], None] | None = None) -> tuple[dict, Any]:
    """Read-modify-write one JSON value atomically (WATCH/MULTI), keeping its TTL.

    `fn(value)` mutates in place and may raise to abort without writing; under contention it
    runs again on the fresh value. `also(pipe, value, fn_result)` may queue more commands into
    the same MULTI (counters, notifications): they commit exactly when the value does, in the
    same round trip. Returns (value, fn's result)."""
    while True:
        with r.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(key)
                raw = pipe.get(key)
                if raw is None:
                    raise missing()
                value = json.loads(raw)
                result = fn(value)
                pipe.multi()
                pipe.set(key, json.dumps(value), keepttl=True)  # one round trip less than TTL+EX
                if also is not None:
                    also(pipe, value, result)
                pipe.execute()
                return value, result
            except redis.WatchError:
                continue
