"""Import path kept for `mmservice/__init__.py` and `workers/deps.py`, which import
`on_job_terminal` from here; delete once they import it from `mmservice.webhooks.emit`."""
from mmservice.webhooks.emit import on_job_terminal

__all__ = ["on_job_terminal"]
