"""The mmservice Celery app with the local engines loaded at start (`warm_up()`), for the
memory benchmark: `celery -A bench._local_worker worker ...` is the production worker plus
every offline model in memory, as a worker serving the `local` provider holds them."""
from __future__ import annotations

from mmservice.providers.local import warm_up
from workers.celery_app import app  # noqa: F401  (the app celery -A finds)

ENGINES = warm_up()
