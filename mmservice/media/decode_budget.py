"""How many pixels one process decodes at once: the memory of image decodes bounded per process,
whatever the number of threads.

Why: the API serves many requests at once per process (`MMS_API_THREADS`, 16 by default, so
that calls waiting on an upstream do not hold every thread), and each image upload is decoded in
full to prove it is an image. A 50 MP PNG decodes to about 200 MB; sixteen of them at once would
be 3 GB in one process. Decodes take pixels from a budget (`MMS_DECODE_PIXELS_PER_PROCESS`) and
wait while it is spent, so many small images decode side by side, one at the size limit decodes
alone, and none is ever refused for waiting: a decode larger than the whole budget still runs,
alone. JPEGs checked at 1/8 scale weigh 1/64 of their pixels (what is really held in memory).
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class PixelBudget:
    def __init__(self, pixels: int):
        self.pixels = max(1, int(pixels))
        self.in_use = 0
        self.waiting = 0  # decodes waiting for room (tests wait on it)
        self._cond = threading.Condition()

    @contextmanager
    def take(self, pixels: int) -> Iterator[None]:
        need = max(1, int(pixels))
        with self._cond:
            self.waiting += 1
            try:
                # Alone, any size goes: a decode bigger than the budget must not wait forever.
                self._cond.wait_for(lambda: self.in_use == 0
                                    or self.in_use + need <= self.pixels)
            finally:
                self.waiting -= 1
            self.in_use += need
        try:
            yield
        finally:
            with self._cond:
                self.in_use -= need
                self._cond.notify_all()


_budget: PixelBudget | None = None
_lock = threading.Lock()


def configure(pixels: int) -> None:
    """Size this process's budget (the services of the API or a worker, at start)."""
    global _budget
    with _lock:
        if _budget is None or _budget.pixels != max(1, int(pixels)):
            _budget = PixelBudget(pixels)


def budget() -> PixelBudget:
    """This process's budget; sized from the environment (`MMS_DECODE_PIXELS_PER_PROCESS`) when
    used before any services were built (a tool calling `inspect_image` on its own)."""
    if _budget is None:
        from mmservice import config

        configure(int(config.load()["DECODE_PIXELS_PER_PROCESS"]))
    assert _budget is not None
    return _budget
