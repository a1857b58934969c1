"""Tenant isolation: tenant B's key, with every scope, on every route of `/openapi.json`, with
tenant A's ids, gets 404 (or 403), never A's data.

A has a job with media, a webhook delivery, a speech artifact, usage and an API key; the walk
fills each path parameter with A's value and sends a small valid body. Routes without A's ids
(lists, usage, B's own submissions) must not mention any of A's ids or A's text.
"""
from __future__ import annotations

import json
import re

import pytest
import requests

from mmservice.auth.keystore import SCOPES
from webhook_receiver import Receiver

SECRET = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="


@pytest.fixture(scope="module")
def world(module_stack):
    s = module_stack(cfg={"WEBHOOK_SECRETS": SECRET, "WEBHOOK_ALLOWLIST": "127.0.0.1"},
                     name="iso")
    auth = s.services.auth.keys
    a_key, a_rec = auth.create("tenant-a", SCOPES)
    b_key, _ = auth.create("tenant-b", SCOPES)
    rcv = Receiver([SECRET]).start()
    a = requests.Session()
    a.headers["Authorization"] = f"Bearer {a_key}"
    secret_text = "tenant A private words"
    r = a.post(s.api_url + "/v1/jobs", json={
        "text": secret_text, "tasks": ["moderate", "speak"], "webhook_url": rcv.url(),
        "metadata": {"owner": "tenant-a"}}, timeout=30)
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    done = _poll(a, s.api_url, job_id)
    assert done["status"] == "succeeded", done
    deliveries = []
    for _ in range(200):
        deliveries = a.get(s.api_url + f"/v1/jobs/{job_id}/deliveries", timeout=10).json()["data"]
        if deliveries:
            break
        rcv.arrived.wait(0.05)
    assert deliveries
    # A's policy: its default, and so strict that it blocks anything it judges.
    r = a.put(s.api_url + f"/v1/policies/{POLICY_OF_A}", timeout=10, json={
        "thresholds": {"hate": {"review": 0.0, "block": 0.0}}, "default": True})
    assert r.status_code == 200, r.text
    # A's list, with an item B must never see or change.
    r = a.put(s.api_url + f"/v1/lists/{LIST_OF_A}", timeout=10, json={
        "kind": "terms", "action": "block", "items": [LIST_ITEM_OF_A]})
    assert r.status_code == 200, r.text
    item_id = a.get(s.api_url + f"/v1/lists/{LIST_OF_A}/items", timeout=10).json()["data"][0]["id"]
    # A's review item (A's user reported A's job), in A's `default` queue.
    r = a.post(s.api_url + "/v1/reports", timeout=10, json={
        "job_id": job_id, "reason": "tenant A's report", "reporter_id": "a-user"})
    assert r.status_code == 201, r.text
    yield {"s": s, "a": a, "b_key": b_key, "job_id": job_id, "delivery_id": deliveries[0]["id"],
           "key_id": a_rec.id, "text": secret_text, "item_id": item_id,
           "review_id": r.json()["item_id"]}
    rcv.stop()


def _poll(session, base, job_id, timeout=60.0):
    import time

    deadline = time.monotonic() + timeout
    job: dict = {}
    while time.monotonic() < deadline:
        job = session.get(base + f"/v1/jobs/{job_id}", timeout=10).json()
        if job["status"] in ("succeeded", "failed", "canceled"):
            return job
        time.sleep(0.05)
    return job


POLICY_OF_A = "tenant-a-policy"
LIST_OF_A = "tenant-a-list"
LIST_ITEM_OF_A = "zorblaxian"
BODIES = {
    ("post", "/v1/jobs"): {"text": "tenant B's own text"},
    ("post", "/v1/admin/keys"): {"scopes": ["read"], "tenant": "tenant-a"},
    ("patch", "/v1/admin/tenants/{name}/settings"): {"MAX_TEXT_CHARS": 5},
    ("post", "/v1/lists/{list_name}/items"): {"items": ["tenant B's word"]},
    ("patch", "/v1/lists/{list_name}/items/{item_id}"): {"note": "B was here"},
    ("post", "/v1/review/{review_id}/decision"): {"decision": "approve", "lease_token": "1.x"},
    ("post", "/v1/review/{review_id}/renew"): {"lease_token": "1.x"},
    ("post", "/v1/review/{review_id}/release"): {"lease_token": "1.x"},
    ("post", "/v1/review/{review_id}/skip"): {"lease_token": "1.x"},
    ("post", "/v1/review/{review_id}/appeal"): {"reason": "B appeals"},
    ("post", "/v1/review/queues/{queue}/next"): {},
}
# Queue names, like policy names, live in each tenant's namespace: B's `default` queue is B's.
OWN_NAMESPACE = {("post", "/v1/review/queues/{queue}/next")}
# Names live in each tenant's own namespace: B's PUT of A's policy name makes B's own policy
# (checked after the walk, so B's copy cannot answer the walk's GETs).
AFTER_THE_WALK = {("put", "/v1/policies/{policy_name}"), ("put", "/v1/lists/{list_name}")}


def test_tenant_b_never_sees_tenant_a(world):
    s = world["s"]
    doc = requests.get(s.api_url + "/openapi.json", timeout=10).json()
    values = {"job_id": world["job_id"], "delivery_id": world["delivery_id"],
              "key_id": world["key_id"], "name": "tenant-a", "policy_name": POLICY_OF_A,
              "version": "1", "list_name": LIST_OF_A, "item_id": world["item_id"], "n": "0",
              "model": "tenant-a-model",  # the facade's models are the service's: none is A's
              "review_id": world["review_id"], "queue": "default"}
    secrets_of_a = [world["job_id"], world["delivery_id"], world["key_id"], world["text"],
                    "tenant-a", LIST_ITEM_OF_A, world["item_id"], world["review_id"],
                    "tenant A's report"]
    # (POLICY_OF_A and LIST_OF_A start with "tenant-a" too)
    b = {"Authorization": f"Bearer {world['b_key']}"}
    walked = 0
    for path, ops in doc["paths"].items():
        for method in ops:
            if method == "parameters" or (method, path) in AFTER_THE_WALK:
                continue
            url = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)
            body = BODIES.get((method, path))
            r = requests.request(method, s.api_url + url, json=body, headers=b, timeout=30)
            walked += 1
            text = r.text
            if (method, path) in OWN_NAMESPACE:
                assert r.status_code == 204, (method, path, r.status_code, text[:300])
            elif "{" in path:  # names one of A's things
                assert r.status_code in (403, 404), (method, path, r.status_code, text[:300])
            elif path == "/v1/admin/keys" and method == "post":
                assert r.status_code == 404, text  # B may not make keys for A
            else:
                assert r.status_code < 500, (method, path, text[:300])
            if path in ("/metrics", "/openapi.json"):
                continue  # service-wide counters (no ids), the document
            for secret in secrets_of_a:
                if secret in url or (body and secret in str(body)):
                    continue  # B sent it (a 404 may echo it back): not A's data
                assert secret not in text, (method, path, secret, text[:300])
    assert walked >= 20
    # B's PUT of A's policy name is B's own version 1; A's policy is untouched, and A's
    # default policy (which blocks anything) never judges B's jobs.
    r = requests.put(s.api_url + f"/v1/policies/{POLICY_OF_A}", headers=b, timeout=10,
                     json={"thresholds": {"hate": {"review": 0.9, "block": 0.95}}})
    assert r.status_code == 200 and r.json()["version"] == 1 and not r.json()["default"]
    b_job = requests.post(s.api_url + "/v1/jobs", json={"text": "hello from B"}, headers=b,
                          timeout=10).json()
    b_sess = requests.Session()
    b_sess.headers.update(b)
    b_mod = _poll(b_sess, s.api_url, b_job["id"])["results"]["moderation"]
    assert b_mod["verdict"] == "allow" and b_mod["policy"] == {"name": "builtin", "version": 0}
    a_policy = world["a"].get(s.api_url + f"/v1/policies/{POLICY_OF_A}", timeout=10).json()
    assert a_policy["version"] == 1 and a_policy["default"] is True
    assert a_policy["thresholds"]["hate"] == {"review": 0.0, "block": 0.0}
    # B's PUT of A's list name makes B's own list; A's list and item are untouched, and A's
    # block list never judges B's jobs.
    r = requests.put(s.api_url + f"/v1/lists/{LIST_OF_A}", headers=b, timeout=10,
                     json={"kind": "sha256"})
    assert r.status_code == 200 and r.json()["items"] == 0
    b_job = requests.post(s.api_url + "/v1/jobs", json={"text": LIST_ITEM_OF_A}, headers=b,
                          timeout=10).json()
    assert _poll(b_sess, s.api_url, b_job["id"])["results"]["moderation"]["verdict"] == "allow"
    # And A still has everything: B's walk changed nothing of A's.
    a = world["a"]
    a_list = a.get(s.api_url + f"/v1/lists/{LIST_OF_A}", timeout=10).json()
    assert a_list["kind"] == "terms" and a_list["items"] == 1
    a_item = a.get(s.api_url + f"/v1/lists/{LIST_OF_A}/items/{world['item_id']}",
                   timeout=10).json()
    assert a_item["value"] == LIST_ITEM_OF_A and a_item["note"] is None
    job = a.get(s.api_url + f"/v1/jobs/{world['job_id']}", timeout=10).json()
    assert job["status"] == "succeeded" and not job.get("media_deleted")
    assert a.get(s.api_url + "/v1/admin/tenants/tenant-a", timeout=10).json()["settings"] == {}
    assert a.get(s.api_url + f"/v1/admin/keys/{world['key_id']}",
                 timeout=10).json()["active"] is True


def test_an_operator_admin_key_manages_other_tenants(world):
    s = world["s"]
    op = s.client  # the harness's key: an admin key of the operator tenant (`default`)
    made = op.post("/v1/admin/keys", json={"tenant": "tenant-c", "scopes": ["submit", "read"],
                                           "name": "made by the operator"})
    assert made.status_code == 201, made.text
    c_key = made.json()["key"]
    assert made.json()["tenant"] == "tenant-c"
    tenants = [t["tenant"] for t in op.get("/v1/admin/tenants").json()["data"]]
    assert {"default", "tenant-a", "tenant-b", "tenant-c"} <= set(tenants)
    # Per-tenant settings: C's text limit, not A's or the operator's.
    r = op.s.patch(s.api_url + "/v1/admin/tenants/tenant-c/settings",
                   json={"MAX_TEXT_CHARS": 5}, timeout=10)
    assert r.status_code == 200 and r.json()["settings"] == {"MAX_TEXT_CHARS": 5}
    bad = op.s.patch(s.api_url + "/v1/admin/tenants/tenant-c/settings",
                     json={"JOB_TTL_S": 5}, timeout=10)
    assert bad.status_code == 422 and "per tenant" in bad.json()["error"]["message"]
    s.services.auth.settings._cache.clear()  # this process's 2 s cache, for the test's pace
    hdr = {"Authorization": f"Bearer {c_key}"}
    long = requests.post(s.api_url + "/v1/jobs", json={"text": "too long"}, headers=hdr,
                         timeout=10)
    assert long.status_code == 413 and long.json()["error"]["code"] == "text_too_long"
    assert op.submit({"text": "too long"}).status_code == 202
    # Rotation through the admin API: the new key works, the old one is refused.
    key_id = made.json()["id"]
    rot = op.post(f"/v1/admin/keys/{key_id}/rotate", json={})
    assert rot.status_code == 201 and rot.json()["replaces"]["active"] is False
    assert requests.get(s.api_url + "/v1/jobs", headers=hdr, timeout=10).status_code == 401
    new = {"Authorization": f"Bearer {rot.json()['key']}"}
    assert requests.get(s.api_url + "/v1/jobs", headers=new, timeout=10).status_code == 200
    assert op.delete(f"/v1/admin/keys/{rot.json()['id']}").json()["active"] is False
    assert requests.get(s.api_url + "/v1/jobs", headers=new, timeout=10).status_code == 401


def test_per_tenant_thresholds_webhook_url_and_rotated_secret(world):
    """Settings changed through the admin API reach the workers: the tenant's thresholds judge
    its jobs, its default webhook URL receives them, signed with its rotated secret too."""
    s = world["s"]
    op = s.client
    d_key = op.post("/v1/admin/keys", json={"tenant": "tenant-d", "scopes": ["submit", "read"]}
                    ).json()["key"]
    d = requests.Session()
    d.headers["Authorization"] = f"Bearer {d_key}"
    rcv = Receiver([]).start()
    try:
        r = op.s.patch(s.api_url + "/v1/admin/tenants/tenant-d/settings", timeout=10, json={
            "THRESHOLDS_REVIEW": 0.0, "THRESHOLDS_BLOCK": 0.0, "WEBHOOK_DEFAULT_URL": rcv.url()})
        assert r.status_code == 200, r.text
        assert r.json()["settings"]["THRESHOLDS_BLOCK"] == 0.0
        rotated = op.post("/v1/admin/tenants/tenant-d/webhook-secrets")
        assert rotated.status_code == 201 and rotated.json()["active"] == 2
        rcv.secrets = [rotated.json()["secret"]]  # the receiver knows only the new secret
        settings = op.get("/v1/admin/tenants/tenant-d").json()["settings"]
        assert settings["WEBHOOK_SECRETS"] == "***"  # never shown again
        s.services.auth.settings._cache.clear()
        job = d.post(s.api_url + "/v1/jobs", json={"text": "have a nice day"}, timeout=10).json()
        done = _poll(d, s.api_url, job["id"])
        assert done["results"]["moderation"]["verdict"] == "block", done  # every line at 0
        assert op.run({"text": "have a nice day"})["results"]["moderation"]["verdict"] == "allow"
        got = rcv.wait_for(1)
        assert got[0]["verified"] == [True] and got[0]["status"] == 200
        assert json.loads(got[0]["body"])["data"]["id"] == job["id"]
        sigs = got[0]["headers"]["webhook-signature"].split()
        assert len(sigs) == 2  # the new secret and the one before it both sign
    finally:
        rcv.stop()


def test_generated_webhook_secrets_are_per_tenant(world):
    """With no secret configured, each tenant signs with its own generated one."""
    from mmservice.webhooks import signing

    s = world["s"]
    keys = s.services.store.keys
    a = signing.active_secrets((), s.redis, keys.webhook_secret("tenant-a"))
    b = signing.active_secrets((), s.redis, keys.webhook_secret("tenant-b"))
    default = signing.active_secrets((), s.redis, keys.webhook_secret())
    assert len({a[0], b[0], default[0]}) == 3
    assert keys.webhook_secret() == keys.webhook_secret("default") == "mms:webhook:secret"
