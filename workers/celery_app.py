"""The worker entry point: `celery -A workers.celery_app worker -Q moderation,vision,audio`.

The service is built once by the composition root (`mmservice.services.build`); its Celery app
is the one the worker runs, and tasks reach the same services through `services`.
"""
from __future__ import annotations

import logging

from celery.signals import worker_ready

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
    logs.setup(services.cfg["LOG_LEVEL"])  # the service's level, not the command line's
    if str(services.cfg.get("LOG_LEVEL", "INFO")).upper() != "DEBUG":
        for name in PER_TASK_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
