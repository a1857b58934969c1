"""Fan-out: a step splits its work into parts, each part runs as its own task on the step's
queue, and the task that finishes the last part stitches them and records the step.

Why through the broker: a one-hour recording is six 10-minute chunks; sent one after another the
job takes the sum of their latencies, sent as a group it takes about the longest one. No task
ever waits on another (Celery's own advice) and no result backend is needed: the parts and
their results live in one Redis hash per (job, step) (`fanout_hash`); a lock makes exactly one
task stitch.

A step fans out by giving its adapter module, besides `run`, either
`split(job, deps) -> Plan | None` (None: the work fits one call, `run` does it) or
`split_stream(job, deps)`, a generator that yields batches `{part id: part}` as it finds them
and returns the plan's meta when it ends; and `run_part(job, part, deps) -> dict`,
`stitch(job, plan, results, deps) -> dict`, optionally `cleanup(job, plan, deps)` and
`fans_out(job) -> bool` (false: this job never splits; a step that splits only some input kinds
says which).

Why streaming: a video's keyframes come out of a decode that takes about as long as judging
them. Each batch is published as soon as it is found, so the parts run while the split still
decodes, and the job takes about the longer of the two instead of their sum. Nobody stitches
before the split has ended and counted the parts (`_final`), so a part that finishes early
never stitches a plan that is still growing. A split that dies mid-stream (its worker killed)
is run again by the recovery sweep: its part ids are stable, so the re-run records nothing
twice and sends only the parts whose message was never sent; results already saved stay.

A part whose message vanished (taken off its queue when Redis died, never recorded as unacked)
is published again by the sweep of waiting work (`jobs.lost_messages`): a part enters its index
with its `_sent` mark and leaves it with its lease.

A part may name its own `queue` (a video's frames go to `vision`, its soundtrack's chunks to
`audio`) and its `kind`: the hash then counts `_found:<kind>` and `_done:<kind>`, which
`progress` reads for a running job's answer.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from mmservice import logs
from mmservice.errors import MMSError
from mmservice.jobs import fanout_hash as fh
from mmservice.jobs.lost_messages import part_member
from mmservice.steps import registry

log = logging.getLogger("mmservice.fanout")

STITCH_LOCK_S = 300


@dataclass
class Plan:
    parts: list[dict]  # JSON-ready, one per part task
    meta: dict = field(default_factory=dict)  # anything `stitch` needs besides the parts


Batch = dict[str, dict]  # part id (stable across re-runs of the split) -> part


def start(deps: Any, job: dict, step: registry.Step) -> str | None:
    """Split `step` and publish its parts as they are found; None when the step does not split
    and must run as one call. A re-delivered message finds the parts sent and does nothing; a
    re-run of a split that died finds the parts it had recorded and sends only the unsent."""
    key = deps.store.keys.fanout(job["tenant"], job["id"], step.name)
    r = deps.redis
    sent, final = r.hmget(key, "_sent", "_final")
    if sent is not None:
        return "fanned-out"
    if final is None:
        started = time.time()
        module = step.module()
        if hasattr(module, "split_stream"):
            meta = _stream(deps, job, step, key, module.split_stream(job, deps))
            if meta is None:
                return "stopped"  # the job was canceled or settled while it decoded
        else:
            plan = module.split(job, deps)
            if plan is None:
                return None
            _publish(deps, job, step, key, {str(i): p for i, p in enumerate(plan.parts)})
            meta = plan.meta
        fh.finish(r, key, meta, started)
    _send(deps, job, step, key, fh.unsent(r, key))  # a split that died between record and send
    r.hset(key, "_sent", 1)
    log.info("step fanned out", extra={"job_id": job["id"], "step": step.name,
                                       "parts": int(r.hget(key, "_final") or 0)})
    if fh.all_done(r, key):  # every part finished before the split ended: nobody else will
        _stitch(deps, job, step, key)
    return "fanned-out"


def _stream(deps: Any, job: dict, step: registry.Step, key: str,
            batches: Generator[Batch, None, dict]) -> dict | None:
    """Publish each batch as the split yields it; the split's meta, or None when the job
    stopped being live meanwhile (then the split is closed: its decode ends at once)."""
    from mmservice.jobs.pipeline import live_job

    try:
        while True:
            try:
                batch = next(batches)
            except StopIteration as end:
                return dict(end.value or {})
            if not batch:
                continue
            if live_job(deps, job["tenant"], job["id"])[0] is None:
                return None
            _publish(deps, job, step, key, batch)
    finally:
        batches.close()


def _publish(deps: Any, job: dict, step: registry.Step, key: str, batch: Batch) -> None:
    """Record a batch of parts, then send the message of each one not sent before."""
    ids = fh.record_parts(deps.redis, key, batch, int(deps.cfg["JOB_TTL_S"]))
    _send(deps, job, step, key, ids, batch)


def _send(deps: Any, job: dict, step: registry.Step, key: str, ids: list[str],
          parts: Batch | None = None) -> None:
    """Publish each part's message and mark it sent at once (a split that dies in between
    sends that one part again, never a batch)."""
    for pid in ids:
        part = (parts or {}).get(pid) or fh.part(deps.redis, key, pid) or {}
        deps.send_task(registry.FANOUT_TASK, [job["tenant"], job["id"], step.name, pid],
                       task_id=f"{job['id']}.{step.name}.part{pid}",
                       queue=part.get("queue") or step.queue)
        fh.mark_sent(deps.redis, key, pid, (deps.store.keys.queued_steps(),  # if it is lost
                                            part_member(job["tenant"], job["id"], step.name, pid)))


def run_part(deps: Any, tenant: str, job_id: str, step_name: str, pid: str,
             token: str = "") -> str:
    """Run one part; the task that lands the last part, once the split has ended, stitches and
    records the step.

    A part being run holds a lease (`_run:<id>` = runner and `token`, see
    `pipeline.run_step`): a second copy of its message, restored by the broker's visibility
    timeout while the part still runs under a live worker, does nothing."""
    from mmservice.jobs.pipeline import live_job

    logs.start(job_id=job_id, tenant=tenant, step=step_name, part=pid)
    job, outcome = live_job(deps, tenant, job_id)
    if job is None:
        return outcome
    step = registry.get(step_name)
    r = deps.redis
    key = deps.store.keys.fanout(tenant, job_id, step_name)
    part = fh.part(r, key, pid)
    if part is None:
        return "no-plan"
    if r.hexists(key, pid):
        every = fh.all_done(r, key)
    else:
        if not _lease_part(deps, key, pid, token, part_member(tenant, job_id, step_name, pid)):
            return "part-running-elsewhere"
        try:
            value = {"ok": step.module().run_part(job, part, deps)}
        except MMSError as e:
            value = {"error": e.to_dict()}
        every = fh.record_result(r, key, pid, part.get("kind", "part"), value)
    if not every:
        return "part-done"
    return _stitch(deps, job, step, key)


def _stitch(deps: Any, job: dict, step: registry.Step, key: str) -> str:
    """Put the parts back together and record the step, once (the stitch lock)."""
    from mmservice.jobs.pipeline import record_step

    if not deps.redis.set(deps.store.keys.fanout_stitch(job["tenant"], job["id"], step.name),
                          1, nx=True, ex=STITCH_LOCK_S):
        return "part-done"  # another task is stitching
    ids, plan, got = fh.load(deps.redis, key)
    errors = [got[i]["error"] for i in ids if "error" in got[i]]
    module = step.module()
    if errors:
        record_step(deps, job, step.name,
                    error={**errors[0], f"failed_{step.part_noun}": len(errors)})
        outcome = "stitched-failed"
    else:
        results = [got[i]["ok"] for i in ids]
        record_step(deps, job, step.name, result=module.stitch(job, plan, results, deps))
        outcome = "stitched"
    if hasattr(module, "cleanup"):
        module.cleanup(job, plan, deps)
    return outcome


def _lease_part(deps: Any, key: str, pid: str, token: str, member: str = "") -> bool:
    """Take the part's lease unless another execution holds it under a live worker; `member`:
    the part's entry among the waiting work, which it leaves (`jobs.lost_messages`)."""
    from mmservice.jobs import recovery

    # When it started and whether the split was still running then: the overlap of decoding
    # and judging, as the records show it (tests, benches).
    me = json.dumps({"runner": recovery.runner(), "token": token, "at": time.time(),
                     "split_open": not deps.redis.hexists(key, "_final")})
    field = f"_run:{pid}"
    if fh.lease(deps.redis, key, pid, me,
                (deps.store.keys.queued_steps(), member) if member else None):
        return True
    raw = deps.redis.hget(key, field)
    holder = json.loads(raw) if raw else {}
    if recovery.held_elsewhere(deps, holder.get("runner", ""), holder.get("token", ""), token):
        return False
    deps.redis.hset(key, field, me)  # its holder is gone (or it is this execution's retry)
    return True


def progress(deps: Any, tenant: str, job_id: str, step_name: str, kinds: tuple[str, ...]
             ) -> dict[str, int] | None:
    """`{<kind>_done, <kind>_found}` of a fanned-out step's parts, plus `<kind>_total` once the
    split has ended (None before any part is found): for the answer to GET of a running job."""
    return fh.progress(deps.redis, deps.store.keys.fanout(tenant, job_id, step_name), kinds)
