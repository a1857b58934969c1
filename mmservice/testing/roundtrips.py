"""Count the Redis round trips one thread makes: what a request costs the store, measured.

Why at `send_packed_command` and not with MONITOR: MONITOR lists commands, and a pipeline of
five commands is one round trip; what a request waits for is the number of times it writes to
the socket and reads the answers back. Every command and every pipeline goes through one call of
`AbstractConnection.send_packed_command`, so counting those calls (on the calling thread only:
background writers and other requests are not this call's cost) counts round trips, and the
command names parsed from the packed bytes say what each one carried.

Tests (`tests/test_facade_roundtrips.py`) and `bench/facade_calls.py` use it; nothing in the
service imports it.
"""
from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from redis.connection import AbstractConnection

_NAME = re.compile(rb"\*\d+\r\n\$\d+\r\n([A-Za-z]+)\r\n")
_lock = threading.Lock()
# What redis-py sends when it opens a connection (`on_connect`): once per pooled connection, not
# per call. A call that happens to open one (another thread held the pooled connection) makes
# these round trips too; they are kept apart (`handshakes`), not counted as the call's.
_HANDSHAKE = frozenset({"HELLO", "CLIENT", "SELECT", "AUTH"})


class RoundTrips:
    """The round trips made by `thread` while counting: one list of command names each."""

    def __init__(self, thread: int):
        self.thread = thread
        self.trips: list[list[str]] = []
        self.handshakes: list[list[str]] = []

    def __len__(self) -> int:
        return len(self.trips)

    def clear(self) -> None:
        self.trips.clear()
        self.handshakes.clear()

    def names(self) -> list[str]:
        """One label per round trip: `GET`, or `PIPELINE(MGET,GET,SMEMBERS)`."""
        return [t[0] if len(t) == 1 else f"PIPELINE({','.join(t)})" for t in self.trips]


@contextmanager
def counting() -> Iterator[RoundTrips]:
    """Count the calling thread's round trips until the block ends."""
    seen = RoundTrips(threading.get_ident())
    with _lock:
        original = AbstractConnection.send_packed_command

        def send(self: Any, command: Any, check_health: bool = True) -> None:
            if threading.get_ident() == seen.thread:
                parts = [command] if isinstance(command, (bytes, str)) else command
                blob = b"".join(p.encode() if isinstance(p, str) else bytes(p) for p in parts)
                names = [m.decode().upper() for m in _NAME.findall(blob)]
                if names and set(names) <= _HANDSHAKE:
                    seen.handshakes.append(names)
                else:
                    seen.trips.append(names)
            original(self, command, check_health)

        AbstractConnection.send_packed_command = send  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        with _lock:
            AbstractConnection.send_packed_command = original  # type: ignore[method-assign]
