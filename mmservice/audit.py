"""Audit events: a per-tenant, hash-chained Redis stream of who changed what.

Why a hash chain: an audit log is read when something went wrong, and the reader must be able to
trust that no entry was edited or removed afterwards. Each entry carries `prev` (the previous
entry's `hash`, 64 zeros for the first) and its own `hash` = SHA-256 of the entry's canonical
JSON (`{"event": ..., "prev": ...}`, sorted keys, no spaces); `verify` recomputes the chain, and
the head key (the last hash) catches a removed tail.

Why a compare-and-set script: SHA-256 is not available inside Redis's Lua, so the hash is
computed here from the head we read; the script appends only if the head is still that value
(else we re-read and retry after a short jittered pause). Two writers can never fork the chain,
and an append is one round trip when nobody else writes.

Event shape (issue 16 builds the full audit log on it): `type` (e.g. `policy.put`,
`policy.delete`, `key.created`), `actor` (a key id, `cli`, or `auth-disabled`), `ts` (ISO UTC,
set here), and whatever the type needs (`before`/`after` for changes).
"""
from __future__ import annotations

import hashlib
import json
import random
import time
from typing import Any

import redis

from mmservice.jobs.store import now_iso
from mmservice.keys import Keys

GENESIS = "0" * 64
MAX_TRIES = 200
BACKOFF_CAP_S = 0.05  # longest pause between two tries of a contended append

_APPEND = """
local head = redis.call('GET', KEYS[2]) or ARGV[3]
if head ~= ARGV[1] then return false end
local id = redis.call('XADD', KEYS[1], '*', 'event', ARGV[4], 'prev', ARGV[1], 'hash', ARGV[2])
redis.call('SET', KEYS[2], ARGV[2])
return id
"""


class ChainConflict(RuntimeError):
    """Other writers kept moving the head: the append was not made."""


def canonical(event_json: str, prev: str) -> str:
    return json.dumps({"event": json.loads(event_json), "prev": prev}, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=False)


def entry_hash(event_json: str, prev: str) -> str:
    return hashlib.sha256(canonical(event_json, prev).encode()).hexdigest()


_APPEND_MANY = """
local head = redis.call('GET', KEYS[2]) or ARGV[2]
if head ~= ARGV[1] then return false end
local n = (#ARGV - 2) / 2
for i = 0, n - 1 do
  redis.call('XADD', KEYS[1], '*', 'event', ARGV[3 + 2 * i],
             'prev', i == 0 and ARGV[1] or ARGV[2 + 2 * i], 'hash', ARGV[4 + 2 * i])
end
redis.call('SET', KEYS[2], ARGV[#ARGV])
return n
"""


_READ: Any = object()


def append_many(r: redis.Redis, keys: Keys, tenant: str, events: list[dict[str, Any]], *,
                head: Any = _READ) -> int:
    """Append `events` in order as consecutive chain entries in one script call (the hashes are
    chained here from the head read first): what a busy writer uses, so many entries cost two
    round trips and contend for the head once. Returns how many were appended.
    `head`: the head (bytes, or None for an empty chain) a caller read in its own round trip,
    having found nothing staged (`queue_head_read`): the first try uses it, one round trip
    fewer; a head that moved since is read again, as always."""
    if not events:
        return 0
    from mmservice.audit_staging import fold

    if head is _READ:
        fold(r, keys, tenant)  # what was staged before these goes first
    now = now_iso(time.time())
    bodies = [json.dumps({**e, "ts": e.get("ts") or now}, sort_keys=True,
                         separators=(",", ":"), ensure_ascii=False, default=str)
              for e in events]
    script = r.register_script(_APPEND_MANY)
    for attempt in range(MAX_TRIES):
        if attempt or head is _READ:
            head = r.get(keys.audit_head(tenant))
        prev = head.decode() if head else GENESIS
        args: list[str] = [prev, GENESIS]
        link = prev
        for body in bodies:
            link = entry_hash(body, link)
            args += [body, link]
        if script(keys=[keys.audit(tenant), keys.audit_head(tenant)], args=args):
            return len(bodies)
    raise ChainConflict(f"audit chain of {tenant!r}: head kept moving")


def queue_head_read(pipe: Any, keys: Keys, tenant: str) -> Any:
    """Queue, on a caller's pipeline, what `append_many(head=...)` needs; returns a function of
    that pipeline's replies (these two at their place) -> the head to pass, or `_READ` when
    events are staged (they must be folded first: `append_many` reads and folds itself)."""
    pipe.xlen(keys.audit_pending(tenant))
    pipe.get(keys.audit_head(tenant))
    return lambda staged, head: _READ if staged else head


def append(r: redis.Redis, keys: Keys, tenant: str, event: dict[str, Any]) -> str:
    """Append `event` (with `ts` added) to the tenant's chain; returns the stream entry id.
    Events staged before it (`audit_staging`) are chained first: the chain keeps their order."""
    from mmservice.audit_staging import fold

    fold(r, keys, tenant)
    body = {**event, "ts": event.get("ts") or now_iso(time.time())}
    event_json = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                            default=str)
    script = r.register_script(_APPEND)
    for attempt in range(MAX_TRIES):
        if attempt:
            # Many writers of one tenant (50 reviewers at once) kept losing the race without a
            # pause; a jittered, growing one lets each get through (found by bench/review.py).
            time.sleep(random.uniform(0, min(BACKOFF_CAP_S, 0.0005 * 2 ** min(attempt, 10))))
        head = r.get(keys.audit_head(tenant))
        prev = head.decode() if head else GENESIS  # type: ignore[union-attr]
        digest = entry_hash(event_json, prev)
        got = script(keys=[keys.audit(tenant), keys.audit_head(tenant)],
                     args=[prev, digest, GENESIS, event_json])
        if got:
            return got.decode() if isinstance(got, bytes) else str(got)
    raise ChainConflict(f"audit chain of {tenant!r}: head kept moving")


def _decode(fields: Any) -> dict[str, str]:
    return {(k.decode() if isinstance(k, bytes) else str(k)):
            (v.decode() if isinstance(v, bytes) else str(v)) for k, v in fields.items()}


def verify(r: redis.Redis, keys: Keys, tenant: str, batch: int = 500) -> tuple[bool, str | None]:
    """-> (True, None) when every entry's hash matches its content and links to the one before
    and the head names the last; else (False, id of the first bad entry, or `head`)."""
    from mmservice.audit_staging import fold

    fold(r, keys, tenant)  # staged events are part of the log
    prev, last = GENESIS, "-"
    start = "-"
    while True:
        page = r.xrange(keys.audit(tenant), min=start, max="+", count=batch)
        for raw_id, raw in page:  # type: ignore[union-attr]
            eid = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
            f = _decode(raw)
            try:
                ok = f.get("prev") == prev and entry_hash(f["event"], prev) == f.get("hash")
            except (KeyError, ValueError):
                ok = False
            if not ok:
                return False, eid
            prev, last = f["hash"], eid
        if len(page) < batch:  # type: ignore[arg-type]
            break
        start = "(" + last
    head = r.get(keys.audit_head(tenant))
    if (head.decode() if head else GENESIS) != prev:  # type: ignore[union-attr]
        return False, "head"
    return True, None


def about(event: dict[str, Any], item: str | None, job: str | None) -> bool:
    """Whether an event concerns a review item and/or a job (`item`, `job`, `jobs` fields)."""
    if item and event.get("item") != item:
        return False
    if job and event.get("job") != job and job not in (event.get("jobs") or []):
        return False
    return True


def read(r: redis.Redis, keys: Keys, tenant: str, *, since: str | None = None,
         types: tuple[str, ...] = (), limit: int = 100, item: str | None = None,
         job: str | None = None) -> list[dict[str, Any]]:
    """Entries oldest first after `since` (a stream id, or epoch milliseconds), filtered by
    type or type family (`policy` matches `policy.put`) and by the review item or job.
    The tenant's staged events (`audit_staging`) are chained first: the log as read has them."""
    from mmservice.audit_staging import fold

    fold(r, keys, tenant)
    out: list[dict[str, Any]] = []
    start = "-"
    if since:
        start = f"({since}" if "-" in since else str(int(since) + 1)
    while len(out) < limit:
        page = r.xrange(keys.audit(tenant), min=start, max="+", count=max(limit, 100))
        for raw_id, raw in page:  # type: ignore[union-attr]
            eid = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
            f = _decode(raw)
            event = json.loads(f["event"])
            t = str(event.get("type", ""))
            if (not types or any(t == x or t.startswith(x + ".") for x in types)) and \
                    about(event, item, job):
                out.append({"id": eid, "event": event, "prev": f["prev"], "hash": f["hash"]})
                if len(out) == limit:
                    break
            start = "(" + eid
        if len(page) < max(limit, 100):  # type: ignore[arg-type]
            break
    return out
