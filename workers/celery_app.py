"""The worker entry point: `celery -A workers.celery_app worker -Q moderation,vision,audio`.

The service is built once by the composition root (`mmservice.services.build`); its Celery app
is the one the worker runs, and tasks reach the same services through `services`.
"""
from __future__ import annotations

import logging
import threading

from celery.signals import task_prerun, worker_ready

from mmservice import config as mms_config
from mmservice import logs
from mmservice.services import build

# Celery logs two lines per task at INFO ("received", "succeeded in"); the pipeline's own line
# per settled job carries the job id, status and timing, so these show only at DEBUG.
PER_TASK_LOGGERS = ("celery.app.trace", "celery.worker.strategy")

services = build(mms_config.load(), role="worker")
app = services.celery


@worker_ready.connect
def _quiet_per_task_logs(**_kw) -> None:
    if str(services.cfg.get("LOG_LEVEL", "INFO")).upper() != "DEBUG":
        for name in PER_TASK_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)


_level_set = threading.Event()


@task_prerun.connect
def _service_log_level(**_kw) -> None:
    """From the first task on, the service's `MMS_LOG_LEVEL` (not the command line's) applies.
    Not earlier: launchers wait for Celery's "ready." line, logged at INFO after `worker_ready`."""
    if not _level_set.is_set():
        _level_set.set()
        logs.setup(services.cfg["LOG_LEVEL"])
