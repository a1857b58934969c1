"""Fan-out: a step splits its work into parts, each part runs as its own task on the step's
queue, and the task that finishes the last part stitches them and records the step.

Why through the broker: a one-hour recording is six 10-minute chunks; sent one after another the
job takes the sum of their latencies, sent as a group it takes about the longest one. No task
ever waits on another (Celery's own advice) and no result backend is needed: the plan and each
part's result live in one Redis hash per (job, step); a lock makes exactly one task stitch.

A step fans out by giving its adapter module three functions besides `run`:
`split(job, deps) -> Plan | None` (None: the work fits one call, `run` does it),
`run_part(job, part, deps) -> dict` and `stitch(job, plan, results, deps) -> dict`, and
optionally `cleanup(job, plan, deps)` and `fans_out(job) -> bool` (false: this job never
splits, so no plan is looked up; a step that splits only some input kinds says which).

A part may name its own `queue` (a video's frames go to `vision`, its soundtrack's chunks to
`audio`) and its `kind`: the hash then counts `_total:<kind>` and `_done:<kind>`, which
`progress` reads for a running job's answer.
"""
from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from mmservice import logs
from mmservice.errors import MMSError
from mmservice.steps import registry

log = logging.getLogger("mmservice.fanout")

STITCH_LOCK_S = 300


@dataclass
class Plan:
    parts: list[dict]  # JSON-ready, one per part task
    meta: dict = field(default_factory=dict)  # anything `stitch` needs besides the parts


def start(deps: Any, job: dict, step: registry.Step) -> str | None:
    """Plan (once) and publish the parts of `step`; None when the step does not split and
    must run as one call. A re-delivered message finds the parts sent and does nothing."""
    key = deps.store.keys.fanout(job["tenant"], job["id"], step.name)
    r = deps.redis
    if r.hexists(key, "_sent"):
        return "fanned-out"
    raw = r.hget(key, "_plan")
    if raw is None:
        plan = step.module().split(job, deps)
        if plan is None:
            return None
        pipe = r.pipeline(transaction=True)
        pipe.hset(key, "_plan", json.dumps({"parts": plan.parts, "meta": plan.meta}))
        for kind, count in Counter(p.get("kind", "part") for p in plan.parts).items():
            pipe.hset(key, f"_total:{kind}", count)
        pipe.expire(key, int(deps.cfg["JOB_TTL_S"]))
        pipe.execute()
        parts = plan.parts
    else:
        parts = json.loads(raw)["parts"]
    for index in range(len(parts)):  # a group: every part on the step's queue at once
        deps.send_task(registry.FANOUT_TASK, [job["tenant"], job["id"], step.name, index],
                       task_id=f"{job['id']}.{step.name}.part{index}",
                       queue=parts[index].get("queue") or step.queue)
    r.hset(key, "_sent", 1)
    log.info("step fanned out", extra={"job_id": job["id"], "step": step.name,
                                       "parts": len(parts)})
    return "fanned-out"


def run_part(deps: Any, tenant: str, job_id: str, step_name: str, index: int,
             token: str = "") -> str:
    """Run one part; the task that lands the last part stitches and records the step.

    A part being run holds a lease (`_run:<index>` = runner and `token`, see
    `pipeline.run_step`): a second copy of its message, restored by the broker's visibility
    timeout while the part still runs under a live worker, does nothing."""
    from mmservice.jobs.pipeline import live_job, record_step

    logs.start(job_id=job_id, tenant=tenant, step=step_name, part=index)
    job, outcome = live_job(deps, tenant, job_id)
    if job is None:
        return outcome
    step = registry.get(step_name)
    keys, r = deps.store.keys, deps.redis
    key = keys.fanout(tenant, job_id, step_name)
    raw_plan = r.hget(key, "_plan")
    if raw_plan is None:
        return "no-plan"
    plan = json.loads(raw_plan)
    parts = plan["parts"]
    if not r.hexists(key, str(index)):
        if not _lease_part(deps, key, index, token):
            return "part-running-elsewhere"
        try:
            value = {"ok": step.module().run_part(job, parts[index], deps)}
        except MMSError as e:
            value = {"error": e.to_dict()}
        if r.hsetnx(key, str(index), json.dumps(value)):
            r.hincrby(key, f"_done:{parts[index].get('kind', 'part')}", 1)
    done = [k for k in r.hkeys(key) if not k.startswith(b"_")]
    if len(done) < len(parts):
        return "part-done"
    if not r.set(keys.fanout_stitch(tenant, job_id, step_name), 1, nx=True, ex=STITCH_LOCK_S):
        return "part-done"  # another part's task is stitching
    got = {int(k): json.loads(v) for k, v in r.hgetall(key).items() if not k.startswith(b"_")}
    errors = [got[i]["error"] for i in sorted(got) if "error" in got[i]]
    module = step.module()
    if errors:
        record_step(deps, job, step_name,
                    error={**errors[0], f"failed_{step.part_noun}": len(errors)})
        outcome = "stitched-failed"
    else:
        results = [got[i]["ok"] for i in range(len(parts))]
        record_step(deps, job, step_name, result=module.stitch(job, plan, results, deps))
        outcome = "stitched"
    if hasattr(module, "cleanup"):
        module.cleanup(job, plan, deps)
    return outcome


def _lease_part(deps: Any, key: str, index: int, token: str) -> bool:
    """Take the part's lease unless another execution holds it under a live worker."""
    from mmservice.jobs import recovery

    me = json.dumps({"runner": recovery.runner(), "token": token})
    field = f"_run:{index}"
    if deps.redis.hsetnx(key, field, me):
        return True
    raw = deps.redis.hget(key, field)
    holder = json.loads(raw) if raw else {}
    if recovery.held_elsewhere(deps, holder.get("runner", ""), holder.get("token", ""), token):
        return False
    deps.redis.hset(key, field, me)  # its holder is gone (or it is this execution's retry)
    return True


def progress(deps: Any, tenant: str, job_id: str, step_name: str, kinds: tuple[str, ...]
             ) -> dict[str, int] | None:
    """`{<kind>_done, <kind>_total}` of a fanned-out step's parts (None before it is planned):
    one HMGET, for the answer to GET of a running job."""
    key = deps.store.keys.fanout(tenant, job_id, step_name)
    fields = [f"_{w}:{k}" for k in kinds for w in ("done", "total")]
    got = deps.redis.hmget(key, fields)
    if all(v is None for v in got):
        return None
    return {f"{k}_{w}": int(v or 0) for (k, w), v in
            zip(((k, w) for k in kinds for w in ("done", "total")), got)}
