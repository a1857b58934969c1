"""One background writer per API process for the facade's per-call audit entries and counters.

Why not `audit.append` in the request: the audit log is a hash chain, so every append reads the
head and swaps it; 32 clients moderating at once made requests queue behind each other for the
head (a measured 0.02x of direct throughput). Entries go to a queue instead; this thread takes
whatever has gathered and appends it per tenant in one script call (`audit.append_many`), so the
chain stays exactly as verifiable and a busy process contends for the head once per batch.

The same thread writes each call's counters (usage, `accounting.writes_for`; the result cache's
lookups, `metrics.Recorder.cache_lookups`): a call queues a function that adds its increments to
a pipeline, and the thread runs every queued one into one MULTI/EXEC per batch, which also reads
the batch's tenants' audit heads (`audit.queue_head_read`), so a batch costs two round trips (that
transaction, then one append script per tenant). Increments add up in any order, so the totals
are exactly what the calls counted, for two round trips a request no longer waits for.

The cost: an entry or a count is written a moment after its answer (`drain()` is the signal
tests wait on), and what is still queued when the process is killed is lost (a clean stop
drains the queue, `atexit`), as is a batch whose write fails (logged with how many were lost:
retrying an EXEC whose reply was lost could count twice).
"""
from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
from collections.abc import Callable
from typing import Any

from mmservice import audit, metrics

log = logging.getLogger("mmservice.facade")
MAX_BATCH = 500


class AuditWriter:
    def __init__(self, r: Any, keys: Any):
        self.r, self.keys = r, keys
        self.q: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pid: int | None = None  # the thread belongs to the process that started it
        # Items queued and not yet written: `drain` waits for 0 (an Event cleared on put and
        # set on an empty queue could be set just after a put, and drain return too early).
        self._pending = 0
        self._done = threading.Condition()

    def _put(self, item: tuple[Any, Any]) -> None:
        self._ensure_thread()
        with self._done:
            self._pending += 1
        self.q.put(item)

    def put(self, tenant: str, event: dict[str, Any]) -> None:
        self._put((tenant, event))

    def count(self, queue_increments: Callable[[Any], None]) -> None:
        """`queue_increments(pipe)` runs in the writer's next batch, on its transaction."""
        self._put((None, queue_increments))

    def recorder(self, prefix: str) -> Any:
        """A `metrics.Recorder` look-alike whose increments go in the writer's batches."""
        return _Deferred(self, prefix)

    def _ensure_thread(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid != os.getpid():
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="facade-audit", daemon=True).start()
                atexit.register(self.drain, 5.0)

    def drain(self, timeout: float = 5.0) -> bool:
        """Wait until nothing queued is left unwritten (tests; a clean stop)."""
        with self._done:
            return self._done.wait_for(lambda: self._pending == 0, timeout)

    def _run(self) -> None:
        while True:
            batch = [self.q.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self.q.get_nowait())
                except queue.Empty:
                    break
            by_tenant: dict[str, list[dict[str, Any]]] = {}
            counts = []
            for tenant, event in batch:
                if tenant is None:
                    counts.append(event)
                else:
                    by_tenant.setdefault(tenant, []).append(event)
            heads = self._count_and_read(counts, list(by_tenant))
            for tenant, events in by_tenant.items():
                try:
                    audit.append_many(self.r, self.keys, tenant, events,
                                      **({"head": heads[tenant]} if tenant in heads else {}))
                except Exception:  # noqa: BLE001 - logged; the writer must keep running
                    log.warning("facade audit entries not written", exc_info=True,
                                extra={"tenant": tenant, "entries": len(events)})
            with self._done:
                self._pending -= len(batch)
                self._done.notify_all()

    def _count_and_read(self, counts: list[Callable[[Any], None]],
                        tenants: list[str]) -> dict[str, Any]:
        """The batch's increments, and each tenant's audit head (`audit.queue_head_read`), in
        one transaction: one round trip. -> tenant: the head for `append_many` (none when the
        read failed: `append_many` reads it itself)."""
        try:
            pipe = self.r.pipeline(transaction=True)
            for queue_increments in counts:
                queue_increments(pipe)
            n = len(pipe)
            picks = [audit.queue_head_read(pipe, self.keys, t) for t in tenants]
            replies = pipe.execute()[n:]
        except Exception:  # noqa: BLE001 - logged; the writer must keep running
            log.warning("facade counters not written", exc_info=True,
                        extra={"calls": len(counts)})
            return {}
        return {t: pick(*replies[2 * i:2 * i + 2]) for i, (t, pick) in
                enumerate(zip(tenants, picks))}


class _Deferred:
    """Any `metrics.Recorder` method, called on a Recorder over the writer's batch pipeline."""

    def __init__(self, writer: AuditWriter, prefix: str):
        self.writer, self.prefix = writer, prefix

    def __getattr__(self, name: str) -> Callable[..., None]:
        def deferred(*args: Any, **kwargs: Any) -> None:
            self.writer.count(lambda pipe: getattr(metrics.Recorder(pipe, self.prefix), name)(
                *args, **kwargs))
        return deferred


_made = threading.Lock()


def writer_for(svc: Any) -> AuditWriter:
    """The process's writer for `svc` (made on first use)."""
    w = getattr(svc, "facade_audit", None)
    if w is None:
        with _made:
            w = getattr(svc, "facade_audit", None)
            if w is None:
                w = svc.facade_audit = AuditWriter(svc.redis, svc.store.keys)
    return w
