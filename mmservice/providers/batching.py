"""Moderation micro-batching: many jobs' texts in one array request.

Why in the worker process: with a threads pool, each thread runs one job and blocks on its
upstream call. When many text jobs are queued, the threads' texts arrive within milliseconds of
each other; collecting them for a short window (`MMS_MODERATION_BATCH_WAIT_MS`) and sending one
`moderations.create(input=[...])` (OpenAI accepts arrays) cuts upstream requests per job by the
batch size. Like Nagle's algorithm, a text is sent at once while fewer than
`MMS_MODERATION_BATCH_HOLD_AT` batches are in flight (no added latency at low and moderate load);
beyond that, texts gather until the batch is full (`MMS_MODERATION_BATCH_SIZE`), a batch returns,
or the window (`MMS_MODERATION_BATCH_WAIT_MS`) passes.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from mmservice.providers.base import RawModeration

_lock = threading.Lock()
_batchers: dict[int, "BatchingModeration"] = {}


class BatchingModeration:
    def __init__(self, inner: Any, *, max_batch: int, wait_s: float, max_in_flight: int = 8,
                 hold_at: int = 2):
        self.inner = inner
        self.name = inner.name
        self.model = inner.model
        self.max_batch = max_batch
        self.wait_s = wait_s
        self.hold_at = max(1, hold_at)
        self._cond = threading.Condition()
        self._pending: list[tuple[list[str], Future]] = []
        self._pool = ThreadPoolExecutor(max_workers=max_in_flight,
                                        thread_name_prefix="mms-modbatch")
        self._collector = threading.Thread(target=self._collect, name="mms-modbatch-collector",
                                           daemon=True)
        self.stats = {"requests": 0, "texts": 0}
        self._in_flight = 0
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
        return self.inner.moderate_texts(texts)

    def _collect(self) -> None:
        while True:
            with self._cond:
                while not self._pending:
                    self._cond.wait()
                first_at = time.monotonic()
                while (self._in_flight >= self.hold_at
                       and sum(len(t) for t, _ in self._pending) < self.max_batch
                       and time.monotonic() - first_at < self.wait_s):
                    self._cond.wait(self.wait_s - (time.monotonic() - first_at))
                batch, size = [], 0
                while self._pending and size + len(self._pending[0][0]) <= self.max_batch:
                    item = self._pending.pop(0)
                    batch.append(item)
                    size += len(item[0])
                if not batch:  # one caller's list alone exceeds the batch: send it by itself
                    batch.append(self._pending.pop(0))
                self._in_flight += 1
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
                self._cond.notify()
        i = 0
        for texts, fut in batch:
            fut.set_result(results[i:i + len(texts)])
            i += len(texts)


def batched(provider: Any, cfg: dict) -> Any:
    """The process-wide batching wrapper for `provider`, or the provider itself when batching
    is off (`MMS_MODERATION_BATCH_SIZE` <= 1)."""
    size = int(cfg.get("MODERATION_BATCH_SIZE", 1))
    if size <= 1:
        return provider
    with _lock:
        b = _batchers.get(id(provider))
        if b is None:
            b = BatchingModeration(provider, max_batch=size,
                                   wait_s=float(cfg.get("MODERATION_BATCH_WAIT_MS", 20)) / 1000,
                                   hold_at=int(cfg.get("MODERATION_BATCH_HOLD_AT", 2)))
            _batchers[id(provider)] = b
        return b
