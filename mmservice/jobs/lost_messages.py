"""Re-publishing steps whose broker message vanished while the job record says they wait.

Why: kombu's Redis transport takes a message with BRPOP and only then, in a second round trip,
records it in its unacked hash (`QoS.append`). When Redis dies in between (a restart), the
message is nowhere: not in its queue, not in the unacked hash, so the broker's visibility
timeout never brings it back, and the recovery sweep (`jobs.recovery`) watches only steps that
started. The job stayed `queued` for good (1 job in 40, `tests/test_faults.py[redis_restart]`).
A later step had the same hole when its publisher died between its enqueue-once marker and
the publish, and so had a step re-published by the recovery sweep.

How: a published step enters an index of waiting steps (a sorted set of `tenant/job/step`
scored by when it was published) in the same write that publishes it or marks it published:
the transaction that creates the job (its first step, `JobStore._with_record`, also inside the
admission script), the script that writes a later step's enqueue-once marker
(`dispatch.make_enqueue_step`), the claim of a recovery re-run (`recovery.Sweeper._requeue`).
The transaction that marks the step running removes it (`pipeline.run_step`), and so does the
one that ends a job's steps. A sweep in every worker reads only the entries older than
`MMS_QUEUED_REPUBLISH_AFTER_S` (one ZRANGEBYSCORE with a LIMIT, one MGET of their jobs: no
SCAN) and re-publishes a step that still waits and whose message has left its queue.

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


def queue_waiting(pipe: Any, keys: Keys, job: dict, step: str) -> None:
    """Inside the write that publishes `step` (or marks it published): index it."""
    pipe.zadd(keys.queued_steps(), {member(job["tenant"], job["id"], step): time.time()})


def queue_started(pipe: Any, keys: Keys, job: dict, steps: list[str]) -> None:
    """Inside the write that starts (or ends) `steps`: unindex them."""
    pipe.zrem(keys.queued_steps(), *[member(job["tenant"], job["id"], s) for s in steps])


def _waiting(job: dict | None, step: str) -> bool:
    """Whether `step` of `job` still waits for its message: pending and next in line, or
    re-published by the recovery sweep and not started since."""
    from mmservice.jobs.pipeline import next_step
    from mmservice.jobs.recovery import REQUEUED
    from mmservice.jobs.store import TERMINAL

    if job is None or job["status"] in TERMINAL:
        return False
    state = job["task_status"].get(step)
    if state == "pending":
        return next_step(job) == step
    return state == "running" and job.get("_runner", {}).get(step, "").startswith(REQUEUED)


@dataclass
class QueuedSweeper:
    """One worker's pass over the waiting steps older than `age_s` (at most `batch` a pass)."""

    deps: Deps
    me: str
    age_s: float
    batch: int = 200

    def __post_init__(self) -> None:
        self._claim = self.deps.redis.register_script(_CLAIM_LUA)

    def sweep(self) -> dict[str, int]:
        from mmservice.jobs.pipeline import _overdue, reap_if_overdue
        from mmservice.steps import registry

        deps, r = self.deps, self.deps.redis
        key = deps.store.keys.queued_steps()
        done = {"republished": 0, "unindexed": 0, "in_queue": 0}
        old: list[Any] = r.zrangebyscore(key, "-inf", time.time() - self.age_s, start=0,
                                         num=self.batch, withscores=True)
        if not old:
            return done
        entries = [(*_parse(raw), raw, score) for raw, score in old]
        jobs = deps.store.records.get_many([deps.store.keys.job(t, j)
                                            for t, j, _s, _r, _sc in entries])
        stale, waiting = [], []
        for job, (_t, _j, step, raw, score) in zip(jobs, entries, strict=True):
            if job is not None and _waiting(job, step) and _overdue(job):
                reap_if_overdue(deps, job)  # running it now would only fail it
                job = None
            if job is None or not _waiting(job, step):
                stale.append(raw)
                continue
            waiting.append((job, step, raw, score))
        if stale:
            r.zrem(key, *stale)
            done["unindexed"] = len(stale)
        oldest = _oldest_in_queue(r, key, {registry.get(s).queue for _j, s, _r, _sc in waiting})
        for job, step, raw, score in waiting:
            head = oldest[registry.get(step).queue]
            if head is not None and head <= score:
                done["in_queue"] += 1  # its message may still be waiting behind others
                continue
            done["republished"] += self._republish(job, step, raw, score)
        return done

    def _republish(self, job: dict, step: str, raw: Any, score: float) -> int:
        from mmservice.jobs.dispatch import step_task

        if not int(self._claim(keys=[self.deps.store.keys.queued_steps()],
                               args=[raw, repr(score), time.time()])):
            return 0  # another sweeper took it, or the step started meanwhile
        name, args, task_id, queue = step_task(job, step)
        self.deps.send_task(name, args, task_id=task_id, queue=queue)
        log.warning("step re-published: its message left the queue but the step never started",
                    extra={"job_id": job["id"], "step": step, "sweeper": self.me})
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
    """The `tenant/job/step` a step task's message carries (None for any other message)."""
    try:
        doc = json.loads(raw)
        args = json.loads(base64.b64decode(doc["body"]))[0]
    except (ValueError, KeyError, TypeError, IndexError):
        return None
    if isinstance(args, list) and len(args) == 3 and all(isinstance(a, str) for a in args):
        return member(*args)
    return None


def _parse(raw: bytes | str) -> tuple[str, str, str]:
    text = raw.decode() if isinstance(raw, bytes) else raw
    tenant, job_id, step = text.rsplit("/", 2)
    return tenant, job_id, step
