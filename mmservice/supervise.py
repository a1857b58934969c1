"""`make run`'s supervision of its worker: when to start it again after it died.

Why its own module: the launcher (`cli.py`) starts and stops processes; this is the policy.
"""
from __future__ import annotations

import time


class Restarts:
    """When to start a worker again after it died: at once for the first death in a while, then
    with a doubling backoff (capped) while it keeps dying, so a worker that cannot start (Redis
    gone, a broken install) does not spin. A worker that lived `healthy_s` resets the backoff.
    Why restart at all: a dead worker leaves the API accepting jobs nobody runs (issue 13)."""

    def __init__(self, first_s: float = 1.0, max_s: float = 30.0, healthy_s: float = 60.0):
        self.first_s, self.max_s, self.healthy_s = first_s, max_s, healthy_s
        self.delay_s = 0.0
        self.started = time.monotonic()
        self.at: float | None = None  # when the pending restart is due

    def due(self, _returncode: int | None) -> float | None:
        """Called while the worker is dead: schedules its restart once (returns the delay)."""
        if self.at is not None:
            return None
        now = time.monotonic()
        lived = now - self.started
        self.delay_s = self.first_s if lived >= self.healthy_s or not self.delay_s \
            else min(self.delay_s * 2, self.max_s)
        self.at = now + self.delay_s
        return self.delay_s

    def ready(self) -> bool:
        if self.at is None or time.monotonic() < self.at:
            return False
        self.at, self.started = None, time.monotonic()
        return True
