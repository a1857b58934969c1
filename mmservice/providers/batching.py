"""Moderation micro-batching: many jobs' texts in one array request.

Why in the worker process: with a threads pool, each thread runs one job and blocks on its
upstream call. When many text jobs are queued, the threads' texts arrive within milliseconds of
each other; collecting them and sending one `moderations.create(input=[...])` (OpenAI accepts
arrays) cuts upstream requests per job by the batch size.

Why the hold depends on the backlog: holding a text for company costs that text latency, which is
only worth paying when company is certainly coming. While at least a pool's worth of jobs waits
in the broker queue (`backlog`, one LLEN at most every `PROBE_EVERY_S`), every pool thread will
come back with another text, so texts gather until all threads (`callers`) are waiting, the
batch is full (`MMS_MODERATION_BATCH_SIZE`) or the window passes
(`MMS_MODERATION_BATCH_WAIT_MS`). With no such backlog, a text goes at once, like Nagle's
algorithm: unless `hold_at` texts (jobs) are already in flight, and then only until enough of
them return or every thread is here. A short burst on a small pool (make run's 8 threads) never
reaches that; the tail of a long queue on a 32-thread worker does. So at a steady moderate
rate texts are not held and polling latency does not pay the window.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from mmservice import metrics as mms_metrics
from mmservice.providers.base import RawModeration

log = logging.getLogger("mmservice.batching")

PROBE_EVERY_S = 0.01  # the backlog probe (one LLEN) runs at most this often


class BatchingModeration:
    def __init__(self, inner: Any, *, max_batch: int, wait_s: float, max_in_flight: int = 8,
                 hold_at: int = 8, backlog: Callable[[], int] | None = None,
                 callers: int | None = None, metrics: Any = None):
        self.metrics = metrics or mms_metrics.NULL  # batch sizes are counted there
        self.inner = inner
        self.name = inner.name
        self.model = inner.model
        self.max_batch = max_batch
        self.wait_s = wait_s
        self.hold_at = max(0, hold_at)  # texts in flight; 0: never hold without a backlog
        self.backlog = backlog
        self.callers = callers  # how many threads can call at all (the pool size), if known
        self._probed_at = -1.0
        self._probed = 0
        self._cond = threading.Condition()
        self._pending: list[tuple[list[str], Future]] = []
        self._pool = ThreadPoolExecutor(max_workers=max_in_flight,
                                        thread_name_prefix="mms-modbatch")
        self._collector = threading.Thread(target=self._collect, name="mms-modbatch-collector",
                                           daemon=True)
        self.stats = {"requests": 0, "texts": 0}
        self._in_flight = 0
        self._in_flight_callers = 0
        self._collector.start()

    # The rest of the provider interface passes straight through.
    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def moderate_texts(self, texts: list[str]) -> list[RawModeration]:
        if len(texts) >= self.max_batch:
            return self._send(texts)
        fut: Future = Future()
        with self._cond:
            self._pending.append((texts, fut))
            self._cond.notify()
        return fut.result()

    def _send(self, texts: list[str]) -> list[RawModeration]:
        self.stats["requests"] += 1
        self.stats["texts"] += len(texts)
        self.metrics.moderation_batch(len(texts))
        return self.inner.moderate_texts(texts)

    def _queued(self) -> int:
        """Jobs waiting in the broker, probed at most every PROBE_EVERY_S (0 if unknown)."""
        if self.backlog is None:
            return 0
        now = time.monotonic()
        if now - self._probed_at >= PROBE_EVERY_S:
            self._probed_at = now
            try:
                self._probed = int(self.backlog())
            except Exception:  # noqa: BLE001 - a failed probe means "don't hold", never an error
                log.debug("backlog probe failed", exc_info=True)
                self._probed = 0
        return self._probed

    def _should_hold(self) -> bool:
        """Called with the lock held and texts pending (the window bounds every hold)."""
        if sum(len(t) for t, _ in self._pending) >= self.max_batch:
            return False
        if self._queued() >= (self.callers or 1):
            # At least a pool's worth of jobs waits in the broker: every thread will be back
            # with another text, so gather until all of them are here (one full request
            # instead of several partial ones). A shorter queue is jobs in transit at a
            # moderate rate, or threads busy with other queues: holding would only add latency.
            return not self.callers or len(self._pending) < self.callers
        if self._in_flight == 0:
            return False  # no backlog and idle: send at once
        if self.callers and len(self._pending) + self._in_flight_callers >= self.callers:
            return False  # every thread is here or waiting on a flight: nobody else can come
        return bool(self.hold_at) and self._in_flight_callers >= self.hold_at

    def _collect(self) -> None:
        while True:
            with self._cond:
                while not self._pending:
                    self._cond.wait()
                first_at = time.monotonic()
                while self._should_hold():
                    left = self.wait_s - (time.monotonic() - first_at)
                    if left <= 0:
                        break
                    self._cond.wait(min(left, PROBE_EVERY_S))
                batch, size = [], 0
                while self._pending and size + len(self._pending[0][0]) <= self.max_batch:
                    item = self._pending.pop(0)
                    batch.append(item)
                    size += len(item[0])
                if not batch:  # one caller's list alone exceeds the batch: send it by itself
                    batch.append(self._pending.pop(0))
                self._in_flight += 1
                self._in_flight_callers += len(batch)
            self._pool.submit(self._run, batch)

    def _run(self, batch: list[tuple[list[str], Future]]) -> None:
        flat = [t for texts, _ in batch for t in texts]
        try:
            results = self._send(flat)
        except BaseException as e:  # noqa: BLE001 - every waiting job gets the same error
            for _, fut in batch:
                fut.set_exception(e)
            return
        finally:
            with self._cond:
                self._in_flight -= 1
                self._in_flight_callers -= len(batch)
                self._cond.notify()
        i = 0
        for texts, fut in batch:
            fut.set_result(results[i:i + len(texts)])
            i += len(texts)


def batched(provider: Any, cfg: dict, *, backlog: Callable[[], int] | None = None) -> Any:
    """A batching wrapper for `provider`, or the provider itself when batching is off
    (`MMS_MODERATION_BATCH_SIZE` <= 1). `backlog` counts jobs waiting in the broker. The
    caller keeps it (the provider registry holds one per process)."""
    size = int(cfg.get("MODERATION_BATCH_SIZE", 1))
    if size <= 1:
        return provider
    return BatchingModeration(provider, max_batch=size,
                              wait_s=float(cfg.get("MODERATION_BATCH_WAIT_MS", 50)) / 1000,
                              hold_at=int(cfg.get("MODERATION_BATCH_HOLD_AT", 8)),
                              backlog=backlog,
                              callers=int(cfg.get("WORKER_CONCURRENCY") or 0) or None,
                              metrics=mms_metrics.for_cfg(cfg))
