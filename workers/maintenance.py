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


def _warm_up() -> None:
    _warm_providers()
    from mmservice.gc_tuning import freeze_startup_objects

    freeze_startup_objects()  # after the providers' modules and models exist


def _warm_providers() -> None:
    """Build each capability's provider once the worker is up, so the first job does not pay
    for it while the other threads wait on it: the `openai` import and client (~0.4 s of GIL
    time), and the offline models (~3 s) when some capability is served locally."""
    from mmservice.config import CAPS
    from mmservice.providers.registry import choose
    from workers.deps import get_deps

    deps = get_deps()
    cfg = deps.cfg
    for cap in CAPS:
        if choose(cfg, cap) == "openai":
            try:
                deps.providers.get(cap)
            except Exception:  # noqa: BLE001 - a bad setting surfaces again on the first job
                log.warning("could not build the %s provider at start", cap, exc_info=True)
    if not any(choose(cfg, c) == "local" for c in CAPS):
        return
    if not cfg["LOCAL_WARM_UP"]:
        return
    try:
        from mmservice.providers.local import warm_up

        warm_up(cfg=cfg)
        log.info("local engines loaded")
    except Exception:  # noqa: BLE001 - a failed warm-up surfaces again on first use
        log.exception("local engine warm-up failed")


@worker_ready.connect
def _start(sender=None, **_kw) -> None:
    from workers.deps import get_deps

    # The pool size tells micro-batching when every thread is already waiting (no one else
    # can add a text, so holding longer only adds latency).
    controller = getattr(sender, "controller", None)
    if getattr(controller, "concurrency", None):
        get_deps().cfg["WORKER_CONCURRENCY"] = int(controller.concurrency)  # type: ignore[union-attr]
    threading.Thread(target=_sweeper, name="mms-blob-sweeper", daemon=True).start()
    threading.Thread(target=_warm_up, name="mms-warm-up", daemon=True).start()
