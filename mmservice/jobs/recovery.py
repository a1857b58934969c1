"""Recovery of steps whose worker died, and settling of overdue jobs without a client's GET.

Why not only the broker's visibility timeout: a SIGKILLed worker's unacked message comes back
only after `MMS_BROKER_VISIBILITY_TIMEOUT_S` plus a restore pass, and a message is restored by
age, whether its worker lives or not. Every
step marked running records its runner (the worker's heartbeat name, `mmservice.heartbeat`) and
enters an index of running steps (a sorted set of `tenant/job/step`, scored by the job's
deadline) in the same transaction; a sweep in every worker re-publishes a step whose runner's
heartbeat has expired. The re-run is claimed with a compare-and-set on the job record (its
`_runner` changes from the dead name to `requeued:<sweeper>`), so of several sweepers one
re-publishes, once; steps are idempotent, so the re-run finds any saved work. The visibility
timeout stays as the last resort (a sweeper dying between claim and publish).

Not covered here: a step whose message a worker received but had not started when it died (in
the broker's unacked hash), and fan-out parts (`mmservice.jobs.fanout`): the broker's
visibility timeout (a minute by default) returns those messages to their queue. A step message
that vanished outright (never recorded as unacked) is `mmservice.jobs.lost_messages`'s; a
re-run published here enters its index with the claim, in case that message is lost too. The
visibility timeout can be short because a copy of a message whose step still runs under a live
worker does nothing (`runs_elsewhere`; parts hold a lease of the same kind).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from mmservice.errors import NotFound
from mmservice.jobs.deps import Deps
from mmservice.jobs.store import TERMINAL

log = logging.getLogger("mmservice.recovery")
REQUEUED = "requeued:"

_runner = {"name": ""}


def set_runner(name: str) -> None:
    """This process's heartbeat name (set by the worker when its heartbeat starts)."""
    _runner["name"] = name


def runner() -> str:
    """The name recorded as a step's runner; empty outside a worker (then nothing is indexed:
    without a heartbeat, nobody could tell whether the runner is alive)."""
    return _runner["name"]


def runs_elsewhere(deps: Deps, job: dict, step: str, token: str) -> bool:
    """Whether `step` (marked running) runs now in another execution than `token`'s: its
    runner is a worker whose heartbeat is alive. A step re-published by the sweeper, or run
    outside a worker (no runner), or by a dead worker, does not."""
    return held_elsewhere(deps, job.get("_runner", {}).get(step, ""),
                          job.get("_run_token", {}).get(step, ""), token)


def held_elsewhere(deps: Deps, name: str, holder_token: str, token: str) -> bool:
    """Whether work held by runner `name` with `holder_token` is another execution than
    `token`'s under a live worker."""
    if not name or name.startswith(REQUEUED):
        return False
    if token and holder_token == token:
        return False  # this execution's own retry after a Redis error
    return _alive(deps.redis, {name})[name]


def running_key(deps: Deps) -> str:
    return f"{deps.store.keys.prefix}:running_steps"


def _member(job: dict, step: str) -> str:
    return f"{job['tenant']}/{job['id']}/{step}"


def queue_running(pipe: Any, deps: Deps, job: dict, step: str) -> None:
    """Inside the transaction that marks `step` running: index it (when a runner is known)."""
    if job.get("_runner", {}).get(step):
        pipe.zadd(running_key(deps), {_member(job, step): float(job.get("_deadline_ts") or "inf")})


def queue_done(pipe: Any, deps: Deps, job: dict, steps: list[str]) -> None:
    """Inside the transaction that ends `steps` (recorded, failed, settled): unindex them
    (from the waiting steps too: a failed job's pending steps never start)."""
    from mmservice.jobs import lost_messages

    pipe.zrem(running_key(deps), *[_member(job, s) for s in steps])
    lost_messages.queue_started(pipe, deps.store.keys, job, steps)


def unindex(deps: Deps, job: dict, step: str) -> None:
    deps.redis.zrem(running_key(deps), _member(job, step))


@dataclass
class Sweeper:
    """One worker's recovery pass state: who sweeps, and where in the index it left off (each
    pass reads at most `batch` entries, so a pass stays cheap however many steps run)."""

    deps: Deps
    me: str
    batch: int = 200
    offset: int = 0

    def sweep(self) -> dict[str, int]:
        """One pass: settle overdue jobs, then re-publish steps whose runner is gone."""
        from mmservice.jobs.pipeline import reap_if_overdue

        deps, r, key = self.deps, self.deps.redis, running_key(self.deps)
        done = {"reaped": 0, "requeued": 0, "dropped": 0}
        overdue: list[Any] = r.zrangebyscore(key, "-inf", time.time(), start=0, num=self.batch)
        for raw in overdue:
            tenant, job_id, _step = _parse(raw)
            try:
                job = deps.store.get(tenant, job_id)
            except NotFound:
                job = None
            if job is not None and job["status"] not in TERMINAL:
                done["reaped"] += reap_if_overdue(deps, job)["status"] in TERMINAL
            r.zrem(key, raw)
        page: list[Any] = r.zrange(key, self.offset, self.offset + self.batch - 1)
        members = [_parse(m) for m in page]
        self.offset = 0 if len(members) < self.batch else self.offset + self.batch
        jobs = deps.store.records.get_many([deps.store.keys.job(t, j) for t, j, _ in members])
        runners = {(j or {}).get("_runner", {}).get(s, "") for j, (_, _, s) in
                   zip(jobs, members, strict=True)}
        alive = _alive(r, {n for n in runners if n and not n.startswith(REQUEUED)})
        for job, (tenant, job_id, step) in zip(jobs, members, strict=True):
            if job is None or job["status"] in TERMINAL or \
                    job["task_status"].get(step) != "running":
                r.zrem(key, f"{tenant}/{job_id}/{step}")
                done["dropped"] += 1
                continue
            name = job.get("_runner", {}).get(step, "")
            if not name or name.startswith(REQUEUED) or alive.get(name, True):
                continue
            done["requeued"] += self._requeue(job, step, name)
        return done

    def _requeue(self, job: dict, step: str, dead: str) -> int:
        """Claim the re-run (CAS on `_runner`) and publish the step's message again."""
        from mmservice.jobs.dispatch import step_task

        def claim(j: dict) -> None:
            if j["status"] in TERMINAL or j["task_status"].get(step) != "running" or \
                    j.get("_runner", {}).get(step) != dead:
                raise _Lost()
            j["_runner"][step] = f"{REQUEUED}{self.me}"

        def index(pipe: Any, j: dict, _result: Any) -> None:  # in case this message is lost
            from mmservice.jobs import lost_messages

            lost_messages.queue_waiting(pipe, self.deps.store.keys, j, step)

        try:
            self.deps.store.update(job["tenant"], job["id"], claim, in_same_transaction=index)
        except (_Lost, NotFound):
            return 0
        name, args, task_id, queue = step_task(job, step)
        self.deps.send_task(name, args, task_id=task_id, queue=queue)
        log.warning("step re-published: its worker is gone",
                    extra={"job_id": job["id"], "step": step, "dead_worker": dead})
        return 1


class _Lost(Exception):
    """Another sweeper claimed the re-run, or the step moved on."""


def _parse(raw: bytes | str) -> tuple[str, str, str]:
    text = raw.decode() if isinstance(raw, bytes) else raw
    tenant, job_id, step = text.rsplit("/", 2)
    return tenant, job_id, step


def _alive(r: Any, names: set[str]) -> dict[str, bool]:
    """Whether each worker's heartbeat still exists (one round trip)."""
    from mmservice.heartbeat import _key

    ordered = sorted(names)
    with r.pipeline(transaction=False) as p:
        for n in ordered:
            p.exists(_key(n))
        found = p.execute()
    return {n: bool(f) for n, f in zip(ordered, found, strict=True)}
