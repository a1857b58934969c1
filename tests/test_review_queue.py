"""The review queue through its API, on a real worker, Redis and webhook receiver: routing,
order, dedupe, 50 concurrent claimers, lease expiry, stale tokens, idempotent decisions, skip,
release, exposure cap, reports, bulk, metrics, tenant isolation."""
from __future__ import annotations

import threading
import time

import pytest

from review_env import MILD, REVIEW_ALL, Tenant


@pytest.fixture(scope="module")
def rs(module_stack):
    return module_stack(cfg={"REVIEW_EXPOSURE_HIGH_PER_HOUR": 2}, name="review-q")


def test_a_review_verdict_makes_an_item_and_the_job_points_nowhere_else(rs):
    t = Tenant(rs)
    job = t.admin.run({"text": f"{MILD} {time.time()}", "options": REVIEW_ALL})
    assert job["results"]["moderation"]["verdict"] == "review"
    got = t.next(t.admin)
    assert got.status_code == 200, got.text
    item = got.json()
    assert item["jobs"] == [job["id"]] and item["source"] == "verdict"
    assert item["content"]["sha256"] == job["input"]["sha256"]
    assert item["content"]["text"].startswith(MILD)
    assert item["lease"]["token"] == item["lease_token"] and item["lease"]["fence"] >= 1
    assert item["policy"]["version"] == 0 and "harassment" in item["category_scores"]
    # an allow verdict makes no item
    t.admin.run({"text": "have a lovely day"})
    assert t.next(t.admin).status_code == 204


def test_routing_first_match_and_queue_settings(rs):
    t = Tenant(rs)
    rules = {"rules": [{"category": "violence", "queue": "violence"},
                       {"severity": "high", "queue": "urgent"},
                       {"kind": "image", "queue": "images"}],
             "default_queue": "general", "queues": {"urgent": {"sla_s": 60}}}
    put = t.admin.s.put(t.admin.url("/v1/review/routing"), json=rules, timeout=10)
    assert put.status_code == 200, put.text
    assert t.item(scores={"violence": 0.95})["queue"] == "violence"  # first match wins
    assert t.item(scores={"hate": 0.95})["queue"] == "urgent"
    assert t.item(scores={"hate": 0.1}, kind="image")["queue"] == "images"
    assert t.item(scores={"hate": 0.1})["queue"] == "general"
    queues = {q["name"]: q for q in t.admin.get("/v1/review/queues").json()["data"]}
    assert queues["urgent"]["sla_s"] == 60 and queues["urgent"]["depth"] == 1
    assert queues["general"]["depth"] == 1 and "appeals" in queues
    prom = t.admin.get("/metrics").text
    assert f'mms_review_queue_depth{{queue="urgent",tenant="{t.name}"}} 1.0' in prom
    assert f'mms_review_oldest_age_seconds{{queue="urgent",tenant="{t.name}"}}' in prom
    bad = t.admin.s.put(t.admin.url("/v1/review/routing"),
                        json={**rules, "rules": [{"queue": "x", "kind": "video"}]}, timeout=10)
    assert bad.status_code == 422 and bad.json()["error"]["field"].startswith("rules")


def test_order_severity_then_score_then_reports_then_age(rs):
    t = Tenant(rs)
    old_low = t.item(scores={"hate": 0.1})
    mid = t.item(scores={"hate": 0.5})
    high = t.item(scores={"hate": 0.9})
    high2 = t.item(scores={"hate": 0.95})
    reported = t.item(scores={"hate": 0.5})
    t.ctx.r.rpush(t.ctx.k("reported", reported["content"]["sha256"]),
                  '{"id": "rpt_1", "reporter_id": "u1", "reason": "spam"}')
    t.item(text=reported["content"]["text"], scores={"hate": 0.5})  # a job joins with a report
    order = []
    while True:
        r = t.next(t.admin)
        if r.status_code == 204:
            break
        order.append(r.json()["id"])
    assert order == [high2["id"], high["id"], reported["id"], mid["id"], old_low["id"]]


def test_same_content_is_one_open_item_and_joins_raise_priority(rs):
    t = Tenant(rs)
    first = t.item(text="the same words")
    again = t.item(text="the same words")
    assert again["id"] == first["id"] and len(again["jobs"]) == 2
    rep = t.admin.post("/v1/reports", json={"text": "the same words", "reason": "abuse",
                                            "reporter_id": "user-7"})
    assert rep.status_code == 201 and rep.json()["item_id"] == first["id"]
    item = t.admin.get(f"/v1/review/{first['id']}").json()
    assert item["report_count"] == 1 and item["priority"] > first["priority"]
    assert [h["event"] for h in item["history"]] == ["created", "joined", "joined"]


def test_fifty_concurrent_claimers_get_every_item_once(rs):
    t = Tenant(rs)
    made = {t.item()["id"] for _ in range(30)}
    reviewers = [t.reviewer() for _ in range(10)]
    got: list[str] = []
    statuses: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(50)

    def claim(i: int) -> None:
        start.wait()
        r = t.next(reviewers[i % 10])
        with lock:
            statuses.append(r.status_code)
            if r.status_code == 200:
                got.append(r.json()["id"])

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(50)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert sorted(statuses) == [200] * 30 + [204] * 20
    assert len(got) == len(set(got)) == 30 and set(got) == made


def test_lease_expiry_returns_the_item_and_the_old_token_is_stale(rs):
    t = Tenant(rs)
    a, b = t.reviewer(), t.reviewer()
    item = t.item()
    first = t.next(a).json()
    assert t.next(b).status_code == 204  # held
    t.ctx.r.pexpire(t.ctx.k("lease", item["id"]), 1)  # the lease's time runs out
    time.sleep(0.05)
    second = t.next(b).json()
    assert second["id"] == item["id"] and second["lease"]["fence"] > first["lease"]["fence"]
    late = t.decide(a, item["id"], first["lease_token"], "approve")
    assert late.status_code == 409 and late.json()["error"]["code"] == "lease_stale"
    assert t.decide(b, item["id"], second["lease_token"], "reject").status_code == 200
    assert t.admin.get("/v1/review/metrics").json()["lease_expiries"] == 1
    assert f'mms_review_events_total{{event="lease_expiries",tenant="{t.name}"}} 1.0' in \
        t.admin.get("/metrics").text


def test_decision_is_idempotent_on_its_token_and_sets_final_verdict(rs):
    t = Tenant(rs)
    job = t.admin.run({"text": f"{MILD} {time.time()}", "options": REVIEW_ALL})
    leased = t.next(t.admin).json()
    body = {"categories": ["harassment"], "reason": "insult", "note": "n"}
    one = t.decide(t.admin, leased["id"], leased["lease_token"], "reject", **body)
    two = t.decide(t.admin, leased["id"], leased["lease_token"], "reject", **body)
    assert one.status_code == two.status_code == 200, one.text
    assert one.json()["decision"] == two.json()["decision"]
    assert "token" not in one.json()["decision"]
    other = t.decide(t.admin, leased["id"], leased["lease_token"], "approve")
    assert other.status_code == 409 and other.json()["error"]["code"] == "decision_conflict"
    stale = t.decide(t.admin, leased["id"], "1.not-a-token", "reject")
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "review_item_closed"
    final = t.admin.get(f"/v1/jobs/{job['id']}").json()["final_verdict"]
    assert final["verdict"] == "block" and final["decided_by"] == "review"
    assert final["review_item"] == leased["id"]


def test_bad_input_is_a_clear_4xx(rs):
    t = Tenant(rs)
    item = t.item()
    leased = t.next(t.admin).json()
    r = t.admin.post(f"/v1/review/{item['id']}/decision", json={"decision": "maybe",
                                                                "lease_token": "x"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "decision"
    r = t.admin.post(f"/v1/review/{item['id']}/decision", json={
        "decision": "reject", "lease_token": leased["lease_token"], "lease_tokn": "x"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_field"
    r = t.decide(t.admin, item["id"], leased["lease_token"], "overturn")
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_decision"
    assert t.admin.post("/v1/review/queues/Bad Name!/next", json={}).status_code == 422
    assert t.admin.get("/v1/review/rev_nope").status_code == 404
    r = t.admin.post("/v1/reports", json={"reason": "x", "reporter_id": "u"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "job_id"
    r = t.admin.post("/v1/reports", json={"job_id": "job_missing", "reason": "x",
                                          "reporter_id": "u"})
    assert r.status_code == 404


def test_reason_required_per_queue(rs):
    t = Tenant(rs)
    t.admin.s.put(t.admin.url("/v1/review/routing"), json={
        "rules": [], "default_queue": "strict", "queues": {"strict": {"reason_required": True}}},
        timeout=10)
    item = t.item()
    leased = t.next(t.admin, "strict").json()
    r = t.decide(t.admin, item["id"], leased["lease_token"], "approve")
    assert r.status_code == 422 and r.json()["error"]["field"] == "reason"
    assert t.decide(t.admin, item["id"], leased["lease_token"], "approve",
                    reason="fine").status_code == 200


def test_skip_is_never_offered_again_and_release_needs_the_holder_or_an_admin(rs):
    t = Tenant(rs)
    a, b = t.reviewer(), t.reviewer()
    item = t.item()
    leased = t.next(a).json()
    assert a.post(f"/v1/review/{item['id']}/skip",
                  json={"lease_token": leased["lease_token"]}).status_code == 200
    assert t.next(a).status_code == 204  # skipped: not for a again
    held = t.next(b).json()
    assert held["id"] == item["id"]
    assert a.post(f"/v1/review/{item['id']}/release", json={}).status_code == 403
    assert a.post(f"/v1/review/{item['id']}/release",
                  json={"lease_token": leased["lease_token"]}).status_code == 409
    assert t.admin.post(f"/v1/review/{item['id']}/release", json={}).status_code == 200
    assert t.next(b).json()["id"] == item["id"]
    types = [e["event"]["type"] for e in t.admin.get(
        f"/v1/audit?item={item['id']}&limit=50").json()["data"]]
    assert types.count("review.lease") == 3 and "review.skip" in types
    assert "review.release" in types


def test_renew_extends_the_holders_lease_only(rs):
    t = Tenant(rs)
    item = t.item()
    leased = t.next(t.admin).json()
    t.ctx.r.pexpire(t.ctx.k("lease", item["id"]), 5000)
    r = t.admin.post(f"/v1/review/{item['id']}/renew", json={"lease_token": leased["lease_token"]})
    assert r.status_code == 200 and t.ctx.r.pttl(t.ctx.k("lease", item["id"])) > 500_000
    assert t.admin.post(f"/v1/review/{item['id']}/renew",
                        json={"lease_token": "9.other"}).status_code == 409


def test_exposure_cap_offers_milder_items_then_nothing(rs):
    t = Tenant(rs)  # the stack caps high-severity items at 2 per reviewer per hour
    highs = [t.item(scores={"violence": 0.9 + i / 100}) for i in range(3)]
    low = t.item(scores={"violence": 0.1})
    a = t.reviewer()
    got = [t.next(a).json() for _ in range(3)]
    assert [g["id"] for g in got] == [highs[2]["id"], highs[1]["id"], low["id"]]
    assert [g["exposure"]["capped"] for g in got] == [False, False, True]
    assert t.next(a).status_code == 204  # only a high-severity item is left
    assert t.next(t.reviewer()).json()["id"] == highs[0]["id"]  # another reviewer gets it


def test_a_report_of_unseen_content_is_moderated_then_queued(rs):
    t = Tenant(rs)
    text = f"perfectly friendly words {time.time()}"
    r = t.admin.post("/v1/reports", json={"text": text, "reason": "spam",
                                          "reporter_id": "user-1"})
    assert r.status_code == 202 and r.json()["status"] == "moderating", r.text
    job = t.admin.poll(r.json()["job_id"])
    assert job["results"]["moderation"]["verdict"] == "allow"  # queued all the same
    item = t.next(t.admin).json()
    assert item["source"] == "report" and item["reports"][0]["reporter_id"] == "user-1"
    assert item["jobs"] == [job["id"]]
    # a report of a known job joins the same open item
    r = t.admin.post("/v1/reports", json={"job_id": job["id"], "reason": "again",
                                          "reporter_id": "user-2"})
    assert r.status_code == 201 and r.json()["item_id"] == item["id"]


def test_bulk_counts_then_applies_with_the_count(rs):
    t = Tenant(rs)
    hit = {"list": "raid", "kind": "terms", "action": "review", "item_id": "itm_x",
           "input": "text"}
    marked = [t.item(lists=[hit]) for _ in range(3)]
    other = t.item()
    body = {"filter": {"list_item": "itm_x"}, "decision": "reject", "reason": "raid"}
    reviewer = t.reviewer()
    assert reviewer.post("/v1/review/bulk", json=body).status_code == 403
    count = t.admin.post("/v1/review/bulk", json=body).json()
    assert count["count"] == 3 and count["applied"] == 0
    wrong = t.admin.post("/v1/review/bulk", json={**body, "confirm_count": 2})
    assert wrong.status_code == 409 and wrong.json()["error"]["count"] == 3
    done = t.admin.post("/v1/review/bulk", json={**body, "confirm_count": 3}).json()
    assert sorted(done["item_ids"]) == sorted(i["id"] for i in marked)
    assert t.next(t.admin).json()["id"] == other["id"]
    types = [e["event"]["type"] for e in t.admin.get("/v1/audit?type=review&limit=500").json()
             ["data"]]
    assert "review.bulk" in types and types.count("review.decision") == 3


def test_tenants_are_isolated(rs):
    t, other = Tenant(rs), Tenant(rs)
    item = t.item()
    leased = t.next(t.admin).json()
    assert other.admin.get(f"/v1/review/{item['id']}").status_code == 404
    r = other.decide(other.admin, item["id"], leased["lease_token"], "approve")
    assert r.status_code == 404
    assert other.admin.post(f"/v1/review/{item['id']}/appeal",
                            json={"reason": "x"}).status_code == 404
    assert other.next(other.admin).status_code == 204
    assert all(q["depth"] == 0 for q in other.admin.get("/v1/review/queues").json()["data"])
    assert other.admin.get(f"/v1/audit?item={item['id']}").json()["data"] == []
    submit_only = t.reviewer(scopes=("submit",))
    assert submit_only.post("/v1/review/queues/default/next", json={}).status_code == 403


def test_an_item_opened_by_a_report_takes_its_scores_when_moderated(rs):
    import hashlib

    from mmservice import review
    from mmservice.review import enqueue

    t = Tenant(rs)
    text = f"reported before moderated {time.time()}"
    job = {"id": "job_early" + str(int(time.time() * 1000)), "tenant": t.name,
           "input": {"kind": "text", "sha256": hashlib.sha256(text.encode()).hexdigest()},
           "_text": text}
    early = enqueue.create_or_join(t.ctx, job=job, result=None, source="report",
                                   sha=job["input"]["sha256"],
                                   reports=[{"id": "rpt_e", "reporter_id": "u", "reason": "x"}])
    assert early["category_scores"] == {} and early["severity"] == "low"
    later = review.from_verdict(rs.services.deps, job, {
        "verdict": "review", "category_scores": {"hate": 0.95}, "categories": {"hate": True},
        "policy": {"name": "builtin", "version": 0}})
    assert later["id"] == early["id"] and later["jobs"] == [job["id"]]
    assert later["severity"] == "high" and later["top_category"] == "hate"
    assert later["priority"] > early["priority"]
