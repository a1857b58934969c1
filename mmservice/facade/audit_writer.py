"""One background writer per API process for the audit entries of what the API decides itself:
the facade's per-call entries, and the verdict entry of a cache hit judged at intake
(`Deps.audit_later`, used by `review.enqueue.from_verdict`).

Why not `audit.append` in the request: the audit log is a hash chain, so every append reads the
head and swaps it; 32 clients moderating at once made requests queue behind each other for the
head (a measured 0.02x of direct throughput). Entries go to a queue instead; this thread takes
whatever has gathered and appends it per tenant in one script call (`audit.append_many`), so the
chain stays exactly as verifiable and a busy process contends for the head once per batch.

The cost: an entry is written a moment after its answer (tests wait for it), and entries still
queued when the process is killed are lost (a clean stop drains the queue, `atexit`).
"""
from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
from typing import Any

from mmservice import audit

log = logging.getLogger("mmservice.facade")
MAX_BATCH = 500


class AuditWriter:
    def __init__(self, r: Any, keys: Any):
        self.r, self.keys = r, keys
        self.q: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pid: int | None = None  # the thread belongs to the process that started it
        self.idle = threading.Event()
        self.idle.set()

    def put(self, tenant: str, event: dict[str, Any]) -> None:
        self._ensure_thread()
        self.idle.clear()
        self.q.put((tenant, event))

    def _ensure_thread(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid != os.getpid():
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="facade-audit", daemon=True).start()
                atexit.register(self.drain, 5.0)

    def drain(self, timeout: float = 5.0) -> bool:
        """Wait until every queued entry is written (tests; a clean stop)."""
        return self.idle.wait(timeout)

    def _run(self) -> None:
        while True:
            batch = [self.q.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self.q.get_nowait())
                except queue.Empty:
                    break
            by_tenant: dict[str, list[dict[str, Any]]] = {}
            for tenant, event in batch:
                by_tenant.setdefault(tenant, []).append(event)
            for tenant, events in by_tenant.items():
                try:
                    audit.append_many(self.r, self.keys, tenant, events)
                except Exception:  # noqa: BLE001 - logged; the writer must keep running
                    log.warning("facade audit entries not written", exc_info=True,
                                extra={"tenant": tenant, "entries": len(events)})
            if self.q.empty():
                self.idle.set()


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
