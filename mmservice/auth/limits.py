"""Rate limits and quotas, counted in the service's Redis so every API process shares them.

- Requests per key: a fixed-window counter in `limits`' Redis storage (the one flask-limiter
  uses) on the service's own connection pool, so two API processes count one window. The
  window is aligned to the clock (its index is part of the counter's name), so one atomic
  INCR-with-expiry is the whole cost: the reset time needs no second call.
- Bytes uploaded per tenant per UTC day: one counter per day, charged (whole request body) when
  a job is admitted, after it passed validation (`mmservice.jobs.admission`, one Lua call with
  the open-jobs reservation and the policy lookup); a request refused for any reason is not
  counted. A body's size is already bounded (the larger of `MMS_MAX_AUDIO_BYTES` and
  `MMS_MAX_IMAGE_BYTES`, plus 1 MiB) and so is the request rate, so what a refused body costs
  to read is bounded too.
- Unfinished jobs per tenant: a set of open job ids. An id is reserved before anything is stored
  (a refused job stores nothing), written again with the record, and removed in the transaction
  that settles the job (`JobStore.queue_settled`) or deletes it. Why a set and not a counter: a
  counter leaks when a process dies between increment and decrement; a set is checked against
  the records when it refuses (`prune`), so a stale id costs one refusal at most.

Over a limit: 429 with `Retry-After` and `RateLimit-Limit`, `RateLimit-Remaining`,
`RateLimit-Reset` (seconds until the window resets).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import redis
from limits import RateLimitItem, parse
from limits.storage import RedisStorage

from mmservice.errors import Invalid, TooManyRequests
from mmservice.keys import Keys

# A just-reserved id has no record yet: pruning leaves ids younger than this alone.
_PRUNE_AFTER_S = 30.0
@dataclass(frozen=True)
class Window:
    limit: int
    remaining: int
    reset_s: int

    def headers(self) -> dict[str, str]:
        return {"RateLimit-Limit": str(self.limit), "RateLimit-Remaining": str(self.remaining),
                "RateLimit-Reset": str(self.reset_s)}


def parse_rate(text: str) -> RateLimitItem | None:
    """`600/minute` (any `limits` notation); empty, `0` or `none`: no limit."""
    if str(text or "").strip().lower() in ("", "0", "none", "off"):
        return None
    try:
        return parse(str(text))
    except ValueError:
        raise Invalid(f"not a rate like 600/minute: {text!r}", code="invalid_setting",
                      field="MMS_RATE_LIMIT") from None


class Limits:
    def __init__(self, r: redis.Redis, keys: Keys, redis_url: str):
        self.r, self.keys = r, keys
        self.storage = RedisStorage(redis_url, connection_pool=r.connection_pool,
                                    key_prefix=keys.rate_limits())
        self._items: dict[str, RateLimitItem | None] = {}

    def _item(self, rate: str) -> RateLimitItem | None:
        if rate not in self._items:
            self._items[rate] = parse_rate(rate)
        return self._items[rate]

    def counter(self, key_id: str, rate: str, now: float) -> tuple[str, int] | None:
        """(Redis key, expiry) of `key_id`'s request counter for the window holding `now`
        (None: no limit), for a caller that counts in its own round trip (the gate)."""
        item = self._item(rate)
        if item is None:
            return None
        span = item.get_expiry()
        return self.storage.prefixed_key(item.key_for("key", key_id, str(int(now // span)))), span

    def hit(self, key_id: str, rate: str, *, counted: int | None = None,
            at: float | None = None) -> Window | None:
        """Count one request of `key_id` (or take `counted`, the count the gate already made
        at `at`); raises 429 `rate_limited` past `rate`."""
        item = self._item(rate)
        if item is None:
            return None
        now, span = (time.time() if at is None else at), item.get_expiry()
        index = int(now // span)
        count = counted if counted is not None else self.storage.incr(
            item.key_for("key", key_id, str(index)), span)
        window = Window(item.amount, max(0, item.amount - count),
                        max(1, int((index + 1) * span - now + 0.999)))
        if count > item.amount:
            raise TooManyRequests(f"over this key's request rate ({item}); retry after "
                                  "Retry-After seconds", code="rate_limited",
                                  retry_after=window.reset_s, headers=window.headers())
        return window

    def bytes_refusal(self, nbytes: int, limit: int, used: int, reset_s: int) -> TooManyRequests:
        """429 for an upload that would pass the tenant's daily byte quota (counted by
        `mmservice.jobs.admission`, which gave the bytes back)."""
        window = Window(limit, max(0, limit - (used - nbytes)), reset_s)
        return TooManyRequests(f"this upload ({nbytes} bytes) would pass the tenant's daily "
                               f"upload quota of {limit} bytes (MMS_MAX_UPLOAD_BYTES_PER_DAY)",
                               code="quota_exceeded", retry_after=reset_s,
                               headers=window.headers())

    @staticmethod
    def open_refusal(limit: int) -> TooManyRequests:
        return TooManyRequests(f"this tenant has {limit} unfinished jobs, its limit "
                               "(MMS_MAX_OPEN_JOBS): retry when some have finished",
                               code="quota_exceeded", retry_after=5,
                               headers=Window(limit, 0, 5).headers())

    def release_open(self, tenant: str, job_id: str) -> None:
        self.r.srem(self.keys.open_jobs(tenant), job_id)

    def open_count(self, tenant: str) -> int:
        return int(self.r.scard(self.keys.open_jobs(tenant)))

    def prune(self, tenant: str, store: Any) -> int:
        """Drop ids whose record is gone or settled (older than a reservation in flight)."""
        key = self.keys.open_jobs(tenant)
        ids = [i.decode() for i in self.r.smembers(key)]  # type: ignore[union-attr]
        now_ms = time.time() * 1000
        old = [i for i in ids if _age_ms(i, now_ms) > _PRUNE_AFTER_S * 1000]
        stale = [i for i, job in zip(old, store.get_many(tenant, old))
                 if job is None or job.get("status") in ("succeeded", "failed", "canceled")]
        if stale:
            self.r.srem(key, *stale)
        return len(stale)


def _age_ms(job_id: str, now_ms: float) -> float:
    """Job ids start with their creation time in ms (`new_job_id`)."""
    try:
        return now_ms - int(job_id[4:16], 16)
    except ValueError:
        return now_ms
