"""kombu's Redis transport with one fix: a channel closed after its connection can still hand its
unacknowledged messages back to the queue.

Why (issue 13, point 2; celery 5.7.0 / kombu 5.7.0 / redis 8.1.0, the newest on PyPI): when
Redis dies, the worker's consumer tears its broker connection down. `Connection.collect()` /
`_close()` set the transport's `client` to None; a channel closed after that runs
`Channel.close()`, which first drops its connection pools (`_disconnect_pools`) and then restores
the unacked messages (`QoS.restore_unacked_once` -> `restore_unacked` -> `conn_or_acquire` ->
`_create_client` -> `pool` -> `_get_pool` -> `_connparams`), and `_connparams` reads
`self.connection.client.hostname`: `AttributeError: 'NoneType' object has no attribute
'hostname'`, which Celery treats as unrecoverable, so the worker exits. Which of the two closes
comes first depends on thread timing, hence "5 of 6 kills".

No transport option avoids the pool rebuild, and no kombu release on PyPI changes this code, so
the channel remembers the connection parameters it was opened with and `_connparams` uses them
when the transport's are gone. The restore then reaches Redis (or raises a Redis
`ConnectionError`, which Celery recovers from; the messages then stay in the unacked hash for
`restore_visible`). Selected by `broker_transport` in `celery_init.py`; remove it when kombu
fixes the order in `Channel.close`.
"""
from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    def __init__(self, connection: Any, *args: Any, **kwargs: Any):
        self._opened_with = connection.client  # the kombu Connection: its URL, auth, options
        super().__init__(connection, *args, **kwargs)

    def _connparams(self, asynchronous: bool = False) -> dict:
        transport = self.connection
        if transport is None or transport.client is not None or self._opened_with is None:
            return super()._connparams(asynchronous)
        transport.client = self._opened_with  # closed under us: read the parameters we had
        try:
            return super()._connparams(asynchronous)
        finally:
            transport.client = None


class Transport(kombu_redis.Transport):
    Channel = Channel
