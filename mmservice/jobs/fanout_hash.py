"""The Redis hash of one fanned-out step (`mmservice.jobs.fanout`): its parts, their results,
and whether the split has ended, written so that a split streaming its parts and the parts
finishing meanwhile agree on who stitches, whatever the order.

Fields (a part's `id` is a string the split chooses, stable across re-runs of the split: the
chunk number, `frame-12`, ...):
- `_part:<id>` the part (JSON), recorded once; `_found:<kind>` how many of a kind were recorded;
- `_sent:<id>` its message was published (a re-run of a split that died sends only the others);
- `_final` the number of parts, written once the split has ended, with `_meta` (what `stitch`
  needs besides the parts); until then nobody stitches, and progress shows no total;
  `_split_started` and `_split_ended` are the split's times (epoch seconds, for benches);
- `_sent` every part published and the split over: a copy of the split's message does nothing;
- `<id>` a part's result (`{"ok": ...}` or `{"error": ...}`), written once; `_done:<kind>` and
  `_done` count them;
- `_run:<id>` the lease of the execution running the part (with its start time and whether the
  split was still running then).

Why Lua for the three writes that count: a part recorded and its kind counted, a result and the
count of results, the split's end and the count of parts are each one atomic step. The last of
"last result" and "split ended" to run sees both, so exactly the right moment is seen at least
once (the stitch lock makes it once); a crash between two commands could otherwise leave a
count one short and a job that never stitches.
"""
from __future__ import annotations

import json
import re
import time
from typing import Any

_RECORD = """
local unsent = {}
for i = 2, #ARGV, 3 do
  if redis.call('HSETNX', KEYS[1], '_part:' .. ARGV[i], ARGV[i + 1]) == 1 then
    redis.call('HINCRBY', KEYS[1], '_found:' .. ARGV[i + 2], 1)
  end
  if redis.call('HEXISTS', KEYS[1], '_sent:' .. ARGV[i]) == 0 then
    unsent[#unsent + 1] = ARGV[i]
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return unsent
"""

_RESULT = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('HINCRBY', KEYS[1], '_done:' .. ARGV[3], 1)
  redis.call('HINCRBY', KEYS[1], '_done', 1)
end
return redis.call('HMGET', KEYS[1], '_final', '_done')
"""

_FINISH = """
local n = 0
for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(f, 1, 6) == '_part:' then n = n + 1 end
end
redis.call('HSET', KEYS[1], '_meta', ARGV[1], '_final', n, '_split_started', ARGV[2],
           '_split_ended', ARGV[3])
return redis.call('HMGET', KEYS[1], '_final', '_done')
"""


def record_parts(r: Any, key: str, parts: dict[str, dict], ttl_s: int) -> list[str]:
    """Record `parts` (a part already recorded keeps its first version); the ids among them
    whose message was never sent."""
    args: list[Any] = [ttl_s]
    for pid, part in parts.items():
        args += [pid, json.dumps(part), part.get("kind", "part")]
    got = r.register_script(_RECORD)(keys=[key], args=args)
    return [g.decode() if isinstance(g, bytes) else g for g in got]


def record_result(r: Any, key: str, pid: str, kind: str, value: dict) -> bool:
    """Record a part's result (the first one wins); whether every part is now done."""
    final, done = r.register_script(_RESULT)(keys=[key], args=[pid, json.dumps(value), kind])
    return _all_done(final, done)


def finish(r: Any, key: str, meta: dict, started: float) -> bool:
    """The split (begun at `started`) has ended: the part count is now final; whether every
    part is already done."""
    final, done = r.register_script(_FINISH)(keys=[key], args=[json.dumps(meta), started,
                                                                time.time()])
    return _all_done(final, done)


def all_done(r: Any, key: str) -> bool:
    return _all_done(*r.hmget(key, "_final", "_done"))


def _all_done(final: Any, done: Any) -> bool:
    return final is not None and int(done or 0) >= int(final)


def unsent(r: Any, key: str) -> list[str]:
    """Ids of recorded parts whose message was never sent (a split that died in between)."""
    names = {k.decode() for k in r.hkeys(key)}
    return [n[6:] for n in names if n.startswith("_part:") and f"_sent:{n[6:]}" not in names]


def mark_sent(r: Any, key: str, pid: str, waiting: tuple[str, str] | None = None) -> None:
    """The part's message was published; `waiting`: (index, member) of the waiting work it
    enters in the same transaction (`jobs.lost_messages`)."""
    with r.pipeline(transaction=waiting is not None) as p:
        p.hset(key, f"_sent:{pid}", 1)
        if waiting is not None:
            p.zadd(waiting[0], {waiting[1]: time.time()})
        p.execute()


def lease(r: Any, key: str, pid: str, holder: str, waiting: tuple[str, str] | None = None
          ) -> bool:
    """Take part `pid`'s lease if nobody holds it (whether it was taken); `waiting`: (index,
    member) the part leaves in the same transaction, as its message has arrived."""
    if waiting is None:
        return bool(r.hsetnx(key, f"_run:{pid}", holder))
    with r.pipeline(transaction=True) as p:
        p.hsetnx(key, f"_run:{pid}", holder)
        p.zrem(*waiting)
        return bool(p.execute()[0])


def part(r: Any, key: str, pid: str) -> dict | None:
    raw = r.hget(key, f"_part:{pid}")
    return None if raw is None else json.loads(raw)


def load(r: Any, key: str) -> tuple[list[str], dict, dict[str, dict]]:
    """Everything a stitch reads, in one HGETALL: the part ids in order, the plan
    (`{"parts": [...], "meta": {...}}`, parts in that order) and the results by id."""
    raw = {k.decode(): v for k, v in r.hgetall(key).items()}
    parts = {k[6:]: json.loads(v) for k, v in raw.items() if k.startswith("_part:")}
    ids = sorted(parts, key=order)
    plan = {"parts": [parts[i] for i in ids], "meta": json.loads(raw.get("_meta") or "{}")}
    return ids, plan, {i: json.loads(raw[i]) for i in ids if i in raw}


def order(pid: str) -> tuple[str, int]:
    """Ids in their natural order: `2` before `10`, `frame-2` before `frame-10`."""
    m = re.match(r"(.*?)(\d+)$", pid)
    return (m.group(1), int(m.group(2))) if m else (pid, -1)


def progress(r: Any, key: str, kinds: tuple[str, ...]) -> dict[str, int] | None:
    """`<kind>_done` and `<kind>_found` per kind, and `<kind>_total` once the split has ended
    (before, nobody knows it: a streaming split is still finding parts); None before any part
    is recorded. One HMGET."""
    fields = ["_final"] + [f"_{w}:{k}" for k in kinds for w in ("done", "found")]
    got = r.hmget(key, fields)
    if all(v is None for v in got):
        return None
    out: dict[str, int] = {}
    for i, k in enumerate(kinds):
        done, found = int(got[1 + 2 * i] or 0), int(got[2 + 2 * i] or 0)
        out[f"{k}_done"], out[f"{k}_found"] = done, found
        if got[0] is not None:
            out[f"{k}_total"] = found
    return out
