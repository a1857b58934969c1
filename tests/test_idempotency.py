"""Idempotency-Key: a claim and its job record are written together, and a claim whose record is
gone (expired, deleted, or never written by older code) is free, so a retry always gets a job.

In-process API on a fresh Redis database (no worker: these tests look at records, not results);
the hang test uses a Redis of its own, since it SIGSTOPs it.
"""
from __future__ import annotations

import json
import signal
from concurrent.futures import ThreadPoolExecutor

import redis

from mmservice.embedded import EmbeddedRedis
from mmservice.testing.stack import ApiServer, Client, wait_until

KEY = {"Idempotency-Key": "order-42"}


def _post(c: Client, text: str, key: dict = KEY) -> tuple[int, str]:
    resp = c.submit({"text": text}, headers=key)
    assert resp.status_code in (200, 202), resp.text
    return resp.status_code, resp.json()["id"]


def test_claim_whose_record_is_gone_is_taken_over(stack):
    s = stack(workers=0)
    c, store, r = s.client, s.services.store, s.redis
    claim = store.keys.idempotency("default", KEY["Idempotency-Key"])

    status, first = _post(c, "hello")
    assert status == 202
    assert _post(c, "hello") == (200, first)  # a replay

    store.delete("default", first)  # the record is gone, the claim is not
    assert r.exists(claim)
    status, second = _post(c, "hello")
    assert status == 202 and second != first
    assert c.get(f"/v1/jobs/{second}").status_code == 200
    assert json.loads(r.get(claim))["job_id"] == second  # the claim was taken over
    assert _post(c, "hello") == (200, second)

    r.pexpire(store.keys.job("default", second), 1)  # the record expires before its claim
    wait_until(lambda: not r.exists(store.keys.job("default", second)), 10,
               what="the record to expire")
    status, third = _post(c, "another body")  # a free claim takes any body
    assert status == 202 and third not in (first, second)
    assert _post(c, "another body") == (200, third)
    assert c.submit({"text": "hello"}, headers=KEY).json()["error"]["code"] == \
        "idempotency_key_reused"


def test_claim_left_without_a_record_by_older_code(stack):
    """What a POST during a Redis hang left before the claim and the record were one
    transaction: a claim naming a job that was never written. Retries used to get 404."""
    s = stack(workers=0)
    c, store, r = s.client, s.services.store, s.redis
    claim = store.keys.idempotency("default", KEY["Idempotency-Key"])
    r.set(claim, json.dumps({"hash": "whatever", "job_id": "job_0000000000000000"}), ex=3600)
    status, jid = _post(c, "hello")
    assert status == 202
    assert c.get(f"/v1/jobs/{jid}").json()["status"] == "queued"
    assert json.loads(r.get(claim))["job_id"] == jid


def test_concurrent_retries_take_a_free_claim_over_once(stack):
    s = stack(workers=0)
    c, store, r = s.client, s.services.store, s.redis
    _, first = _post(c, "hello")
    store.delete("default", first)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _i: _post(c, "hello"), range(8)))
    ids = {jid for _status, jid in answers}
    assert len(ids) == 1 and first not in ids, answers
    assert sorted(status for status, _ in answers) == [200] * 7 + [202]
    assert r.zcard(store.keys.jobs_index("default")) == 1  # one record, one index entry


def test_post_during_redis_hang_can_be_retried(base_cfg, tmp_path):
    """The POST hits a store error (Redis stopped: the transaction never answers) and gets a
    503; once Redis runs again, a retry with the same key gets a job that can be read."""
    server = EmbeddedRedis(str(tmp_path / "redis"), appendonly=False).start()
    api = ApiServer({**base_cfg, "REDIS_URL": server.url})
    assert server.proc is not None
    try:
        c = Client(api.base, api.key)
        server.proc.send_signal(signal.SIGSTOP)
        try:
            resp = c.submit({"text": "hello"}, headers=KEY)
        finally:
            server.proc.send_signal(signal.SIGCONT)
        assert resp.status_code == 503, resp.text
        assert resp.json()["error"]["code"] == "store_unavailable"

        # Right after the hang the API may still answer 503 for up to one Redis timeout (it fails
        # fast instead of opening connections to a store that just timed out): retry as a
        # client told `Retry-After` would, until the store answers.
        wait_until(lambda: c.submit({"text": "hello"}, headers=KEY).status_code != 503, 30,
                   0.2, "the API to answer after the hang")
        status, jid = _post(c, "hello")
        job = c.get(f"/v1/jobs/{jid}")
        assert job.status_code == 200, job.text
        assert _post(c, "hello") == (200, jid)
        r = redis.Redis.from_url(server.url)
        assert r.zcard(api.app.extensions["mms"].store.keys.jobs_index("default")) == 1
        assert status == 200  # the retry that first got through created the job; this replays it
    finally:
        api.stop()
        server.stop()
