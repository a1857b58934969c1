"""How a job moves: which tasks it gets, in what order, and what each step does to the record.

Why steps and not one big task: capabilities run on their own queues (`moderation`, `vision`,
`audio`) so operators scale them separately. A step task loads the job, runs one capability's
plain function, saves the result and enqueues the next step. Every step is idempotent: a
re-delivered message (worker killed, `acks_late`) finds its result saved and only advances.
"""
from __future__ import annotations

import logging
import time

import redis

from mmservice import logs, metrics
from mmservice.errors import MMSError, NotFound
from mmservice.jobs import lost_messages, recovery
from mmservice.jobs.deps import Deps
from mmservice.jobs.store import TERMINAL, now_iso
from mmservice.steps import registry

log = logging.getLogger("mmservice.pipeline")



def next_step(job: dict) -> str | None:
    for t in job["tasks"]:
        if job["task_status"].get(t) in ("pending", "running"):
            return t
    return None


def _settle_in_place(j: dict, deps: Deps) -> None:
    """Mark a job whose steps are all done succeeded or failed (inside an update)."""
    if j["status"] in TERMINAL:
        raise _AlreadyDone()
    failed = [t for t in j["tasks"] if j["task_status"].get(t) in ("failed", "skipped")]
    if failed:
        errors = j.get("task_errors") or {}
        first = errors.get(failed[0]) or {"code": "task_failed", "message": "task failed"}
        deps.store.set_status(j, "failed", error={**first, "failed_tasks": failed})
    else:
        deps.store.set_status(j, "succeeded")


def _settled(deps: Deps, job: dict) -> None:
    """After the write that settled a job (which also counted and announced it, see
    `JobStore.queue_settled`): hand it to delivery."""
    log.info("job settled", extra={"job_id": job["id"], "status": job["status"]})
    deps.on_terminal(job)


def _count_if_settled(deps: Deps):
    """An `also` for `store.update`: when the write settles the job, count and announce it in
    the same transaction (the update's function raises `_AlreadyDone` on a settled job, so a
    job is counted once)."""
    def also(pipe, j: dict, _result) -> None:
        if j["status"] in TERMINAL:
            deps.store.queue_settled(pipe, j)
    return also


def advance(job: dict, deps: Deps) -> None:
    """Enqueue the next pending step, or settle the job when none is left."""
    step = next_step(job)
    if step is not None:
        deps.enqueue_step(job, step)
        return
    try:
        settled = deps.store.update(job["tenant"], job["id"],
                                    lambda j: _settle_in_place(j, deps),
                                    in_same_transaction=_count_if_settled(deps))
    except _AlreadyDone:
        return
    _settled(deps, settled)


class _AlreadyDone(Exception):
    pass


class _NotRunnable(Exception):
    """Raised inside a step's start update: the step must not run (`why`), seen on `job`."""

    def __init__(self, why: str, job: dict):
        super().__init__(why)
        self.why, self.job = why, job


def _overdue(job: dict) -> bool:
    return job["status"] not in TERMINAL and time.time() > job.get("_deadline_ts", float("inf"))


def live_job(deps: Deps, tenant: str, job_id: str) -> tuple[dict | None, str]:
    """The job a task should work on, or (None, why not): gone, already settled, or past its
    deadline (then failed now: e.g. a message restored from the broker long after)."""
    try:
        job = deps.store.get(tenant, job_id)
    except NotFound:
        return None, "gone"
    if job["status"] in TERMINAL:
        return None, "terminal"
    job = reap_if_overdue(deps, job)
    if job["status"] in TERMINAL:
        return None, "timeout"
    return job, "live"


def run_step(tenant: str, job_id: str, step: str, deps: Deps, token: str = "") -> str:
    """Run one step of one job. Returns what happened (for logs and tests).

    The checks (gone, settled, past its deadline, step already done, dependency failed,
    running under a live worker) read the record inside the same transaction that marks the
    step running: one read per step. A step whose adapter splits its work (`split`) fans out
    (`mmservice.jobs.fanout`).

    `token` names one execution of the step's task (its retries after a Redis error keep it):
    a second copy of the message (the broker's visibility timeout restored it, or a worker
    that lost its broker connection put it back) finds the step running under a live worker
    with another token and does nothing, so the short visibility timeout that rescues a dead
    worker's messages never makes a slow step run twice at once."""
    logs.start(job_id=job_id, tenant=tenant, step=step)
    spec = registry.get(step)

    def start(j: dict) -> None:
        if j["status"] in TERMINAL:
            raise _NotRunnable("terminal", j)
        if _overdue(j):
            raise _NotRunnable("timeout", j)
        if j["task_status"].get(step) in ("succeeded", "failed", "skipped"):
            raise _NotRunnable("already-done", j)
        need = spec.needs.get(j["input"]["kind"])
        if need and j["task_status"].get(need) != "succeeded":
            raise _NotRunnable("dependency", j)
        if j["task_status"].get(step) == "running" and \
                recovery.runs_elsewhere(deps, j, step, token):
            raise _NotRunnable("running-elsewhere", j)
        if j["status"] == "queued":
            deps.store.set_status(j, "running")
        j["task_status"][step] = "running"
        j.setdefault("_runner", {})[step] = recovery.runner()  # who to ask if it is alive
        j.setdefault("_run_token", {})[step] = token
        j["updated_at"] = now_iso()

    def index(pipe, j: dict, _result) -> None:
        recovery.queue_running(pipe, deps, j, step)
        lost_messages.queue_started(pipe, deps.store.keys, j, [step])  # its message arrived

    try:
        job = deps.store.update(tenant, job_id, start, in_same_transaction=index)
    except NotFound:
        return "gone"
    except _NotRunnable as e:
        if e.why == "terminal":
            # A re-delivered message of a settled job: the worker that settled it may have died
            # before handing it to delivery (acks_late redelivers exactly then). The hook is
            # idempotent (one delivery per job and event), so hand it over again.
            deps.on_terminal(e.job)
        elif e.why == "timeout":
            reap_if_overdue(deps, e.job)
        elif e.why == "already-done":
            advance(e.job, deps)  # a re-delivered message: the work is saved, just move on
        elif e.why == "dependency":
            need = spec.needs[e.job["input"]["kind"]]
            return record_step(deps, e.job, step, state="skipped", error={
                "code": "dependency_failed", "message": f"{step} needs {need}, which failed"})
        return e.why
    t0 = time.monotonic()
    try:
        module = spec.module()
        splits = hasattr(module, "split") or hasattr(module, "split_stream")
        if splits and getattr(module, "fans_out", lambda _j: True)(job):
            from mmservice.jobs import fanout

            fanned = fanout.start(deps, job, spec)
            if fanned is not None:
                recovery.unindex(deps, job, step)  # the parts' messages carry it now
                return fanned
        result = spec.run(job, deps)
    except (redis.ConnectionError, redis.TimeoutError):
        raise  # not the step's fault: the task retries it (workers/tasks.py)
    except MMSError as e:
        log.warning("step failed", extra={"job_id": job_id, "step": step, "code": e.code})
        return record_step(deps, job, step, error=e.to_dict())
    except Exception as e:  # a bug: record it so the job never stays running
        log.exception("step crashed", extra={"job_id": job_id, "step": step})
        return record_step(deps, job, step, error={"code": "internal_error",
                                               "message": f"{step} failed: {type(e).__name__}"})
    seconds = time.monotonic() - t0
    result.setdefault("elapsed_ms", round(seconds * 1000, 1))
    return record_step(deps, job, step, result=result, seconds=seconds)


def record_step(deps: Deps, job: dict, step: str, *, result: dict | None = None,
                error: dict | None = None, state: str | None = None,
                seconds: float | None = None) -> str:
    """Save a step's result (or error) on the job. `seconds`: how long the step ran, counted
    for `/metrics` in the same transaction (once, exactly when the result is saved)."""
    def save(j: dict) -> None:
        if j["status"] in TERMINAL:
            raise _AlreadyDone()
        if j["task_status"].get(step) in ("succeeded", "failed", "skipped"):
            raise _AlreadyDone()
        if result is not None:
            j["results"][registry.get(step).result_key] = result
            j["task_status"][step] = "succeeded"
        else:
            j.setdefault("task_errors", {})[step] = error
            j["task_status"][step] = state or "failed"
        j["updated_at"] = now_iso()
        if next_step(j) is None:
            _settle_in_place(j, deps)  # the last step: result and final status in one write

    usage = _usage_writes(deps, job, step, result)
    settle_also = _count_if_settled(deps)

    def also(pipe, j: dict, fn_result) -> None:
        if usage is not None:
            from mmservice.accounting import queue_usage

            queue_usage(pipe, usage)  # counted exactly when the result is saved
        recovery.queue_done(pipe, deps, j, [step])
        if seconds is not None and result is not None:
            metrics.Recorder(pipe, deps.store.keys.prefix).step_done(step, result, seconds)
        settle_also(pipe, j, fn_result)

    try:
        job = deps.store.update(job["tenant"], job["id"], save, in_same_transaction=also)
    except _AlreadyDone:
        return "discarded"
    except NotFound:
        return "gone"
    if job["status"] in TERMINAL:
        _settled(deps, job)
    else:
        advance(job, deps)
    return "succeeded" if result is not None else (state or "failed")


def _usage_writes(deps: Deps, job: dict, step: str, result: dict | None):
    """Per-tenant usage increments for a step's result (tokens, audio seconds, images), or
    None; working them out never fails the job."""
    if result is None or not result.get("usage"):
        return None
    try:
        from mmservice.accounting import usage_writes

        return usage_writes(deps.cfg, job, step, result, deps.store.keys)
    except Exception:  # noqa: BLE001 - accounting must not break delivery of a result
        log.exception("usage accounting failed", extra={"job_id": job["id"], "step": step})
        return None


def fail_job(deps: Deps, job: dict, code: str, message: str) -> dict | None:
    def fail(j: dict) -> None:
        if j["status"] in TERMINAL:
            raise _AlreadyDone()
        for t, s in j["task_status"].items():
            if s in ("pending", "running"):
                j["task_status"][t] = "failed"
        deps.store.set_status(j, "failed", error={"code": code, "message": message})

    settle_also = _count_if_settled(deps)

    def also(pipe, j: dict, fn_result) -> None:
        recovery.queue_done(pipe, deps, j, list(j["tasks"]))
        settle_also(pipe, j, fn_result)

    try:
        failed = deps.store.update(job["tenant"], job["id"], fail, in_same_transaction=also)
    except (_AlreadyDone, NotFound):
        return None
    _settled(deps, failed)
    return failed


def reap_if_overdue(deps: Deps, job: dict) -> dict:
    """A job still queued/running past its deadline is failed on read, so no job stays
    `running` forever even if every worker died (the threads pool has no hard time limit)."""
    if _overdue(job):
        return fail_job(deps, job, "job_timeout",
                        "the job did not finish before its deadline") or job
    return job
