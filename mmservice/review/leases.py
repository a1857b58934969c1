"""Leases: one reviewer holds an item for a while, proven by a token with a fencing number.

Why one Lua script for the claim: "find the best item nobody holds, that this reviewer has not
skipped, may see (appeals exclude the reviewer who made the decision) and is not over their
exposure cap for, and take it" must be one step, or two reviewers polling at once get the same
item. Redis runs a script alone, so 50 concurrent claimers get 50 different items. The lease is a
key with a TTL (`lease:<id>` = `token|reviewer`): when it expires the item is simply claimable
again. The token starts with a fencing number (a per-tenant counter), so every lease ever handed
out is distinct and ordered; a decision must present the current one.

`leased` remembers the token of every lease not ended by a release or decision: a claim that
finds one there knows the previous lease expired, and counts it (`lease_expiries`).

The script builds key names from the tenant's review prefix (passed as an argument), which is
fine on one Redis (and Sentinel); a Redis Cluster would need the tenant's keys in one hash slot.
"""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from mmservice.review.priority import HIGH

SCAN_MAX = 2000  # items one claim may look at before it answers "nothing for you"
HOUR_MS = 3_600_000

_CLAIM = """
local base, q, reviewer = ARGV[1], ARGV[2], ARGV[3]
local lease_ms, now_ms, cap = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local rand, scan_max, high_level = ARGV[7], tonumber(ARGV[8]), tonumber(ARGV[9])
local expo = base .. ':exposure:' .. reviewer
redis.call('ZREMRANGEBYSCORE', expo, '-inf', now_ms - 3600000)
local high = redis.call('ZCARD', expo)
local capped = cap > 0 and high >= cap
local skip = base .. ':skip:' .. reviewer
local start = 0
while start < scan_max do
  local ids = redis.call('ZREVRANGE', base .. ':q:' .. q, start, start + 99)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    local lk = base .. ':lease:' .. id
    if redis.call('EXISTS', lk) == 0 and redis.call('SISMEMBER', skip, id) == 0
        and redis.call('HGET', base .. ':exclude', id) ~= reviewer then
      local sev = tonumber(redis.call('HGET', base .. ':sev', id) or '0') or 0
      if not (capped and sev >= high_level) then
        local fence = redis.call('INCR', base .. ':fence')
        local token = fence .. '.' .. rand
        redis.call('SET', lk, token .. '|' .. reviewer, 'PX', lease_ms)
        local expired = 0
        if redis.call('HEXISTS', base .. ':leased', id) == 1 then
          expired = 1
          redis.call('HINCRBY', base .. ':stats', 'lease_expiries', 1)
        end
        redis.call('HSET', base .. ':leased', id, token)
        if sev >= high_level then
          redis.call('ZADD', expo, now_ms, id .. ':' .. fence)
          redis.call('PEXPIRE', expo, 3600000)
          high = high + 1
        end
        return {id, token, fence, high, capped and 1 or 0, expired}
      end
    end
  end
  start = start + 100
end
return {'', '', 0, high, capped and 1 or 0, 0}
"""

# ARGV: base, item id, token, mode (renew|release|consume), lease_ms, queue
_HOLDER = """
local base, id, token, mode = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local lk = base .. ':lease:' .. id
local v = redis.call('GET', lk)
if token ~= '' then
  if not v or string.sub(v, 1, #token + 1) ~= token .. '|' then return 0 end
end
if mode == 'renew' then
  redis.call('PEXPIRE', lk, tonumber(ARGV[5]))
  return 1
end
redis.call('DEL', lk)
redis.call('HDEL', base .. ':leased', id)
if mode == 'consume' then
  redis.call('ZREM', base .. ':q:' .. ARGV[6], id)
  redis.call('ZREM', base .. ':qage:' .. ARGV[6], id)
end
return 1
"""


@dataclass(frozen=True)
class Claim:
    item_id: str | None
    token: str
    fence: int
    high_last_hour: int
    capped: bool
    previous_expired: bool


def claim(ctx: Any, queue: str, reviewer: str) -> Claim:
    lease_ms = int(ctx.cfg["REVIEW_LEASE_S"]) * 1000
    cap = int(ctx.cfg["REVIEW_EXPOSURE_HIGH_PER_HOUR"])
    got = ctx.r.register_script(_CLAIM)(keys=[], args=[
        ctx.k(), queue, reviewer, lease_ms, int(time.time() * 1000), cap,
        secrets.token_urlsafe(18), SCAN_MAX, HIGH])
    item_id = got[0].decode() if isinstance(got[0], bytes) else str(got[0] or "")
    token = got[1].decode() if isinstance(got[1], bytes) else str(got[1] or "")
    return Claim(item_id or None, token, int(got[2]), int(got[3]), bool(got[4]), bool(got[5]))


def _holder(ctx: Any, item_id: str, token: str, mode: str, queue: str = "") -> bool:
    lease_ms = int(ctx.cfg["REVIEW_LEASE_S"]) * 1000
    return bool(ctx.r.register_script(_HOLDER)(keys=[], args=[
        ctx.k(), item_id, token, mode, lease_ms, queue]))


def renew(ctx: Any, item_id: str, token: str) -> bool:
    return bool(token) and _holder(ctx, item_id, token, "renew")


def release(ctx: Any, item_id: str, token: str | None) -> bool:
    """End a lease: the holder's token, or None (an admin: whoever holds it)."""
    return _holder(ctx, item_id, token or "", "release")


def consume(ctx: Any, item_id: str, token: str, queue: str) -> bool:
    """The decision's step: the lease must be `token`'s; it ends and the item leaves `queue`."""
    return bool(token) and _holder(ctx, item_id, token, "consume", queue)


def consume_any(ctx: Any, item_id: str, queue: str) -> None:
    """An admin's bulk decision: whatever lease there is ends."""
    _holder(ctx, item_id, "", "consume", queue)


def current(ctx: Any, item_id: str) -> dict | None:
    """The live lease of an item: {token, reviewer, expires_in_s} or None."""
    pipe = ctx.r.pipeline(transaction=False)
    pipe.get(ctx.k("lease", item_id))
    pipe.pttl(ctx.k("lease", item_id))
    raw, ttl = pipe.execute()
    if not raw:
        return None
    token, _, reviewer = raw.decode().partition("|")
    return {"token": token, "reviewer": reviewer, "expires_in_s": max(0, ttl) / 1000}


def skip(ctx: Any, item_id: str, reviewer: str) -> None:
    key = ctx.k("skip", reviewer)
    pipe = ctx.r.pipeline(transaction=False)
    pipe.sadd(key, item_id)
    pipe.expire(key, int(ctx.cfg["REVIEW_ITEM_TTL_S"]))
    pipe.execute()
