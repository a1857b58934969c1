"""Admitting a job, in one Redis round trip: which policy will judge it, the tenant's daily upload
bytes, and a place among the tenant's unfinished jobs.

Why one script: these were three round trips per submission (a policy pointer read, the upload
charge, the open-jobs reservation), each about 0.2 ms of the API's CPU on a request that costs
a few ms in all (`bench/intake.py`). One Lua call is also one atomic step, so the order of the
refusals is exact: a job naming an unknown policy charges nothing and reserves nothing; one over
the byte quota reserves nothing; one refused by the open-jobs quota has its bytes given back.
A refused job stores nothing.

A text job that could be answered from the result cache at intake (`cache.at_intake`) also has
its cache entries read here (KEYS 5..n, one MGET in the script): a miss costs no round trip.

The policy's own hash is found from the tenant's default pointer inside the script, so its key
is built there from the tenant's key prefix (every key here is in that one tenant's namespace).
"""
from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

import redis

from mmservice.keys import Keys
from mmservice.policies.model import BUILTIN

# KEYS: 1 the day's upload-bytes counter, 2 the open-jobs set, 3 the default-policy pointer,
#       4 the set of shadow-mode policies; with result-cache entries to read: 5 the set of
#       the tenant's list names, 6.. the entries
# ARGV: 1 bytes to charge, 2 byte limit (0: none), 3 counter TTL, 4 job id, 5 open-jobs limit
#       (0: none), 6 policy name ('' the default, '-' no policy wanted), 7 policy key prefix,
#       8 the builtin policy's name
# Reply: {status, policy name, latest version or '', shadow (0/1), number}; status 0 admitted,
#        1 over the byte quota (number: the bytes it would make), 2 open jobs full (number:
#        how many with it), 3 the policy is unknown, deleted or shadow-only; when admitted
#        with entries to read, three more: their values (false where there is none), the
#        shadow policies' names and the list names (what judging a hit at intake reads).
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
local open_limit = tonumber(ARGV[5])
if open_limit > 0 then
  redis.call('SADD', KEYS[2], ARGV[4])
  local n = redis.call('SCARD', KEYS[2])
  if n > open_limit then
    redis.call('SREM', KEYS[2], ARGV[4])
    if charged then redis.call('DECRBY', KEYS[1], nbytes) end
    return {2, name, latest, shadow, n}
  end
end
if #KEYS > 5 then
  return {0, name, latest, shadow, 0, redis.call('MGET', unpack(KEYS, 6, #KEYS)),
          redis.call('SMEMBERS', KEYS[4]), redis.call('SMEMBERS', KEYS[5])}
end
return {0, name, latest, shadow, 0}
"""

ADMITTED, OVER_BYTES, OPEN_FULL, NO_POLICY = 0, 1, 2, 3


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


class Admission:
    def __init__(self, r: redis.Redis, keys: Keys):
        self.keys = keys
        self._script = r.register_script(_LUA)

    def admit(self, tenant: str, job_id: str, *, nbytes: int, byte_limit: int,
              open_limit: int, policy: str | None, want_policy: bool,
              cache_keys: list[str] | tuple[str, ...] = ()) -> Verdict:
        """One attempt; the caller turns a refusal into its error (`intake`)."""
        now = time.time()
        day = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%d")
        k = self.keys
        name = "-" if not want_policy else (policy or "")
        more = [k.list_names(tenant), *cache_keys] if cache_keys else []
        status, got, latest, shadow, number, *cached = self._script(
            keys=[k.upload_bytes(tenant, day), k.open_jobs(tenant), k.policy_default(tenant),
                  k.policy_shadows(tenant), *more],
            args=[max(0, nbytes), max(0, byte_limit), 2 * 86400, job_id, max(0, open_limit),
                  name, k.policy(tenant, ""), BUILTIN])
        return Verdict(int(status), _text(got), int(latest or 0), bool(int(shadow)),
                       int(number), 86400 - int(now) % 86400,
                       *((tuple(cached[0]), tuple(sorted(map(_text, cached[1]))),
                          tuple(sorted(map(_text, cached[2])))) if cached else ()))


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v or "")
