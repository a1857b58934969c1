"""A result-cache hit answered at `POST /v1/jobs` (`mmservice/cache/at_intake.py`), end to end:
real Redis, real worker processes, the devstub upstream (its `[[score:...]]` marker sets the
scores), a real webhook receiver.

A text `moderate` job whose scores are cached is judged by the API under the tenant's current
policy and lists and stored settled (`200`), with no task on any moderation queue; the answer is
the one the worker path gives; what a settled verdict leaves (audit entry, review item, webhook,
idempotency claim) is left once. A miss, another tenant, `options.cache: false` or
`MMS_CACHE_AT_INTAKE` off keep the queue (`202`).
"""
from __future__ import annotations

import time
import uuid

import pytest

from mmservice.auth.keystore import SCOPES
from mmservice.testing.client import Client
from mmservice.testing.stack import WorkerProcess, wait_until
from mmservice.webhooks import signing
from webhook_receiver import Receiver

SECRET = signing.new_secret()
SCORED = "[[score:harassment=0.6]]"  # builtin lines (review 0.5, block 0.85): review


def _uid() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="module")
def s(module_stack):
    # Tenant settings are read afresh for every request, so a PATCH decides the very next one.
    # Pieces of at most 200 characters, so a long text is several cache entries.
    return module_stack(cfg={"TENANT_SETTINGS_CACHE_S": 0, "MODERATION_MAX_CHARS": 200},
                        name="atintake")


def tenant_client(s, tenant: str) -> Client:
    key, _ = s.services.auth.keys.create(tenant, SCOPES)
    return Client(s.api_url, key)


def hit(c: Client, payload: dict, headers: dict | None = None) -> dict:
    """Submit what is expected to be a hit: answered settled, at once."""
    r = c.submit(payload, headers)
    assert r.status_code == 200, r.text
    job = r.json()
    assert job["status"] == "succeeded" and job["task_status"] == {"moderate": "succeeded"}, job
    assert job["started_at"] and job["finished_at"], job
    return job


def queued(c: Client, payload: dict) -> dict:
    r = c.submit(payload)
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "queued", r.text
    return c.poll(r.json()["id"])


def moderation_queue_depth(r) -> int:
    """Messages waiting on the moderation queue (kombu's priority lists included)."""
    return sum(r.llen(k) for k in r.scan_iter(match="moderation*") if r.type(k) == b"list")


def put(c: Client, path: str, body: dict) -> dict:
    r = c.s.put(c.url(path), json=body, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def settings(c: Client, tenant: str, body: dict) -> None:
    r = c.s.patch(c.url(f"/v1/admin/tenants/{tenant}/settings"), json=body, timeout=10)
    assert r.status_code == 200, r.text


def audit_of(c: Client, job_id: str) -> list[dict]:
    r = c.get(f"/v1/audit?job={job_id}")
    assert r.status_code == 200, r.text
    return [e["event"] for e in r.json()["data"]]


def test_a_hit_settles_at_post_with_no_worker_and_its_webhook_goes_once(stack, stub):
    s = stack(cfg={"WEBHOOK_SECRETS": SECRET, "WEBHOOK_ALLOWLIST": "127.0.0.1",
                   "WEBHOOK_LOCAL_FIRST_ATTEMPT": "off"})
    rcv = Receiver([SECRET]).start()
    try:
        text = f"nothing to see here {_uid()}"
        first = s.client.run({"text": text})  # a miss: measured on the worker
        assert first["results"]["moderation"]["cached"] is False
        calls = len(stub.requests.matching("/moderations"))
        s.worker.stop()  # nothing consumes any queue from here on

        channel = s.services.deps.store.settled_channel()
        announced = s.redis.pubsub()
        announced.subscribe(channel)
        confirmed = announced.get_message(timeout=10)
        assert confirmed is not None and confirmed["type"] == "subscribe", confirmed
        job = hit(s.client, {"text": text, "webhook_url": rcv.url()})
        assert job["results"]["moderation"]["cached"] is True
        # Not announced (nobody can be waiting on an id not yet answered): a sentinel
        # published after the POST answered comes first, before any announcement of the job.
        s.redis.publish(channel, "sentinel")
        first_message = announced.get_message(timeout=10)
        announced.close()
        assert first_message is not None and first_message["data"] == b"sentinel", first_message
        assert moderation_queue_depth(s.redis) == 0  # no step task was published
        assert len(stub.requests.matching("/moderations")) == calls
        t0 = time.monotonic()
        got = s.client.get(f"/v1/jobs/{job['id']}?wait=30")
        assert got.status_code == 200 and got.json() == job, got.text
        assert time.monotonic() - t0 < 10  # answered at once, not after the 30 s wait
        # The settled verdict's webhook is recorded and queued for the webhooks queue.
        [delivery] = s.client.get(f"/v1/jobs/{job['id']}/deliveries").json()["data"]
        assert delivery["status"] == "pending", delivery

        w = WorkerProcess(s.cfg, s.log_path, name="again").start()
        s.workers.append(w)
        wait_until(lambda: len(rcv.processed) >= 1, 30, 0.05, "the webhook")
        [event] = rcv.processed.values()
        assert event["type"] == "job.succeeded" and event["data"]["id"] == job["id"]
        assert event["data"]["results"] == job["results"]
        wait_until(lambda: s.client.get(f"/v1/jobs/{job['id']}/deliveries").json()["data"][0]
                   ["status"] == "succeeded", 20, 0.05, "the delivery's record")
        assert len(rcv.requests) == 1  # once
        assert moderation_queue_depth(s.redis) == 0
    finally:
        rcv.stop()


def test_the_answer_equals_the_worker_paths_and_is_audited_and_reviewed(s):
    c = tenant_client(s, "same")
    text = f"you are not very nice {_uid()} {SCORED}"
    first = c.run({"text": text})["results"]["moderation"]
    assert first["cached"] is False and first["verdict"] == "review"
    settings(c, "same", {"CACHE_AT_INTAKE": False})  # the same hit, through the worker
    try:
        by_worker = queued(c, {"text": text})["results"]["moderation"]
    finally:
        settings(c, "same", {"CACHE_AT_INTAKE": None})
    job = hit(c, {"text": text})
    at_intake = job["results"]["moderation"]
    assert by_worker["cached"] is True and at_intake["cached"] is True
    by_worker.pop("elapsed_ms")
    at_intake.pop("elapsed_ms")
    assert at_intake == by_worker
    # The verdict's audit entry (written by the API's background writer a moment after the
    # answer), and the review item the content is queued in (joined).
    wait_until(lambda: "moderation.verdict" in {e["type"] for e in audit_of(c, job["id"])},
               10, 0.05, "the verdict's audit entry")
    events = audit_of(c, job["id"])
    kinds = {e["type"] for e in events}
    assert "moderation.verdict" in kinds, events
    assert kinds & {"review.item_created", "review.item_joined"}, events
    verdict = next(e for e in events if e["type"] == "moderation.verdict")
    assert verdict["verdict"] == "review" and verdict["policy"] == {"name": "builtin",
                                                                     "version": 0}


def test_a_policy_change_after_a_hit_decides_the_next_one(s, stub):
    c = tenant_client(s, "pol")
    text = f"a rather pointed remark {_uid()} {SCORED}"
    c.run({"text": text})
    calls = len(stub.requests.matching("/moderations"))
    assert hit(c, {"text": text})["results"]["moderation"]["verdict"] == "review"
    put(c, "/v1/policies/strict", {"thresholds": {"harassment": {"review": 0.3, "block": 0.5}},
                                   "default": True})
    m = hit(c, {"text": text})["results"]["moderation"]
    assert (m["verdict"], m["policy"]) == ("block", {"name": "strict", "version": 1}), m
    put(c, "/v1/policies/strict", {"thresholds": {"harassment": {"review": 0.7, "block": 0.9}},
                                   "default": True})
    m = hit(c, {"text": text})["results"]["moderation"]
    assert (m["verdict"], m["policy"]) == ("allow", {"name": "strict", "version": 2}), m
    # The job's own thresholds still apply on top.
    m = hit(c, {"text": text, "options": {"thresholds": {"harassment": 0.1}}})
    assert m["results"]["moderation"]["verdict"] == "review"
    assert len(stub.requests.matching("/moderations")) == calls  # all from the cache


def test_a_list_item_added_after_a_hit_decides_the_next_one(s):
    c = tenant_client(s, "lst")
    put(c, "/v1/lists/words", {"kind": "terms", "action": "block", "items": ["qwertyuiop"]})
    text = f"meet me by the zorblax tonight {_uid()}"
    c.run({"text": text})
    assert hit(c, {"text": text})["results"]["moderation"]["verdict"] == "allow"
    r = c.post("/v1/lists/words/items", json={"items": ["zorblax"]})
    assert r.status_code in (200, 201), r.text
    m = hit(c, {"text": text})["results"]["moderation"]
    assert (m["verdict"], m["decided_by"]) == ("block", "list"), m
    assert m["matched_lists"][0]["value"] == "zorblax"


def test_tenants_do_not_share_hits(s):
    a, b = tenant_client(s, "iso-a"), tenant_client(s, "iso-b")
    text = f"the same words from two platforms {_uid()}"
    a.run({"text": text})
    mine = hit(a, {"text": text})
    theirs = queued(b, {"text": text})  # A's entry is not B's: B's job is measured
    assert theirs["results"]["moderation"]["cached"] is False
    assert b.get(f"/v1/jobs/{mine['id']}").status_code == 404
    assert b.get(f"/v1/jobs/{mine['id']}?wait=1").status_code == 404


def test_idempotency_keys_hold_for_a_hit(s):
    c = tenant_client(s, "idem")
    text = f"say it once {_uid()}"
    c.run({"text": text})
    key = {"Idempotency-Key": f"k-{_uid()}"}
    job = hit(c, {"text": text}, key)
    again = c.submit({"text": text}, key)
    assert again.status_code == 200 and again.json()["id"] == job["id"], again.text
    other = c.submit({"text": text + "!"}, key)
    assert other.status_code == 409, other.text


def test_what_is_not_a_hit_keeps_the_queue(s):
    c = tenant_client(s, "miss")
    text = f"first time seen {_uid()}"
    assert queued(c, {"text": text})["results"]["moderation"]["cached"] is False
    # options.cache false: neither read nor stored, so never answered at intake.
    assert queued(c, {"text": text, "options": {"cache": False}})["status"] == "succeeded"
    # A long text: every piece must be cached; one new piece sends the job to the worker.
    long = " ".join(f"sentence number {i} of {text}." for i in range(30))
    assert queued(c, {"text": long})["status"] == "succeeded"
    assert hit(c, {"text": long})["results"]["moderation"]["cached"] is True
    assert queued(c, {"text": long + " One more."})["results"]["moderation"]["cached"] is False
    # More than at_intake.MAX_PIECES pieces: never looked up at intake (the worker's cache
    # still answers it).
    longer = " ".join(f"line {i} of a very long text {text}." for i in range(400))
    assert queued(c, {"text": longer})["results"]["moderation"]["pieces"] > 64
    assert queued(c, {"text": longer})["results"]["moderation"]["cached"] is True
