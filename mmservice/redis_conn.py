"""One Redis client per URL per process.

Why cached: redis-py clients hold a connection pool; creating one per request would open a socket
per request. Short socket timeouts make a dead Redis a fast 503, never a hung request.
"""
from __future__ import annotations

import threading

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
