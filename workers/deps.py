"""The worker process's step dependencies: the composition root's, built when the worker starts."""
from __future__ import annotations

from mmservice.jobs.deps import Deps


def get_deps() -> Deps:
    from workers.celery_app import services

    return services.deps
