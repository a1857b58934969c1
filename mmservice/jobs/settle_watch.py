"""Long-polling: `GET /v1/jobs/<id>?wait=<s>` answers as soon as the job settles.

Why pub/sub and not a tighter poll: the transaction that settles a job also publishes
`<tenant>/<id>` on one channel (`JobStore.queue_settled`). Each API process keeps a single
subscriber thread that wakes the requests waiting on that job, so a waiting client sees the
result within a Redis hop of the settle, and no request re-reads Redis in a loop.

Why the waits are bounded and counted: a waiting request holds one of the API's threads
(gunicorn `gthread`), so at most `MMS_JOB_WAITERS_PER_PROCESS` requests per process wait; beyond
that, and whenever the subscriber is not connected, the request answers at once with the current
record, and the client simply asks again. Every wait also re-reads the record at least once a
second, so a message lost while the subscriber reconnects costs at most that second.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import redis

from mmservice.jobs.store import TERMINAL

log = logging.getLogger("mmservice.settle_watch")

RECHECK_S = 1.0


class SettleWatch:
    """One per app (so one subscriber per API process): wakes the waiters of each announced
    job. The subscriber thread starts on the first wait, so a gunicorn worker starts it after
    the fork, never before."""

    def __init__(self, r: redis.Redis, channel: str, max_waiters: int):
        self._r = r
        self._channel = channel
        self._slots = threading.BoundedSemaphore(max(0, max_waiters)) if max_waiters > 0 else None
        self._lock = threading.Lock()
        self._waiters: dict[str, set[threading.Event]] = {}
        self._subscribed = threading.Event()
        self._thread: threading.Thread | None = None

    def _ensure_listening(self) -> bool:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._subscribed.clear()
                self._thread = threading.Thread(target=self._listen, name="mms-settle-watch",
                                                 daemon=True)
                self._thread.start()
        return self._subscribed.wait(1.0)

    def _listen(self) -> None:
        failures = 0
        while True:
            ps = self._r.pubsub()
            try:
                ps.subscribe(self._channel)
                while True:
                    # get_message polls the socket: a quiet channel is not a socket timeout.
                    msg = ps.get_message(timeout=1.0)
                    if msg is None:
                        continue
                    if msg["type"] == "subscribe":
                        self._subscribed.set()
                        failures = 0
                    elif msg["type"] == "message":
                        self._wake(msg["data"].decode())
            except Exception as e:  # noqa: BLE001 - reconnect; waiters fall back to re-reading
                self._subscribed.clear()
                if failures == 0:  # once per outage, not once per retry
                    log.warning("settle subscriber lost Redis; waits answer at once until it "
                                "reconnects", extra={"error": type(e).__name__})
                failures += 1
                time.sleep(min(5.0, 0.25 * 2 ** failures))
            finally:
                try:
                    ps.close()
                except Exception:  # noqa: BLE001
                    pass

    def _wake(self, key: str) -> None:
        with self._lock:
            events = list(self._waiters.get(key, ()))
        for ev in events:
            ev.set()

    @contextmanager
    def _watching(self, key: str) -> Iterator[threading.Event]:
        ev = threading.Event()
        with self._lock:
            self._waiters.setdefault(key, set()).add(ev)
        try:
            yield ev
        finally:
            with self._lock:
                waiting = self._waiters.get(key)
                if waiting is not None:
                    waiting.discard(ev)
                    if not waiting:
                        del self._waiters[key]

    def waiting(self, tenant: str | None = None, job_id: str | None = None) -> int:
        """How many requests are waiting now: on one job, or on any job."""
        with self._lock:
            if job_id is not None:
                return len(self._waiters.get(f"{tenant}/{job_id}", ()))
            return sum(len(evs) for evs in self._waiters.values())

    def wait_settled(self, tenant: str, job_id: str, wait_s: float,
                     read: Callable[[], dict]) -> tuple[dict, float]:
        """The job once it is terminal or `wait_s` has passed, whichever comes first, and how
        long was waited. `read()` returns the current record (and may raise NotFound)."""
        if wait_s <= 0 or self._slots is None or not self._slots.acquire(blocking=False):
            return read(), 0.0  # no wait asked, or every waiter slot is taken: answer now
        t0 = time.monotonic()
        try:
            if not self._ensure_listening():
                return read(), 0.0
            deadline = t0 + wait_s
            with self._watching(f"{tenant}/{job_id}") as ev:
                while True:
                    job = read()  # after registering, so a settle in between is not missed
                    left = deadline - time.monotonic()
                    if job["status"] in TERMINAL or left <= 0:
                        return job, time.monotonic() - t0
                    ev.wait(min(left, RECHECK_S))
                    ev.clear()
        finally:
            self._slots.release()
