"""Audit events staged in one write and chained later, in batches: what the pipeline uses for
the entry every verdict gets (`moderation.verdict`).

Why: `audit.append` reads the chain's head and swaps it (two round trips, and a retry whenever
another writer of the tenant got in between), on every moderation job of every worker; with
many workers the verdicts of one tenant queued behind each other for the head. Staging is one
`XADD` to the tenant's pending stream, queued into a pipeline the caller sends anyway, so a
verdict costs no round trip of its own and never contends.

Nothing is lost and nothing doubles: the pending stream is in Redis (a worker killed after
staging loses nothing), and `fold` moves a batch into the chain with one script that checks the
head, appends the entries, swaps the head and deletes exactly those pending entries, atomically.
Readers of the log (`audit.read`, `audit.verify`) fold the tenant's pending entries first, so
the log as read always holds every staged event, and so do writers (`audit.append` folds
first), so the chain keeps the order in which events happened; each worker also folds every
tenant on its heartbeat, so the backlog stays small when nobody reads or writes.
"""
from __future__ import annotations

import json
import time
from typing import Any

import redis

from mmservice import audit
from mmservice.jobs.store import now_iso
from mmservice.keys import Keys

BATCH = 500

# KEYS: 1 the chain, 2 its head, 3 the pending stream, 4 the set of tenants with pending events
# ARGV: 1 the head this batch was chained from, 2 GENESIS, 3 the tenant, then per entry: its
#       pending id, its event JSON, its hash
_FOLD = """
local head = redis.call('GET', KEYS[2]) or ARGV[2]
if head ~= ARGV[1] then return false end
local prev, n = ARGV[1], (#ARGV - 3) / 3
for i = 0, n - 1 do  -- every entry still pending, before anything is written
  local pid = ARGV[4 + 3 * i]
  if #redis.call('XRANGE', KEYS[3], pid, pid) == 0 then return -1 end
end
for i = 0, n - 1 do
  redis.call('XDEL', KEYS[3], ARGV[4 + 3 * i])
  redis.call('XADD', KEYS[1], '*', 'event', ARGV[5 + 3 * i], 'prev', prev, 'hash', ARGV[6 + 3 * i])
  prev = ARGV[6 + 3 * i]
end
redis.call('SET', KEYS[2], prev)
if redis.call('XLEN', KEYS[3]) == 0 then redis.call('SREM', KEYS[4], ARGV[3]) end
return n
"""


def stage(pipe: Any, keys: Keys, tenant: str, event: dict[str, Any]) -> None:
    """Queue `event` (with `ts` set now) into `pipe`: chained by the next `fold`."""
    body = json.dumps({**event, "ts": event.get("ts") or now_iso(time.time())}, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=False, default=str)
    pipe.xadd(keys.audit_pending(tenant), {"event": body})
    pipe.sadd(keys.audit_pending_tenants(), tenant)


def fold(r: redis.Redis, keys: Keys, tenant: str) -> int:
    """Chain every pending event of `tenant`, oldest first, a batch per script call.
    Returns how many this call chained (another folder may chain some first: that is fine)."""
    script = r.register_script(_FOLD)
    done = failures = 0
    while failures < audit.MAX_TRIES:
        pending = r.xrange(keys.audit_pending(tenant), min="-", max="+", count=BATCH)
        if not pending:
            return done
        head = r.get(keys.audit_head(tenant))
        prev = head.decode() if head else audit.GENESIS  # type: ignore[union-attr]
        args: list[str] = [prev, audit.GENESIS, tenant]
        link = prev
        for raw_id, fields in pending:
            event = (fields or {}).get(b"event") or (fields or {}).get("event")
            body = event.decode() if isinstance(event, bytes) else str(event)
            link = audit.entry_hash(body, link)
            args += [raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id), body, link]
        n = script(keys=[keys.audit(tenant), keys.audit_head(tenant),
                         keys.audit_pending(tenant), keys.audit_pending_tenants()], args=args)
        if n and int(n) > 0:
            done += int(n)
        else:  # false: the head moved; -1: another folder took some. Read again.
            failures += 1
    raise audit.ChainConflict(f"audit chain of {tenant!r}: head kept moving")


def fold_all(r: redis.Redis, keys: Keys) -> int:
    """Fold every tenant with pending events (a worker's heartbeat)."""
    total = 0
    for raw in r.smembers(keys.audit_pending_tenants()):
        total += fold(r, keys, raw.decode() if isinstance(raw, bytes) else str(raw))
    return total
