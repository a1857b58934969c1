"""Housekeeping that runs inside every worker: expired media is swept from the blob store.

Why a thread started on `worker_ready` and not Celery beat: `make run` and small deployments
run no beat process; sweeping is idempotent, so several workers doing it is harmless.
"""
from __future__ import annotations

import logging
import threading

from celery.signals import worker_ready

log = logging.getLogger("mmservice.maintenance")
SWEEP_EVERY_S = 3600


def _sweeper() -> None:
    from workers.deps import get_deps

    stop = threading.Event()
    while not stop.wait(SWEEP_EVERY_S):
        try:
            deps = get_deps()
            removed = deps.blobs.sweep(float(deps.cfg["JOB_TTL_S"]) + 3600)
            if removed:
                log.info("swept expired media", extra={"jobs": removed})
        except Exception:  # noqa: BLE001 - housekeeping must never kill the worker
            log.exception("blob sweep failed")


@worker_ready.connect
def _start(**_kw) -> None:
    threading.Thread(target=_sweeper, name="mms-blob-sweeper", daemon=True).start()
