"""What a client may do to a job after submitting it: cancel it (and delete its content).

Why here and not in the view: cancelling is a state change with rules (only open steps are
canceled, the settle is counted and announced in the same write, delivery hears of it once),
and the CLI or a retention sweep must apply the same rules.
"""
from __future__ import annotations

from typing import Any

from mmservice.jobs.deps import Deps
from mmservice.jobs.store import TERMINAL


def cancel(deps: Deps, tenant: str, job_id: str) -> dict:
    """Cancel a queued or running job; for any job, delete its media, text and results.
    Returns the job as saved. NotFound for an unknown (or another tenant's) job."""
    store = deps.store

    def change(j: dict) -> bool:
        was_open = j["status"] not in TERMINAL
        if was_open:
            for t, s in j["task_status"].items():
                if s in ("pending", "running"):
                    j["task_status"][t] = "canceled"
            store.set_status(j, "canceled")
        j["results"] = {}
        j["media_deleted"] = True
        j.pop("_text", None)
        j.pop("_image_url", None)
        return was_open

    def announce(pipe: Any, j: dict, was_open: bool) -> None:
        if was_open:
            store.queue_settled(pipe, j)  # counted and announced with the cancel itself

    job, was_open = store.update_returning(tenant, job_id, change, announce)
    if was_open:
        deps.on_terminal(job)
    deps.blobs.delete_prefix(f"{tenant}/{job_id}")
    return job
