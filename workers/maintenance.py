"""Housekeeping that runs inside every worker: expired media is swept from the blob store, the
providers of the capabilities the worker's queues serve are built (models loaded) at start, and a
heartbeat says which queues this worker consumes and how warm its engines are
(`mmservice.heartbeat`, read by `/readyz` and `make run`).

Why threads started on `worker_ready` and not Celery beat: `make run` and small deployments
run no beat process; sweeping is idempotent, so several workers doing it is harmless. The first
heartbeat is written inside the `worker_ready` handler, before Celery logs "ready.", so a
launcher that waits for that line finds the worker's queues already published.
"""
from __future__ import annotations

import logging
import os
import threading
from typing import Any

from celery.signals import worker_ready, worker_shutdown

log = logging.getLogger("mmservice.maintenance")
SWEEP_EVERY_S = 3600


class _Beat:
    """This worker's heartbeat: its name, queues and per-capability engine state."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.name = ""
        self.queues: list[str] = []
        self.engines: dict[str, str] = {}
        self.stop = threading.Event()

    def set(self, caps: list[str], state: str) -> None:
        with self.lock:
            self.engines.update(dict.fromkeys(caps, state))
        self.publish()

    def publish(self) -> None:
        from mmservice import heartbeat
        from workers.deps import get_deps

        if not self.name:
            return
        deps = get_deps()
        with self.lock:
            engines = dict(self.engines)
        heartbeat.publish(deps.redis, self.name, queues=self.queues, engines=engines,
                          pid=os.getpid(), ttl_s=float(deps.cfg["WORKER_HEARTBEAT_TTL_S"]))

    def loop(self) -> None:
        from mmservice import audit_staging
        from workers.deps import get_deps

        deps = get_deps()
        every = float(deps.cfg["WORKER_HEARTBEAT_TTL_S"]) / 3
        while not self.stop.wait(every):
            try:
                self.publish()
            except Exception:  # noqa: BLE001 - Redis down: /readyz says so; keep beating
                log.warning("heartbeat not written", exc_info=True)
            try:  # the verdicts' staged audit entries, chained in batches
                audit_staging.fold_all(deps.redis, deps.store.keys)
            except Exception:  # noqa: BLE001 - they stay staged; the next beat tries again
                log.warning("staged audit entries not chained", exc_info=True)


BEAT = _Beat()


def _sweeper() -> None:
    from workers.deps import get_deps

    stop = threading.Event()
    try:
        deps = get_deps()
        if deps.cfg.get("S3_LIFECYCLE") and hasattr(deps.blobs, "set_lifecycle"):
            days = deps.blobs.set_lifecycle(float(deps.cfg["JOB_TTL_S"]) + 3600)
            log.info("bucket lifecycle set", extra={"expire_days": days})
    except Exception:  # noqa: BLE001 - the sweep below still deletes expired media
        log.exception("bucket lifecycle not set")
    while not stop.wait(SWEEP_EVERY_S):
        try:
            deps = get_deps()
            removed = deps.blobs.sweep(float(deps.cfg["JOB_TTL_S"]) + 3600)
            if removed:
                log.info("swept expired media", extra={"jobs": removed})
        except Exception:  # noqa: BLE001 - housekeeping must never kill the worker
            log.exception("blob sweep failed")


def _recovery() -> None:
    """Every `MMS_RECOVERY_SWEEP_S`: re-publish running steps whose worker died, fail overdue
    jobs (`mmservice.jobs.recovery`), re-publish waiting steps whose message was lost
    (`mmservice.jobs.lost_messages`). Every worker runs one; the claims make that safe."""
    from mmservice.jobs.lost_messages import QueuedSweeper
    from mmservice.jobs.recovery import Sweeper
    from workers.deps import get_deps

    deps = get_deps()
    batch = int(deps.cfg["RECOVERY_BATCH"])
    sweeper = Sweeper(deps, BEAT.name, batch)
    waiting = QueuedSweeper(deps, BEAT.name, float(deps.cfg["QUEUED_REPUBLISH_AFTER_S"]), batch)
    while not BEAT.stop.wait(float(deps.cfg["RECOVERY_SWEEP_S"])):
        for what, one in (("recovery pass", sweeper), ("lost-message pass", waiting)):
            try:
                done = one.sweep()
                if done.get("requeued") or done.get("reaped") or done.get("republished"):
                    log.info(what, extra=done)
            except Exception:  # noqa: BLE001 - Redis down: try again next pass
                log.warning("%s failed", what, exc_info=True)


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
                BEAT.set([cap], "warm")
            except Exception:  # noqa: BLE001 - a bad setting surfaces again on the first job
                BEAT.set([cap], "failed")
                log.warning("could not build the %s provider at start", cap, exc_info=True)
    local_caps = [c for c in caps if choose(cfg, c) == "local"]
    loaded: list[str] = []
    if local_caps and cfg["LOCAL_WARM_UP"]:
        try:
            from mmservice.providers.local.models import engines_for, warm_up

            engines = warm_up(engines_for(local_caps, cfg), cfg=cfg)
            loaded = [name for name, e in engines.items() if e["loaded"]]
            BEAT.set(local_caps, "warm")
        except Exception:  # noqa: BLE001 - a failed warm-up surfaces again on first use
            BEAT.set(local_caps, "failed")
            log.exception("local engine warm-up failed")
    log.info("warm-up done", extra={"queues": queues, "capabilities": caps,
                                    "local_capabilities": local_caps, "local_engines": loaded})


def _start_heartbeat(sender) -> None:
    """Publish this worker's queues with every engine `warming` (or `cold` when local warm-up
    is off) before "ready." is logged, then refresh it from a thread."""
    from mmservice.providers.registry import choose
    from workers.deps import get_deps

    cfg = get_deps().cfg
    # The pid too: two workers started with one node name must not overwrite each other.
    BEAT.name = f"{getattr(sender, 'hostname', '') or 'worker'}/{os.getpid()}"
    from mmservice.jobs import recovery

    recovery.set_runner(BEAT.name)  # steps record it: the recovery sweep checks it is alive
    BEAT.queues = sorted(sender.app.amqp.queues.consume_from)
    caps = capabilities_of(BEAT.queues)  # only what this worker serves
    BEAT.set([c for c in caps if choose(cfg, c) == "openai" or cfg["LOCAL_WARM_UP"]],
             "warming")
    BEAT.set([c for c in caps if choose(cfg, c) == "local" and not cfg["LOCAL_WARM_UP"]],
             "cold")
    threading.Thread(target=BEAT.loop, name="mms-heartbeat", daemon=True).start()


@worker_shutdown.connect
def _withdraw(**_kw) -> None:
    from mmservice import heartbeat
    from workers.deps import get_deps

    BEAT.stop.set()
    if BEAT.name:
        try:
            heartbeat.withdraw(get_deps().redis, BEAT.name)
        except Exception:  # noqa: BLE001 - then the TTL removes it
            log.warning("heartbeat not withdrawn", exc_info=True)


@worker_ready.connect
def _start(sender=None, **_kw) -> None:
    from workers.deps import get_deps

    # The pool size tells micro-batching when every thread is already waiting (no one else
    # can add a text, so holding longer only adds latency).
    controller = getattr(sender, "controller", None)
    if getattr(controller, "concurrency", None):
        get_deps().cfg["WORKER_CONCURRENCY"] = int(controller.concurrency)  # type: ignore[union-attr]
    try:
        _start_heartbeat(sender)
    except Exception:  # noqa: BLE001 - without a heartbeat /readyz says "no consumer"
        log.exception("heartbeat not started")
    threading.Thread(target=_sweeper, name="mms-blob-sweeper", daemon=True).start()
    if BEAT.name:  # without a heartbeat name no step is indexed: nothing to recover
        threading.Thread(target=_recovery, name="mms-recovery", daemon=True).start()
    threading.Thread(target=_warm_up, args=(consumed_queues(sender),), name="mms-warm-up",
                     daemon=True).start()
