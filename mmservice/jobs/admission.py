"""Admitting a job, in one Redis round trip: which policy will judge it, the tenant's daily upload
bytes, and a place among the tenant's unfinished jobs.

Why one script: these were three round trips per submission (a policy pointer read, the upload
charge, the open-jobs reservation), each about 0.2 ms of the API's CPU on a request that costs
a few ms in all (`bench/intake.py`). One Lua call is also one atomic step, so the order of the
refusals is exact: a job naming an unknown policy charges nothing and reserves nothing; one over
the byte quota reserves nothing; one refused by the open-jobs quota has its bytes given back.
A refused job stores nothing.

Intake passes the new job's writes along (`JobStore.creation`): an admitted job is created in the
same call, so a submission costs two round trips (the auth gate's and this), the reservation and
the record can never be seen apart, and no `WATCH` is needed (a submission with an
`Idempotency-Key` still claims the key in its own transaction, after admission).

A text job that could be answered from the result cache at intake (`cache.at_intake`) also has
its cache entries read here (KEYS 5..n, one MGET in the script): when they are all there the
job is not created here (the API judges it and stores it settled); a miss is created at once,
so it costs no round trip more.

The policy's own hash is found from the tenant's default pointer inside the script, so its key
is built there from the tenant's key prefix (every key here is in that one tenant's namespace).
"""
from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

import redis

from mmservice.jobs.store import Creation
from mmservice.keys import Keys
from mmservice.policies.model import BUILTIN
from mmservice.queued_commands import RUN_LUA, flatten

# KEYS: 1 the day's upload-bytes counter, 2 the open-jobs set, 3 the default-policy pointer,
#       4 the set of shadow-mode policies; with result-cache entries to read: 5 the set of
#       the tenant's list names, 6.. the entries
# ARGV: 1 bytes to charge, 2 byte limit (0: none), 3 counter TTL, 4 job id, 5 open-jobs limit
#       (0: none), 6 policy name ('' the default, '-' no policy wanted), 7 policy key prefix,
#       8 the builtin policy's name
#       9 a new job's record key ('': admit only), 10 its JSON (the policy that judges it is
#       added here as `_policy`), 11 its TTL, 12... the commands committed with it, each as its
#       argument count then its arguments (`JobStore.creation`)
# Reply: {status, policy name, latest version or '', shadow (0/1), number}; status 0 admitted
#        (and the job created, unless every cache entry asked for was found), 1 over the byte
#        quota (number: the bytes it would make), 2 open jobs full (number: how many with it),
#        3 the policy is unknown, deleted or shadow-only, 4 a record with that key exists
#        (nothing charged or reserved). Admitted with entries to read and all of them found (or
#        no job to create), three more: their values (false where there is none), the shadow
#        policies' names and the list names (what judging a hit at intake reads).
_LUA = """
local name, latest, shadow = ARGV[6], '', 0
if name ~= '-' then
  if name == '' then name = redis.call('GET', KEYS[3]) or '' end
  if name ~= '' and name ~= ARGV[8] then
    local h = redis.call('HMGET', ARGV[7] .. name, 'latest', 'deleted_at')
    latest = h[1] or ''
    shadow = redis.call('SISMEMBER', KEYS[4], name)
    if latest == '' or h[2] or shadow == 1 then return {3, name, latest, shadow, 0} end
  end
end
local nbytes, byte_limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local charged = byte_limit > 0 and nbytes > 0
if charged then
  local used = redis.call('INCRBY', KEYS[1], nbytes)
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  if used > byte_limit then
    redis.call('DECRBY', KEYS[1], nbytes)
    return {1, name, latest, shadow, used}
  end
end
local open_limit, added = tonumber(ARGV[5]), 0
if open_limit > 0 then
  added = redis.call('SADD', KEYS[2], ARGV[4])
  local n = redis.call('SCARD', KEYS[2])
  if n > open_limit then
    if added == 1 then redis.call('SREM', KEYS[2], ARGV[4]) end
    if charged then redis.call('DECRBY', KEYS[1], nbytes) end
    return {2, name, latest, shadow, n}
  end
end
if #KEYS > 5 then
  local vals, all = redis.call('MGET', unpack(KEYS, 6, #KEYS)), true
  for _, v in ipairs(vals) do if not v then all = false end end
  if all or ARGV[9] == '' then
    return {0, name, latest, shadow, 0, vals, redis.call('SMEMBERS', KEYS[4]),
            redis.call('SMEMBERS', KEYS[5])}
  end
end
if ARGV[9] ~= '' then
  local record = ARGV[10]
  if ARGV[6] ~= '-' then
    local pname, pversion = name, tonumber(latest)
    if name == '' or name == ARGV[8] then pname, pversion = ARGV[8], 0 end
    record = string.sub(record, 1, -2) .. ',"_policy":'
      .. cjson.encode({name = pname, version = pversion}) .. '}'
  end
  if not redis.call('SET', ARGV[9], record, 'EX', ARGV[11], 'NX') then
    if added == 1 then redis.call('SREM', KEYS[2], ARGV[4]) end
    if charged then redis.call('DECRBY', KEYS[1], nbytes) end
    return {4, name, latest, shadow, 0}
  end
  local first = 12
""" + RUN_LUA + """
end
return {0, name, latest, shadow, 0}
"""

ADMITTED, OVER_BYTES, OPEN_FULL, NO_POLICY, EXISTS = 0, 1, 2, 3, 4


@dataclass(frozen=True)
class Verdict:
    status: int
    policy: str  # '' when the tenant has no default (the builtin policy judges)
    latest: int  # the policy's latest version (0: builtin or none)
    shadow: bool
    number: int  # bytes used (OVER_BYTES) or open jobs (OPEN_FULL)
    day_ends_in_s: int
    cached: tuple = ()  # the values of the `cache_keys` asked for (None: none), when admitted
    shadow_names: tuple = ()  # ... and then the tenant's shadow policies
    list_names: tuple = ()  # ... and its lists
    created: bool = False  # the job was created by this call (`creation` given, no hit)


class Admission:
    def __init__(self, r: redis.Redis, keys: Keys):
        self.keys = keys
        self._script = r.register_script(_LUA)

    def admit(self, tenant: str, job_id: str, *, nbytes: int, byte_limit: int,
              open_limit: int, policy: str | None, want_policy: bool,
              creation: Creation | None = None,
              cache_keys: list[str] | tuple[str, ...] = ()) -> Verdict:
        """One attempt; the caller turns a refusal into its error (`intake`). With `creation`
        an admitted job is also created in the same call, so a submission makes two round
        trips in all (the auth gate's and this one), unless `cache_keys` (a text job's result
        cache entries) are all found: then nothing is created and their values come back
        (`Verdict.cached`), for the API to judge the job and store it settled."""
        now = time.time()
        day = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%d")
        k = self.keys
        name = "-" if not want_policy else (policy or "")
        more = [k.list_names(tenant), *cache_keys] if cache_keys else []
        status, got, latest, shadow, number, *cached = self._script(
            keys=[k.upload_bytes(tenant, day), k.open_jobs(tenant), k.policy_default(tenant),
                  k.policy_shadows(tenant), *more],
            args=[max(0, nbytes), max(0, byte_limit), 2 * 86400, job_id, max(0, open_limit),
                  name, k.policy(tenant, ""), BUILTIN, *_creation_args(creation)])
        read: dict[str, tuple] = {}
        if cached:
            read = {"cached": tuple(cached[0]),
                    "shadow_names": tuple(sorted(map(_text, cached[1]))),
                    "list_names": tuple(sorted(map(_text, cached[2])))}
        return Verdict(int(status), _text(got), int(latest or 0), bool(int(shadow)),
                       int(number), 86400 - int(now) % 86400, **read,
                       created=creation is not None and int(status) == ADMITTED and not cached)


def _creation_args(c: Creation | None) -> list:
    if c is None:
        return [""]
    return [c.key, c.record, c.ttl_s, *flatten(c.commands)]


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v or "")
