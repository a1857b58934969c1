"""What a facade moderation costs the store, and that deferring its counters lost nothing.

A moderation judged in the API reads the tenant's default policy, list names, shadow names and
the result cache in one pipeline (`facade/prefetch.py`) and leaves its usage and cache-lookup
counters to the background writer (`facade/audit_writer.py`). The round trips are counted on
the request's thread (`mmservice.testing.roundtrips`), through Flask's test client so the
request runs on this thread; the counters are read after `drain()`, the writer's signal.

Own stack, no worker: the openai provider judges in the API, and the counters read here must be
this module's alone.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from mmservice import metrics
from mmservice.accounting import read_usage, today
from mmservice.facade.audit_writer import writer_for
from mmservice.testing.roundtrips import counting
from mmservice.testing.stack import make_key

PREFETCH = "PIPELINE(GET,SMEMBERS,SMEMBERS,MGET)"


@pytest.fixture(scope="module")
def s(module_stack):
    return module_stack(name="facade-rt", workers=0)


def _tenant_client(s, tenant: str):
    app = s.api.app
    key = make_key(app.extensions["mms"].cfg["REDIS_URL"], tenant=tenant)
    c = app.test_client()

    def post(text: str | list[str], **headers: str):
        r = c.post("/v1/moderations", json={"input": text},
                   headers={"Authorization": f"Bearer {key}", **headers})
        assert r.status_code == 200, r.data
        return r
    return post


def test_a_hit_is_two_round_trips_and_a_miss_three(s):
    post = _tenant_client(s, "rt-plain")
    post(f"warm {time.time()}")  # first use: the list matcher, the auth cache, connections
    text = f"a text for counting {time.time()}"
    with counting() as miss:
        first = post(text).get_json()["results"][0]
    with counting() as hit:
        second = post(text).get_json()["results"][0]
    assert first["mmservice"]["cached"] is False and second["mmservice"]["cached"] is True
    # The gate's key check, then everything the judgment reads; a miss adds the cache write.
    assert hit.names() == ["EVALSHA", PREFETCH], hit.names()
    assert miss.names() == ["EVALSHA", PREFETCH, "SET"], miss.names()


def test_lists_shadows_and_the_default_policy_still_apply_on_the_prefetched_reads(s):
    c, tenant = s.client, "default"
    assert c.s.put(c.url("/v1/lists/rt-banned"), json={
        "kind": "terms", "action": "block", "items": ["quuxly"]}, timeout=30).status_code == 200
    assert c.s.put(c.url("/v1/policies/rt-default"), json={
        "default": True, "thresholds": {"harassment": {"review": 0.01, "block": 0.02}}},
        timeout=30).status_code in (200, 201)
    assert c.s.put(c.url("/v1/policies/rt-watch"), json={
        "mode": "shadow", "thresholds": {"harassment": {"review": 0.9, "block": 0.99}}},
        timeout=30).status_code in (200, 201)
    r = s.redis
    shadow_key = s.api.app.extensions["mms"].store.keys.metrics(metrics.POLICY_SHADOW)
    shadow_field = metrics.field(tenant, "rt-watch", "disagree")
    shadows_before = int(r.hget(shadow_key, shadow_field) or 0)
    post = _tenant_client(s, tenant)
    listed = post("a quuxly hello").get_json()["results"][0]
    assert listed["mmservice"]["decided_by"] == "list" and listed["flagged"] is True
    with counting() as trips:
        judged = post(f"you idiot {time.time()}")
    assert judged.headers["x-mmservice-policy"] == "rt-default@1"  # the default, unnamed
    # The default policy's version is read once (resolved, then judged on the same record:
    # one PIPELINE(HMGET,GET) + HGET, not two); then the list records, the term list's version,
    # the cache write of the miss, the shadow policy's version and its agree/disagree counter.
    assert trips.names() == ["EVALSHA", PREFETCH, "PIPELINE(HMGET,GET)", "HGET", "MGET", "MGET",
                             "SET", "PIPELINE(HMGET,GET)", "HGET", "HINCRBY"], trips.names()
    assert judged.headers["x-mmservice-verdict"] == "block"
    # The shadow policy judged it too (allow, under its high lines): counted as a disagreement.
    assert int(r.hget(shadow_key, shadow_field) or 0) == shadows_before + 1


def test_usage_and_cache_counters_are_exact_once_the_writer_drained(s):
    post = _tenant_client(s, "rt-count")
    svc = s.api.app.extensions["mms"]
    writer = writer_for(svc)
    cache_key = svc.store.keys.metrics(metrics.RESULT_CACHE)
    hit_f, miss_f = metrics.field("moderate", "hit"), metrics.field("moderate", "miss")
    assert writer.drain()
    before = [int(x or 0) for x in s.redis.hmget(cache_key, [hit_f, miss_f])]
    texts = [f"count {i} {time.time()}" for i in range(12)]
    with ThreadPoolExecutor(6) as pool:  # concurrent requests, one writer
        list(pool.map(post, texts))
        list(pool.map(post, texts[:5]))  # five hits
    assert writer.drain()
    after = [int(x or 0) for x in s.redis.hmget(cache_key, [hit_f, miss_f])]
    assert (after[0] - before[0], after[1] - before[1]) == (5, 12)
    usage = read_usage(s.redis, "rt-count", today(), svc.store.keys)
    assert usage["totals"]["requests"] == 17
    # One row (capability, upstream, model), every call counted once.
    rows = [row for row in usage["data"] if row["capability"] == "moderation"]
    assert len(rows) == 1 and rows[0]["requests"] == 17


def test_the_writers_batch_reads_the_audit_head_and_staged_events_still_go_first(s):
    """The writer reads the chain's head in its counters' transaction (no read of its own);
    events staged before (a verdict's entry, `audit_staging`) must still be chained first."""
    from mmservice import audit, audit_staging

    svc = s.api.app.extensions["mms"]
    writer, keys, tenant = writer_for(svc), svc.store.keys, "rt-audit"
    post = _tenant_client(s, tenant)
    post(f"first {time.time()}")  # the plain path: nothing staged
    assert writer.drain()
    pipe = s.redis.pipeline()
    audit_staging.stage(pipe, keys, tenant, {"type": "test.staged", "actor": "test"})
    pipe.execute()
    post(f"second {time.time()}")
    assert writer.drain()
    types = [e["event"]["type"] for e in audit.read(s.redis, keys, tenant, limit=100)]
    assert types == ["facade.create_moderation", "test.staged", "facade.create_moderation"]
    assert audit.verify(s.redis, keys, tenant) == (True, None)


def test_a_text_twice_in_one_request_is_measured_once(s, stub):
    """The second item finds what the first measured (as it did when each item looked up)."""
    post = _tenant_client(s, "rt-twice")
    text = f"the same text twice {time.time()}"
    before = len(stub.requests.matching("/moderations"))
    got = post([text, text]).get_json()["results"]
    assert [x["mmservice"]["cached"] for x in got] == [False, True]
    assert len(stub.requests.matching("/moderations")) == before + 1
