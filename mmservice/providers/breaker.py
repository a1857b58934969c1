"""A circuit breaker per upstream (base URL + capability), shared by a worker's threads.

Why: during an upstream storm every job's retry loop keeps calling, and a worker with 8 threads
turns one outage into a flood that keeps the upstream down. After `UPSTREAM_BREAKER_FAILURES`
consecutive retryable failures the breaker opens: calls wait (inside their retry budget) instead
of calling, for `UPSTREAM_BREAKER_COOLDOWN_S`; then one call is let through as a half-open
probe. Its success closes the breaker and wakes the waiters; its failure opens it again.

Why publish into Redis: the API serves `/metrics` and `/readyz` but never calls upstreams, so
the worker writes the breaker's state into a metrics hash (`metrics.UPSTREAM_BREAKER`) and
counts openings (`metrics.UPSTREAM_BREAKER_OPENED`), on state changes only, which is cheap.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

from mmservice import metrics

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
STATE_VALUE = {CLOSED: 0, OPEN: 1, HALF_OPEN: 2}  # the gauge's value in /metrics


class BreakerOpen(Exception):
    """The breaker stayed open until the caller's deadline."""


class Breaker:
    def __init__(self, upstream: str, capability: str, failures: int, cooldown_s: float,
                 publish: Callable[[str, str, str, bool], None] | None = None):
        self.upstream, self.capability = upstream, capability
        self.threshold, self.cooldown = max(1, failures), cooldown_s
        self.state, self.consecutive, self.opened_at = CLOSED, 0, 0.0
        self._probing = False
        self._cond = threading.Condition()
        self._publish = publish

    def _set(self, state: str) -> None:
        """Caller holds the lock."""
        if state == self.state:
            return
        opened = state == OPEN and self.state != OPEN
        self.state = state
        if state == OPEN:
            self.opened_at = time.monotonic()
        if self._publish is not None:
            self._publish(self.capability, self.upstream, state, opened)
        self._cond.notify_all()

    def acquire(self, deadline: float) -> None:
        """Return when a call may go out; raise `BreakerOpen` at `deadline` (monotonic)."""
        with self._cond:
            while True:
                now = time.monotonic()
                if self.state == CLOSED:
                    return
                if self.state == OPEN and now >= self.opened_at + self.cooldown:
                    self._set(HALF_OPEN)
                if self.state == HALF_OPEN and not self._probing:
                    self._probing = True  # this call is the probe
                    return
                if now >= deadline:
                    raise BreakerOpen(f"circuit open for {self.capability} at {self.upstream}")
                until = self.opened_at + self.cooldown if self.state == OPEN else deadline
                # Woken by notify_all on any state change; the timeout only ends the cool-down.
                self._cond.wait(max(0.0, min(until, deadline) - now))

    def success(self) -> None:
        with self._cond:
            self.consecutive, self._probing = 0, False
            self._set(CLOSED)

    def abandon(self) -> None:
        """A call its caller gave up (`cancel.Cancelled`): it says nothing about the upstream,
        so nothing is counted; a probe's turn passes to the next call."""
        with self._cond:
            if self._probing:
                self._probing = False
                self._cond.notify_all()

    def failure(self) -> None:
        with self._cond:
            self.consecutive += 1
            was_probe, self._probing = self._probing, False
            if was_probe or (self.state == CLOSED and self.consecutive >= self.threshold):
                self._set(OPEN)


_breakers: dict[tuple[str, str], Breaker] = {}
_lock = threading.Lock()


def for_upstream(cfg: dict, upstream: str, capability: str) -> Breaker:
    """The process's breaker for this upstream and capability (created on first use)."""
    key = (upstream, capability)
    with _lock:
        b = _breakers.get(key)
        if b is None:
            from mmservice.config import DEFAULTS  # a hand-built cfg may lack the two keys

            def setting(k: str) -> float:
                return float(cfg.get(k, DEFAULTS[k]))
            b = Breaker(upstream, capability, int(setting("UPSTREAM_BREAKER_FAILURES")),
                        setting("UPSTREAM_BREAKER_COOLDOWN_S"), metrics.for_cfg(cfg).breaker_state)
            _breakers[key] = b
        return b
