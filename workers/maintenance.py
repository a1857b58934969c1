"""Housekeeping that runs inside every worker: expired media is swept from the blob store, and
the providers of the capabilities the worker's queues serve are built (models loaded) at start.

Why a thread started on `worker_ready` and not Celery beat: `make run` and small deployments
run no beat process; sweeping is idempotent, so several workers doing it is harmless.
"""
from __future__ import annotations

import logging
import threading
from typing import Any

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


def _warm_up(queues: list[str]) -> None:
    _warm_providers(queues)
    from mmservice.gc_tuning import freeze_startup_objects

    freeze_startup_objects()  # after the providers' modules and models exist


def capabilities_of(queues: list[str] | tuple[str, ...] | set[str]) -> list[str]:
    """The provider capabilities of the steps that run on `queues` (step registry order):
    `audio` -> transcription and speech; `webhooks` -> none."""
    from mmservice.steps.registry import STEPS

    wanted = set(queues)
    return list(dict.fromkeys(s.capability for s in STEPS if s.queue in wanted))


def consumed_queues(sender: Any) -> list[str]:
    """The queues this worker consumes (`-Q`), read from the app as workers/tasks_webhooks.py
    does; every step queue when the sender does not say."""
    from mmservice.steps.registry import QUEUES

    try:
        return sorted(set(sender.app.amqp.queues.consume_from))
    except Exception:  # noqa: BLE001 - warming too much is slow, not wrong
        log.warning("could not read the consumed queues; warming every capability")
        return list(QUEUES)


def _warm_providers(queues: list[str]) -> None:
    """Build the provider of each capability this worker's queues serve once it is up, so the
    first job does not pay for it while the other threads wait on it: the `openai` import and
    client (~0.4 s of GIL time), and the offline models (~3 s each) of those capabilities only.
    Why only those: every worker used to load Whisper, OCR and NudeNet (~1 GB), the `webhooks`
    worker included, which never runs a model. The last line says what this process loaded."""
    from mmservice.providers.registry import choose
    from workers.deps import get_deps

    deps = get_deps()
    cfg = deps.cfg
    caps = capabilities_of(queues)
    for cap in caps:
        if choose(cfg, cap) == "openai":
            try:
                deps.providers.get(cap)
            except Exception:  # noqa: BLE001 - a bad setting surfaces again on the first job
                log.warning("could not build the %s provider at start", cap, exc_info=True)
    local_caps = [c for c in caps if choose(cfg, c) == "local"]
    loaded: list[str] = []
    if local_caps and cfg["LOCAL_WARM_UP"]:
        try:
            from mmservice.providers.local.models import engines_for, warm_up

            engines = warm_up(engines_for(local_caps), cfg=cfg)
            loaded = [name for name, e in engines.items() if e["loaded"]]
        except Exception:  # noqa: BLE001 - a failed warm-up surfaces again on first use
            log.exception("local engine warm-up failed")
    log.info("warm-up done", extra={"queues": queues, "capabilities": caps,
                                    "local_capabilities": local_caps, "local_engines": loaded})


@worker_ready.connect
def _start(sender=None, **_kw) -> None:
    from workers.deps import get_deps

    # The pool size tells micro-batching when every thread is already waiting (no one else
    # can add a text, so holding longer only adds latency).
    controller = getattr(sender, "controller", None)
    if getattr(controller, "concurrency", None):
        get_deps().cfg["WORKER_CONCURRENCY"] = int(controller.concurrency)  # type: ignore[union-attr]
    threading.Thread(target=_sweeper, name="mms-blob-sweeper", daemon=True).start()
    threading.Thread(target=_warm_up, args=(consumed_queues(sender),), name="mms-warm-up",
                     daemon=True).start()
