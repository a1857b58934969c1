"""The record layer against a real Redis: compare-and-set under contention, the TTL kept,
commands committed with the record, the one-step claim-or-create, and leases with fencing."""
from __future__ import annotations

import threading
import uuid

import pytest
import redis

from mmservice.keys import Keys
from mmservice.records import (
    RecordMissing,
    RedisRecords,
    holds,
    lease_of,
    release_lease,
    take_lease,
)


@pytest.fixture()
def rec(redis_server):
    r = redis.Redis.from_url(redis_server.url)
    return RedisRecords(r), Keys(f"rt{uuid.uuid4().hex[:8]}")


def test_create_never_overwrites_and_commits_its_commands(rec):
    records, keys = rec
    key = keys.job("t1", "a")
    created, n = records.create(key, {"v": 1}, 60, lambda pipe: pipe.incr(keys.metrics("n")))
    assert created and n == 1
    refused = records.create(key, {"v": 2}, 60, lambda pipe: pipe.incr(keys.metrics("n")))
    assert refused == [False] and records.get(key) == {"v": 1}
    # the commands go with the record: none of them ran for the record that was not written
    assert int(records.r.get(keys.metrics("n"))) == 1
    with pytest.raises(RecordMissing):
        records.get(keys.job("t1", "nope"))


@pytest.mark.parametrize("results", [True, False], ids=["watch-multi", "cas-script"])
def test_concurrent_updates_lose_nothing_and_keep_the_ttl(rec, results):
    """Both ways of updating (`results=False`: the compare-and-set script, with the commands
    queued beside it replayed inside it) under 8 concurrent writers."""
    records, keys = rec
    key = keys.job("t1", f"counter-{results}")
    records.create(key, {"n": 0, "who": []}, 600)
    counter = keys.metrics(f"bumps-{results}")

    def bump(i: int) -> None:
        for _ in range(25):
            records.update(key, lambda r: (r.__setitem__("n", r["n"] + 1), r["who"].append(i)),
                           in_same_transaction=lambda p, r, res: p.incr(counter),
                           results=results)

    threads = [threading.Thread(target=bump, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = records.get(key)
    assert final["n"] == 200 and len(final["who"]) == 200
    assert int(records.r.get(counter)) == 200  # committed exactly with each write
    assert 0 < records.r.ttl(key) <= 600
    with pytest.raises(RecordMissing):
        records.update(keys.job("t1", "absent"), lambda r: None, results=results)


def test_an_aborted_update_writes_nothing_and_reads_in_the_same_transaction(rec):
    records, keys = rec
    key, other = keys.job("t1", "x"), keys.metrics("flag")
    records.create(key, {"state": "open"}, 60)
    records.r.set(other, "on")

    class Stop(Exception):
        pass

    def refuse(r: dict) -> None:
        r["state"] = "changed"
        raise Stop

    with pytest.raises(Stop):
        records.update(key, refuse)
    assert records.get(key) == {"state": "open"}
    saved, result, extra = records.update(key, lambda r: r.update(state="closed") or "ok",
                                          in_same_transaction=lambda p, r, res: p.get(other))
    assert saved["state"] == "closed" and result == "ok" and extra == [b"on"]


def test_claim_or_create_under_a_race_creates_once(rec):
    records, keys = rec
    claim, results = keys.idempotency("t1", "k"), []
    barrier = threading.Barrier(6)

    def attempt(i: int) -> None:
        barrier.wait()
        results.append(records.claim_or_create(claim, {"job_id": f"j{i}"}, 60,
                                               keys.job("t1", f"j{i}"), {"i": i}, 60))

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if r is None]
    assert len(winners) == 1
    owner = records.get(claim)["job_id"]
    assert all(r == {"job_id": owner} for r in results if r is not None)
    assert records.get(keys.job("t1", owner))  # the winner's record exists with its claim
    assert sum(records.r.exists(keys.job("t1", f"j{i}")) for i in range(6)) == 1


def test_leases_are_exclusive_renewable_and_fenced():
    item: dict = {}
    first = take_lease(item, "alice", now=100.0, lease_s=10)
    assert first is not None and lease_of(item, 105.0).holder == "alice"
    assert take_lease(item, "bob", now=105.0, lease_s=10) is None  # held by alice
    renewed = take_lease(item, "alice", now=108.0, lease_s=10)
    assert renewed.token == first.token and renewed.until == 118.0
    bob = take_lease(item, "bob", now=119.0, lease_s=10)  # alice's ran out
    assert bob is not None and bob.token != first.token
    assert holds(item, bob.token, 120.0) and not holds(item, first.token, 120.0)
    release_lease(item)
    assert lease_of(item, 120.0) is None and not holds(item, bob.token, 120.0)
