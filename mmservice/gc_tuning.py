"""Keep the garbage collector's full passes off the latency path.

Why: after start-up an API or worker process holds ~110,000 long-lived objects (Flask,
marshmallow, Celery, kombu, the `openai` client and its pydantic models). CPython's oldest-
generation collection walks all of them, about 50-60 ms on the reference machine, with the GIL
held: every request or job in flight in that process stalls. These passes came round every few
hundred jobs and made the benchmark's p99 (`bench/e2e_latency.py`). `gc.freeze()` moves what
exists once start-up is done into a permanent generation the collector skips; objects made
later are collected as usual.
"""
from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger("mmservice.gc")


def freeze_startup_objects() -> None:
    t0 = time.perf_counter()
    gc.collect()  # start-up garbage goes now, not into the permanent generation
    gc.freeze()
    log.info("start-up objects frozen out of GC passes",
             extra={"frozen": gc.get_freeze_count(),
                    "ms": round((time.perf_counter() - t0) * 1000, 1)})
