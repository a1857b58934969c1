"""In-flight provider calls of one process: a text that another job of this worker is already
sending upstream waits for that answer instead of being sent again.

Why: the cache helps only once an answer is stored, and identical content often arrives in a
burst (a spam wave, a re-post): every copy that came in while the first was still upstream
would miss. The worker's threads share one `Flights`, so the first caller of a name sends it
and the others wait for its answer (or, if it failed, send their own). Other worker processes
are not coordinated (their copies miss as before).
"""
from __future__ import annotations

import threading
from collections.abc import Iterable
from concurrent.futures import Future
from typing import Any

WAIT_S = 300.0  # a leader always settles its names (finally); this only bounds a lost one


class Flights:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, Future] = {}
        self.joined = 0  # names a caller found in flight (and waited for), since start

    def claim(self, names: Iterable[str]) -> tuple[set[str], dict[str, Future]]:
        """(the names this caller must compute, futures of those another caller computes)."""
        mine: set[str] = set()
        theirs: dict[str, Future] = {}
        with self._lock:
            for name in names:
                if name in mine or name in theirs:
                    continue
                running = self._running.get(name)
                if running is None:
                    self._running[name] = Future()
                    mine.add(name)
                else:
                    theirs[name] = running
                    self.joined += 1
        return mine, theirs

    def settle(self, names: Iterable[str], values: dict[str, Any],
               error: BaseException | None = None) -> None:
        """Hand each claimed name's value (or the error) to its waiters and forget it."""
        with self._lock:
            futures = [(n, self._running.pop(n)) for n in names if n in self._running]
        for name, fut in futures:
            if error is None and name in values:
                fut.set_result(values[name])
            else:
                fut.set_exception(error or RuntimeError("no value"))


FLIGHTS = Flights()  # one per process
