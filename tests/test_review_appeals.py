"""Decisions reaching the platform: final verdicts, `review.decided` and `appeal.decided` webhooks
(signed, to a real receiver), appeals never offered to the reviewer appealed, overturns, the audit
chain over all of it (and its detection of an edited entry), sampled double review, metrics."""
from __future__ import annotations

import json
import time

import pytest

from mmservice.webhooks import signing
from review_env import MILD, REVIEW_ALL, Tenant
from webhook_receiver import Receiver

SECRET = signing.new_secret()


@pytest.fixture(scope="module")
def rs(module_stack):
    return module_stack(cfg={"WEBHOOK_SECRETS": SECRET, "WEBHOOK_ALLOWLIST": "127.0.0.1",
                             "WEBHOOK_RETRY_SCHEDULE_S": "0.2,0.4", "WEBHOOK_TIMEOUT_S": 2.0,
                             "WEBHOOK_SWEEP_EVERY_S": 0.2}, name="review-appeals")


@pytest.fixture()
def receiver():
    r = Receiver([SECRET]).start()
    yield r
    r.stop()


def _events(receiver: Receiver, n: int) -> dict[str, dict]:
    got = receiver.wait_for(n, timeout=30)
    assert all(any(e["verified"]) for e in got)  # signed with the tenant's secret
    return {json.loads(e["body"])["type"]: json.loads(e["body"]) for e in got}


def test_decision_appeal_overturn_webhooks_and_final_verdicts(rs, receiver):
    t = Tenant(rs)
    a, b = t.reviewer(), t.reviewer()
    job = t.admin.run({"text": f"{MILD} {time.time()}", "options": REVIEW_ALL,
                       "webhook_url": receiver.url()})
    leased = t.next(a).json()
    d = t.decide(a, leased["id"], leased["lease_token"], "reject", categories=["harassment"],
                 reason="insult")
    assert d.status_code == 200, d.text
    events = _events(receiver, 2)
    decided = events["review.decided"]["data"]
    assert decided["item"]["id"] == leased["id"] and decided["job_ids"] == [job["id"]]
    assert decided["final_verdict"]["verdict"] == "block"
    assert decided["decision"]["decision"] == "reject" and "token" not in decided["decision"]

    appeal = t.admin.post(f"/v1/review/{leased['id']}/appeal",
                          json={"reason": "it was a joke", "appellant": "user-9"})
    assert appeal.status_code == 201, appeal.text
    assert appeal.json()["queue"] == "appeals" and appeal.json()["stage"] == "appeal"
    again = t.admin.post(f"/v1/review/{leased['id']}/appeal", json={"reason": "twice"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_appealed"
    assert t.next(a, "appeals").status_code == 204  # never to the reviewer appealed
    on_appeal = t.next(b, "appeals").json()
    assert on_appeal["id"] == leased["id"] and on_appeal["appeal"]["reason"] == "it was a joke"
    wrong = t.decide(b, leased["id"], on_appeal["lease_token"], "approve")
    assert wrong.status_code == 422
    over = t.decide(b, leased["id"], on_appeal["lease_token"], "overturn", reason="satire")
    assert over.status_code == 200, over.text
    assert over.json()["item"]["final"]["verdict"] == "allow"
    events = _events(receiver, 3)
    assert events["appeal.decided"]["data"]["final_verdict"]["verdict"] == "allow"
    assert events["appeal.decided"]["data"]["decision"]["decision"] == "overturn"
    final = t.admin.get(f"/v1/jobs/{job['id']}").json()["final_verdict"]
    assert final == {**final, "verdict": "allow", "decided_by": "review",
                     "decision": "overturn"}
    m = t.admin.get("/v1/review/metrics").json()
    assert m["overturn_rate"] == 1.0 and m["appeals_decided"] == 1
    assert m["time_to_decision_s"]["samples"] == 1 and m["time_to_decision_s"]["p50"] >= 0


def test_the_appeal_window_closes(rs):
    t = Tenant(rs)
    rs.services.auth.settings.update(t.name, {"REVIEW_APPEAL_WINDOW_S": 0})
    item = t.item()
    leased = t.next(t.admin).json()
    t.decide(t.admin, item["id"], leased["lease_token"], "approve")
    time.sleep(0.01)
    r = t.admin.post(f"/v1/review/{item['id']}/appeal", json={"reason": "late"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "appeal_window_closed"
    fresh = t.item()
    r = t.admin.post(f"/v1/review/{fresh['id']}/appeal", json={"reason": "early"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_decided"


def test_escalate_moves_the_item_to_another_queue(rs):
    t = Tenant(rs)
    item = t.item()
    leased = t.next(t.admin).json()
    r = t.decide(t.admin, item["id"], leased["lease_token"], "escalate", queue="seniors")
    assert r.status_code == 200 and r.json()["item"]["queue"] == "seniors"
    assert r.json()["item"]["status"] == "open"
    senior = t.next(t.admin, "seniors").json()
    assert senior["id"] == item["id"]
    assert t.decide(t.admin, item["id"], senior["lease_token"], "approve").status_code == 200


def test_sampled_verdicts_are_double_reviewed_for_agreement(rs):
    t = Tenant(rs)
    rs.services.auth.settings.update(t.name, {"REVIEW_SAMPLE_RATE": 1.0})
    a, b = t.reviewer(), t.reviewer()
    item = t.item(verdict="allow", scores={"hate": 0.01})
    assert item["source"] == "sample" and item["sample"] is True
    first = t.next(a).json()
    assert t.decide(a, item["id"], first["lease_token"], "approve").json()["item"]["status"] \
        == "open"
    assert t.next(a).status_code == 204  # the second review is someone else's
    second = t.next(b).json()
    done = t.decide(b, item["id"], second["lease_token"], "reject").json()["item"]
    assert done["status"] == "decided" and done["final"]["verdict"] == "block"
    m = t.admin.get("/v1/review/metrics").json()
    assert m["double_reviewed"] == 1 and m["agreement_rate"] == 0.0


def _rewrite(r, stream: str, edit) -> None:
    entries = r.xrange(stream)
    r.delete(stream)
    for eid, fields in entries:
        fields = {k.decode(): v.decode() for k, v in fields.items()}
        edit(eid.decode(), fields)
        r.xadd(stream, fields, id=eid)


def test_every_step_is_in_the_audit_chain_and_an_edit_is_detected(rs):
    t = Tenant(rs)
    job = t.admin.run({"text": f"{MILD} {time.time()}", "options": REVIEW_ALL})
    leased = t.next(t.admin).json()
    t.admin.post(f"/v1/review/{leased['id']}/reveal")
    t.decide(t.admin, leased["id"], leased["lease_token"], "reject")
    by_job = t.admin.get(f"/v1/audit?job={job['id']}").json()["data"]
    types = [e["event"]["type"] for e in by_job]
    assert types == ["moderation.verdict", "review.item_created", "review.lease",
                     "review.reveal", "review.decision"]
    export = t.admin.get(f"/v1/audit?item={leased['id']}&format=jsonl")
    assert export.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(x) for x in export.text.splitlines()]
    assert [x["event"]["type"] for x in lines] == types[1:]
    assert t.admin.get("/v1/audit/verify").json()["ok"] is True

    decision_id = by_job[-1]["id"]
    stream = rs.services.store.keys.audit(t.name)

    def edit(eid, fields):
        if eid == decision_id:  # someone turns the reject into an approve
            event = json.loads(fields["event"])
            event["decision"] = "approve"
            fields["event"] = json.dumps(event, sort_keys=True, separators=(",", ":"))
    _rewrite(rs.redis, stream, edit)
    verdict = t.admin.get("/v1/audit/verify").json()
    assert verdict == {**verdict, "ok": False, "first_bad_id": decision_id}
