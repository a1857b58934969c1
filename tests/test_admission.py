"""Admission with the job's creation in one script (`mmservice.jobs.admission`), against a real
Redis: an admitted job is written exactly as `JobStore.create` writes it (record, index, open
set, marker, counters, task message) plus the policy that judges it; a refused or colliding job
writes nothing and gives back what it charged."""
from __future__ import annotations

import time
import uuid

import redis

from mmservice.jobs.admission import ADMITTED, EXISTS, OPEN_FULL, OVER_BYTES, Admission
from mmservice.jobs.store import JobStore, new_job_id


def _job(tenant: str) -> dict:
    ts = time.time()
    return {"id": new_job_id(), "tenant": tenant, "status": "queued", "tasks": ["moderate"],
            "task_status": {"moderate": "pending"}, "results": {}, "options": {},
            "input": {"kind": "text", "sha256": "0" * 64}, "metadata": {"note": "é \"q\""},
            "_created_ts": ts, "_deadline_ts": ts + 60, "_text": "hello"}


def _setup(redis_server):
    r = redis.Redis.from_url(redis_server.url)
    store = JobStore(r, ttl_s=600, prefix=f"ad{uuid.uuid4().hex[:8]}")
    return r, store, Admission(r, store.keys)


def _footprint(r, store, tenant: str) -> list:
    return sorted((k, r.type(k)) for k in r.keys(f"{store.keys.prefix}:*")
                  if b":quota:" not in k)


def _admit(adm, job, creation, **kw):
    args = {"nbytes": 100, "byte_limit": 1000, "open_limit": 2, "policy": None,
            "want_policy": True, **kw}
    return adm.admit(job["tenant"], job["id"], creation=creation, **args)


def test_an_admitted_job_is_written_as_create_writes_it_with_its_policy(redis_server):
    r, store, adm = _setup(redis_server)
    scripted, plain = _job("t"), _job("t")
    queue = f"{store.keys.prefix}-queue"

    def message(job):
        return lambda pipe: pipe.lpush(queue, f"msg {job['id']}")
    marker = store.keys.enqueued("t", scripted["id"], "moderate")
    v = _admit(adm, scripted, store.creation(scripted, markers=(marker,),
                                             in_same_transaction=message(scripted)))
    assert v.status == ADMITTED
    store.create(plain, markers=(store.keys.enqueued("t", plain["id"], "moderate"),),
                 in_same_transaction=message(plain))
    got = store.get("t", scripted["id"])
    assert got.pop("_policy") == {"name": "builtin", "version": 0}
    assert got == scripted  # the JSON round trip is exact: floats, unicode, quotes
    assert 0 < r.ttl(store.keys.job("t", scripted["id"])) <= 600
    assert r.get(marker) == b"1"
    assert r.lrange(queue, 0, -1) == [f"msg {plain['id']}".encode(),
                                      f"msg {scripted['id']}".encode()]
    assert {m.decode() for m in r.smembers(store.keys.open_jobs("t"))} == {
        scripted["id"], plain["id"]}
    assert r.zscore(store.keys.jobs_index("t"), scripted["id"]) == int(
        scripted["_created_ts"] * 1000)
    # The counters were bumped by both paths alike.
    created = r.hgetall(store.keys.metrics("jobs_created"))
    assert created and all(int(n) == 2 for n in created.values()), created


def test_a_named_policy_version_is_spliced_into_the_record(redis_server):
    r, store, adm = _setup(redis_server)
    r.hset(store.keys.policy("t", "strict"), mapping={"latest": 7})
    job = _job("t")
    v = _admit(adm, job, store.creation(job), policy="strict")
    assert v.status == ADMITTED and v.latest == 7
    assert store.get("t", job["id"])["_policy"] == {"name": "strict", "version": 7}
    other = _job("t")
    assert _admit(adm, other, store.creation(other), want_policy=False).status == ADMITTED
    assert "_policy" not in store.get("t", other["id"])


def test_refusals_and_a_colliding_id_write_nothing(redis_server):
    r, store, adm = _setup(redis_server)
    first = _job("t")
    assert _admit(adm, first, store.creation(first)).status == ADMITTED
    before = _footprint(r, store, "t")
    used = sum(int(r.get(k)) for k in r.keys(f"{store.keys.prefix}:*:quota:*"))
    big = _job("t")
    assert _admit(adm, big, store.creation(big), nbytes=5000).status == OVER_BYTES
    same = dict(_job("t"), id=first["id"])  # the same id again: never over the record
    v = _admit(adm, same, store.creation(same))
    assert v.status == EXISTS
    assert store.get("t", first["id"])["_created_ts"] == first["_created_ts"]
    second = _job("t")
    assert _admit(adm, second, store.creation(second)).status == ADMITTED
    third = _job("t")
    assert _admit(adm, third, store.creation(third)).status == OPEN_FULL
    # Only `second` was added; every refusal gave its bytes back.
    after = _footprint(r, store, "t")
    assert len(after) == len(before) + 1  # second's record
    assert sum(int(r.get(k)) for k in r.keys(f"{store.keys.prefix}:*:quota:*")) == used + 100
    assert store.r.scard(store.keys.open_jobs("t")) == 2
