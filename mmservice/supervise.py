"""`make run`'s supervision of its worker: when to start it again after it died.

Why its own module: the launcher (`cli.py`) starts and stops processes; this is the policy.
"""
from __future__ import annotations

import time
from collections.abc import Callable


class Restarts:
    """When to start a worker again after it died: `first_s` after the first death in a while,
    then a doubling delay (capped at `max_s`) while it keeps dying, so a worker that cannot start
    (Redis gone, a broken install) does not spin. A worker that lived `healthy_s` resets it.
    Why restart at all: a dead worker leaves the API accepting jobs nobody runs (issue 13)."""

    def __init__(self, first_s: float = 1.0, max_s: float = 30.0, healthy_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic):
        self.first_s, self.max_s, self.healthy_s = first_s, max_s, healthy_s
        self.clock = clock
        self.delay_s = 0.0
        self.started = clock()
        self.at: float | None = None  # when the pending restart is due

    def due(self) -> float | None:
        """Called while the worker is dead: schedules its restart once (returns the delay)."""
        if self.at is not None:
            return None
        now = self.clock()
        lived = now - self.started
        self.delay_s = self.first_s if lived >= self.healthy_s or not self.delay_s \
            else min(self.delay_s * 2, self.max_s)
        self.at = now + self.delay_s
        return self.delay_s

    def ready(self) -> bool:
        if self.at is None or self.clock() < self.at:
            return False
        self.at, self.started = None, self.clock()
        return True
