"""Re-publishing steps whose broker message vanished while the job record says they wait.

Why: kombu's Redis transport takes a message with BRPOP and only then, in a second round trip,
records it in its unacked hash (`QoS.append`). When Redis dies in between (a restart), the
message is nowhere: not in its queue, not in the unacked hash, so the broker's visibility
timeout never brings it back, and the recovery sweep (`jobs.recovery`) watches only steps that
started. The job stayed `queued` for good (1 job in 40, `tests/test_faults.py[redis_restart]`).
A later step had the same hole when its publisher died between its enqueue-once marker and
the publish, and so had a step re-published by the recovery sweep and a fan-out part (its job
then waited for the part until its deadline).

How: a published step enters an index of waiting steps (a sorted set of `tenant/job/step`
scored by when it was published) in the same write that publishes it or marks it published:
the transaction that creates the job (its first step, `JobStore._with_record`, also inside the
admission script), the script that writes a later step's enqueue-once marker
(`dispatch.make_enqueue_step`), the claim of a recovery re-run (`recovery.Sweeper._requeue`),
a part's `_sent` mark (`fanout_hash.mark_sent`, as `tenant/job/step#part`). The transaction
that marks the step running removes it (`pipeline.run_step`), and so do the one that ends a
job's steps and a part's lease (`fanout_hash.lease`). A sweep in every worker reads only the
entries older than `MMS_QUEUED_REPUBLISH_AFTER_S` (one ZRANGEBYSCORE with a LIMIT, one MGET of
their jobs, one pipelined HMGET for parts: no SCAN) and re-publishes a step or part that still
waits and whose message has left its queue.

Once per period across several sweepers: the re-publish is claimed with a compare-and-set on
the entry's score (the score read becomes now), so one sweeper wins; if that message is lost
too, the entry is old again one period later.

Why a copy is harmless: a message that was only slow and its re-published copy both reach
`run_step`, whose start update (one optimistic transaction) lets one of them mark the step
running; the other finds it running under a live worker (`recovery.runs_elsewhere`) or done
(then it only advances, and the enqueue-once marker keeps the next step from being sent twice).

Why the queue is looked at: under a backlog a message may wait longer than the age and still
be in its queue. Queues are FIFO (LPUSH, BRPOP from the other end), so when the oldest message
of the step's queue was published after the entry, the entry's message has left the queue
(taken by a worker, or lost); when it is older, or not a step's, the entry waits for a later
pass. That is one LINDEX and one ZSCORE per queue per pass, and no copies pile up behind a
backlog. A message taken by a worker that then died sits in the unacked hash and returns after
the visibility timeout as well: one copy more, harmless.
"""
from __future__ import annotations

import base64
import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mmservice.keys import Keys

if TYPE_CHECKING:  # the store imports this module, and `deps` imports the store
    from mmservice.jobs.deps import Deps

log = logging.getLogger("mmservice.lost_messages")

# KEYS: 1 the enqueue-once marker, 2 the index; ARGV: 1 the marker's TTL, 2 now, 3 the member.
# Marks the step published and indexes it, or (marked before) does nothing: 1 or 0.
MARK_AND_INDEX_LUA = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
  return 1
end
return 0
"""

# KEYS: 1 the index; ARGV: 1 the member, 2 the score read, 3 now. The claim of one re-publish.
_CLAIM_LUA = """
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if s and tonumber(s) == tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
  return 1
end
return 0
"""


def member(tenant: str, job_id: str, step: str) -> str:
    return f"{tenant}/{job_id}/{step}"


def part_member(tenant: str, job_id: str, step: str, pid: str) -> str:
    """A fan-out part's entry (written with its `_sent` mark, removed with its lease)."""
    return f"{tenant}/{job_id}/{step}#{pid}"


def queue_waiting(pipe: Any, keys: Keys, job: dict, step: str) -> None:
    """Inside the write that publishes `step` (or marks it published): index it."""
    pipe.zadd(keys.queued_steps(), {member(job["tenant"], job["id"], step): time.time()})


def queue_started(pipe: Any, keys: Keys, job: dict, steps: list[str]) -> None:
    """Inside the write that starts (or ends) `steps`: unindex them."""
    pipe.zrem(keys.queued_steps(), *[member(job["tenant"], job["id"], s) for s in steps])


@dataclass
class _Entry:
    tenant: str
    job_id: str
    step: str
    pid: str | None  # a fan-out part's id; None: the step itself
    raw: Any  # the member as read
    score: float
    part: dict | None = None  # the part, when it still waits
    queue: str = ""


def _waiting(job: dict | None, e: _Entry, fields: list | None) -> bool:
    """Whether the entry still waits for its message. A step: pending and next in line, or
    re-published by the recovery sweep and not started since. A part (`fields`: its
    `_part:`, result and `_run:` fields): its step fanned out, and it has no lease or result."""
    from mmservice.jobs.pipeline import next_step
    from mmservice.jobs.recovery import REQUEUED
    from mmservice.jobs.store import TERMINAL

    if job is None or job["status"] in TERMINAL:
        return False
    state = job["task_status"].get(e.step)
    if e.pid is not None:
        if state != "running" or fields is None or fields[0] is None or any(fields[1:]):
            return False
        e.part = json.loads(fields[0])
        return True
    if state == "pending":
        return next_step(job) == e.step
    return state == "running" and job.get("_runner", {}).get(e.step, "").startswith(REQUEUED)


@dataclass
class QueuedSweeper:
    """One worker's pass over the waiting work older than `age_s` (at most `batch` a pass)."""

    deps: Deps
    me: str
    age_s: float
    batch: int = 200

    def __post_init__(self) -> None:
        self._claim = self.deps.redis.register_script(_CLAIM_LUA)

    def sweep(self) -> dict[str, int]:
        from mmservice.jobs.pipeline import _overdue, reap_if_overdue
        from mmservice.steps import registry

        deps, r, keys = self.deps, self.deps.redis, self.deps.store.keys
        done = {"republished": 0, "unindexed": 0, "in_queue": 0}
        old: list[Any] = r.zrangebyscore(keys.queued_steps(), "-inf", time.time() - self.age_s,
                                         start=0, num=self.batch, withscores=True)
        if not old:
            return done
        entries = [_Entry(*_parse(raw), raw, score) for raw, score in old]
        jobs = deps.store.records.get_many([keys.job(e.tenant, e.job_id) for e in entries])
        parts = [e for e in entries if e.pid is not None]
        with r.pipeline(transaction=False) as p:  # the parts' fields, one round trip
            for e in parts:
                p.hmget(keys.fanout(e.tenant, e.job_id, e.step), f"_part:{e.pid}", str(e.pid),
                        f"_run:{e.pid}")
            found = dict(zip([id(e) for e in parts], p.execute(), strict=True))
        stale: list[Any] = []
        waiting: list[tuple[dict, _Entry]] = []
        for job, e in zip(jobs, entries, strict=True):
            if job is None or not _waiting(job, e, found.get(id(e))):
                stale.append(e.raw)
            elif _overdue(job):
                reap_if_overdue(deps, job)  # running it now would only fail it
                stale.append(e.raw)
            else:
                e.queue = (e.part or {}).get("queue") or registry.get(e.step).queue
                waiting.append((job, e))
        if stale:
            r.zrem(keys.queued_steps(), *stale)
            done["unindexed"] = len(stale)
        oldest = _oldest_in_queue(r, keys.queued_steps(), {e.queue for _j, e in waiting})
        for job, e in waiting:
            head = oldest[e.queue]
            if head is not None and head <= e.score:
                done["in_queue"] += 1  # its message may still be waiting behind others
                continue
            done["republished"] += self._republish(job, e)
        return done

    def _republish(self, job: dict, e: _Entry) -> int:
        from mmservice.jobs.dispatch import step_task
        from mmservice.steps import registry

        if not int(self._claim(keys=[self.deps.store.keys.queued_steps()],
                               args=[e.raw, repr(e.score), time.time()])):
            return 0  # another sweeper took it, or the work started meanwhile
        if e.pid is None:
            name, args, task_id, queue = step_task(job, e.step)
        else:
            name, args = registry.FANOUT_TASK, [e.tenant, e.job_id, e.step, e.pid]
            task_id, queue = f"{e.job_id}.{e.step}.part{e.pid}", e.queue
        self.deps.send_task(name, args, task_id=task_id, queue=queue)
        log.warning("work re-published: its message left the queue but it never started",
                    extra={"job_id": job["id"], "step": e.step, "part": e.pid,
                           "sweeper": self.me})
        return 1


def _oldest_in_queue(r: Any, key: str, queues: set[str]) -> dict[str, float | None]:
    """Per queue: when the oldest message still in it was published (None: the queue is
    empty; -inf: not known, e.g. not a step's message or one whose step started)."""
    ordered = sorted(queues)
    if not ordered:
        return {}
    with r.pipeline(transaction=False) as p:
        for q in ordered:
            p.lindex(q, -1)
        tails = p.execute()
    names = {q: m for q, t in zip(ordered, tails, strict=True) if t
             for m in [_message_member(t)] if m}
    with r.pipeline(transaction=False) as p:
        for q in names:
            p.zscore(key, names[q])
        scores = dict(zip(names, p.execute(), strict=True))
    out: dict[str, float | None] = {}
    for q, tail in zip(ordered, tails, strict=True):
        got = scores.get(q)
        out[q] = None if not tail else float("-inf") if got is None else float(got)
    return out


def _message_member(raw: Any) -> str | None:
    """The entry a step's or a part's task message stands for (None for any other message)."""
    try:
        doc = json.loads(raw)
        args = json.loads(base64.b64decode(doc["body"]))[0]
    except (ValueError, KeyError, TypeError, IndexError):
        return None
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        return None
    if len(args) == 3:
        return member(*args)
    return part_member(*args) if len(args) == 4 else None


def _parse(raw: bytes | str) -> tuple[str, str, str, str | None]:
    text = raw.decode() if isinstance(raw, bytes) else raw
    tenant, job_id, last = text.rsplit("/", 2)
    step, mark, pid = last.partition("#")
    return tenant, job_id, step, pid if mark else None
