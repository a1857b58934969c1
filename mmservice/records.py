"""JSON records in Redis: create, read, compare-and-set update, leases. One way for every store.

Why one layer: jobs, webhook deliveries and (next) review items are all "a JSON value that
several processes change concurrently". Each update is optimistic (WATCH the key, read, let the
caller change the value, write it back in MULTI/EXEC; on a concurrent write run again on the
fresh value), keeps the TTL set at creation, and lets the caller queue more commands into the
same transaction (counters, index entries, a task message, reads of other keys), which commit
exactly when the record does. A lease is a field of the record (`_lease`), taken and released by
updates, so "who holds this item" and the item's state can never disagree.
"""
from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from mmservice import jsonwire
from mmservice.queued_commands import RUN_LUA, flatten, recorded

# `in_same_transaction(pipe, record, fn_result)`: queue more commands into the record's MULTI.
SameTransaction = Callable[[Any, dict, Any], None]


class RecordMissing(Exception):
    """Raised by `RedisRecords` when a key holds no record; stores map it to their NotFound."""


# KEYS: 1 the record. ARGV: 1 its value as read, 2 the new value, 3... the commands committed
# with it (`queued_commands`). Reply: 1 written, 0 the value had changed (nothing written).
_CAS_LUA = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
local first = 3
""" + RUN_LUA + """
return 1
"""


# ARGV: the commands (`queued_commands`), the first a `SET ... NX` of the new record.
# Reply: {0} when the record existed (nothing else run), else {1, each later command's reply}.
_CREATE_LUA = """
local n = tonumber(ARGV[1])
if not redis.call(unpack(ARGV, 2, 1 + n)) then return {0} end
local first = n + 2
""" + RUN_LUA + """
table.insert(replies, 1, 1)
return replies
"""


class RedisRecords:
    def __init__(self, r: redis.Redis):
        self.r = r
        self._cas: Any = None
        self._create: Any = None

    def create(self, key: str, record: dict, ttl_s: int | None,
               in_same_transaction: Callable[[Any], None] | None = None) -> list:
        """Write a new record (never over an existing one) and, in the same atomic step,
        whatever `in_same_transaction(pipe)` queues (run only when the record is new). Returns
        [created?, the raw replies of the queued commands] (a read queued there reads
        atomically with the write; no pipeline reply callbacks are applied).

        Why a script and not MULTI/EXEC: one reply instead of one `QUEUED` per command plus
        the EXEC array; a settled job's creation (`cache.at_intake`) queues about sixteen."""
        if self._create is None:
            self._create = self.r.register_script(_CREATE_LUA)

        def queue(pipe: Any) -> None:
            pipe.set(key, jsonwire.dumps(record), ex=ttl_s, nx=True)
            if in_same_transaction is not None:
                in_same_transaction(pipe)
        created, *rest = self._create(keys=[key], args=flatten(recorded(self.r, queue)))
        return [bool(created), *rest]

    def get(self, key: str) -> dict:
        raw = self.r.get(key)
        if raw is None:
            raise RecordMissing(key)
        return jsonwire.loads(raw)

    def get_many(self, keys: list[str]) -> list[dict | None]:
        if not keys:
            return []
        return [jsonwire.loads(x) if x else None for x in self.r.mget(keys)]

    def update(self, key: str, fn: Callable[[dict], Any], *,
               in_same_transaction: SameTransaction | None = None,
               results: bool = True) -> tuple[dict, Any, list]:
        """Apply `fn(record)` (mutating in place) atomically; the TTL is kept.

        `fn` may raise to abort without writing; under contention it runs again on the fresh
        value. Returns (record, fn's result, results of the commands `in_same_transaction`
        queued: a GET queued there reads its key atomically with the write).

        `results=False` (the caller reads nothing back from its queued commands): a
        compare-and-set script instead of WATCH/MULTI, two round trips instead of three;
        the third element is then empty."""
        if not results:
            return self._update_by_script(key, fn, in_same_transaction)
        while True:
            with self.r.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    if raw is None:
                        raise RecordMissing(key)
                    record = jsonwire.loads(raw)
                    result = fn(record)
                    pipe.multi()
                    pipe.set(key, jsonwire.dumps(record), keepttl=True)
                    if in_same_transaction is not None:
                        in_same_transaction(pipe, record, result)
                    _, *rest = pipe.execute()
                    return record, result, rest
                except redis.WatchError:
                    continue

    def _update_by_script(self, key: str, fn: Callable[[dict], Any],
                          in_same_transaction: SameTransaction | None
                          ) -> tuple[dict, Any, list]:
        if self._cas is None:
            self._cas = self.r.register_script(_CAS_LUA)
        while True:
            raw = self.r.get(key)
            if raw is None:
                raise RecordMissing(key)
            record = jsonwire.loads(raw)
            result = fn(record)
            commands: list[tuple] = []
            if in_same_transaction is not None:
                commands = recorded(self.r, in_same_transaction, record, result)
            if self._cas(keys=[key], args=[raw, jsonwire.dumps(record), *flatten(commands)]):
                return record, result, []
            # Another writer got in between: run `fn` again on what it wrote.

    def claim_or_create(self, claim_key: str, claim_value: dict, claim_ttl_s: int,
                        key: str, record: dict, ttl_s: int | None,
                        in_same_transaction: Callable[[Any], None] | None = None, *,
                        claimed_key: Callable[[dict], str] | None = None) -> dict | None:
        """Claim `claim_key` and create the record in one transaction, or return what an earlier
        claim stored (and write nothing). Whoever sees the earlier claim can read its record at
        once: both were committed together (an idempotent submission never waits).

        `claimed_key(prior)` names the record an earlier claim points at. When that record is
        gone (it expired or was deleted before the claim, or a claim was left by older code that
        wrote it alone), the claim is free: this call takes it over and creates its own record.
        Both keys are WATCHed, so a concurrent taker or a record appearing makes us look again."""
        while True:
            with self.r.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(claim_key)
                    raw = pipe.get(claim_key)
                    if raw is not None:
                        prior = jsonwire.loads(raw)
                        if claimed_key is None:
                            pipe.unwatch()
                            return prior
                        prior_key = claimed_key(prior)
                        pipe.watch(prior_key)
                        if pipe.exists(prior_key):
                            pipe.unwatch()
                            return prior
                    pipe.multi()
                    pipe.set(claim_key, jsonwire.dumps(claim_value), ex=claim_ttl_s)
                    pipe.set(key, jsonwire.dumps(record), ex=ttl_s, nx=True)
                    if in_same_transaction is not None:
                        in_same_transaction(pipe)
                    pipe.execute()
                    return None
                except redis.WatchError:
                    continue


# -- leases ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Lease:
    holder: str
    token: str
    until: float


def lease_of(record: dict, now: float) -> Lease | None:
    """The record's live lease, or None when it has none or it ran out."""
    raw = record.get("_lease")
    if not raw or raw["until"] <= now:
        return None
    return Lease(raw["holder"], raw["token"], raw["until"])


def take_lease(record: dict, holder: str, now: float, lease_s: float) -> Lease | None:
    """Inside an update: give `holder` the record for `lease_s` if nobody else holds it (a
    holder renews its own). None when someone else holds it. The token fences late writes: a
    holder whose lease ran out and was retaken cannot pass `holds()` with its old token."""
    current = lease_of(record, now)
    if current is not None and current.holder != holder:
        return None
    token = current.token if current is not None else secrets.token_urlsafe(12)
    lease = Lease(holder, token, now + lease_s)
    record["_lease"] = {"holder": holder, "token": token, "until": lease.until}
    return lease


def holds(record: dict, token: str, now: float) -> bool:
    current = lease_of(record, now)
    return current is not None and secrets.compare_digest(current.token, token)


def release_lease(record: dict) -> None:
    record.pop("_lease", None)
