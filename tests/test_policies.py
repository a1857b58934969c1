"""Policies through the API with a real worker and the devstub: validation, versions, the
default policy, `options.policy`, shadow verdicts, per-kind lines, and the OpenAPI document.

Scores are set exactly with the devstub's `[[score:hate=0.7]]` marker; the settings lines are
the defaults (review 0.5, block 0.85).
"""
from __future__ import annotations

import pytest
import requests

from mmservice.auth.keystore import SCOPES
from mmservice.testing.client import Client
from test_openapi import Spec, _checked

STRICT = {"thresholds": {"hate": {"review": 0.2, "block": 0.6}}}


@pytest.fixture(scope="module")
def s(module_stack):
    return module_stack(name="pol")


def tenant_client(s, tenant: str) -> Client:
    key, _ = s.services.auth.keys.create(tenant, SCOPES)
    return Client(s.api_url, key)


def hate(score: float) -> dict:
    return {"text": f"some words [[score:hate={score}]]"}


def moderation(c: Client, payload: dict) -> dict:
    job = c.run(payload)
    assert job["status"] == "succeeded", job
    return job["results"]["moderation"]


def put(c: Client, name: str, body: dict):
    return c.s.put(c.url(f"/v1/policies/{name}"), json=body, timeout=30)


@pytest.mark.parametrize("body,field,code", [
    ({"thresholds": {"hate": {"review": 1.5, "block": 1.6}}}, "thresholds.hate.review",
     "validation_error"),
    ({"thresholds": {"hate": {"review": 0.9, "block": 0.5}}}, "thresholds.hate.review",
     "validation_error"),
    ({"thresholds": {"hate": {"review": 0.1}}}, "thresholds.hate.block", "validation_error"),
    ({"thresholds": {"hateful": {"review": 0.1, "block": 0.2}}}, "thresholds.hateful",
     "validation_error"),
    ({"by_kind": {"audio": {"hate": {"review": 0.1, "block": 0.2}}}}, "by_kind.audio",
     "validation_error"),
    ({"by_kind": {"image": {"sexual": {"review": 0.7, "block": 0.2}}}},
     "by_kind.image.sexual.review", "validation_error"),
    ({"lists": ["no-such-list"]}, "lists", "list_not_found"),
    ({"mode": "sometimes"}, "mode", "validation_error"),
    ({"unassessed": "block"}, "unassessed", "validation_error"),
    ({"mode": "shadow", "default": True}, "default", "validation_error"),
    ({"thresholds": {}, "colour": "red"}, "colour", "unknown_field"),
])
def test_invalid_policies_are_refused_naming_the_field(s, body, field, code):
    c = tenant_client(s, "val")
    r = put(c, "p1", body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field and r.json()["error"]["code"] == code, r.text
    assert c.get("/v1/policies/p1").status_code == 404  # nothing stored


def test_lists_are_checked_against_the_tenants_list_names(s):
    c = tenant_client(s, "val-lists")
    s.redis.sadd(s.services.store.keys.list_names("val-lists"), "known-bad")
    assert put(c, "p1", {"lists": ["known-bad"]}).status_code == 200
    r = put(c, "p2", {"lists": ["known-bad", "other"]})
    assert r.status_code == 422 and "'other'" in r.json()["error"]["message"]
    other = tenant_client(s, "val-lists-2")  # another tenant's list name is unknown here
    assert put(other, "p1", {"lists": ["known-bad"]}).json()["error"]["field"] == "lists"


def test_bad_names_and_the_builtin_policy(s):
    c = tenant_client(s, "names")
    assert put(c, "Bad Name", STRICT).json()["error"]["field"] == "name"
    assert put(c, "builtin", STRICT).json()["error"]["code"] == "policy_builtin"
    assert c.delete("/v1/policies/builtin").status_code == 422
    got = c.get("/v1/policies/builtin").json()
    assert got["version"] == 0 and got["default"] is True and len(got["thresholds"]) == 13
    assert got["thresholds"]["hate"] == {"review": 0.5, "block": 0.85}
    assert c.get("/v1/policies").json() == {"data": [], "default": "builtin"}


def test_every_put_is_a_new_version_and_results_cite_theirs(s):
    c = tenant_client(s, "ver")
    v1 = put(c, "strict", STRICT)
    assert v1.status_code == 200 and v1.json()["version"] == 1
    v2 = put(c, "strict", {"thresholds": {"hate": {"review": 0.3, "block": 0.65}}})
    assert v2.json()["version"] == 2 and v2.json()["actor"].startswith("mms_")
    latest = c.get("/v1/policies/strict").json()
    assert latest["version"] == 2 and latest["latest_version"] == 2
    assert latest["thresholds"]["hate"] == {"review": 0.3, "block": 0.65}
    old = c.get("/v1/policies/strict/versions/1").json()
    assert old["version"] == 1 and old["thresholds"]["hate"] == {"review": 0.2, "block": 0.6}
    assert c.get("/v1/policies/strict/versions/3").json()["error"]["code"] == \
        "policy_version_not_found"

    # A job submitted now is judged by v2, even when v3 arrives before it runs.
    mod = moderation(c, {**hate(0.62), "options": {"policy": "strict"}})
    assert mod["policy"] == {"name": "strict", "version": 2} and mod["decided_by"] == "policy"
    assert mod["verdict"] == "review"  # v1 would have blocked at 0.6
    put(c, "strict", {"thresholds": {"hate": {"review": 0.1, "block": 0.15}}})
    assert moderation(c, {**hate(0.62), "options": {"policy": "strict"}})["verdict"] == "block"

    # DELETE: no new job may name it, but every version stays readable.
    gone = c.delete("/v1/policies/strict")
    assert gone.status_code == 200 and gone.json()["deleted_at"]
    assert c.get("/v1/policies/strict").status_code == 404
    assert c.get("/v1/policies/strict/versions/2").json()["deleted_at"]
    r = c.submit({**hate(0.1), "options": {"policy": "strict"}})
    assert r.status_code == 422 and r.json()["error"]["field"] == "options.policy"
    assert c.delete("/v1/policies/strict").status_code == 404
    # A PUT brings it back as the next version.
    assert put(c, "strict", STRICT).json()["version"] == 4


def test_the_default_policy_judges_jobs_and_options_pick_another(s):
    c = tenant_client(s, "dflt")
    mod = moderation(c, hate(0.7))
    assert mod["policy"] == {"name": "builtin", "version": 0} and mod["verdict"] == "review"
    assert put(c, "lenient", {"thresholds": {"hate": {"review": 0.95, "block": 0.99}},
                              "default": True}).json()["default"] is True
    assert put(c, "strict", STRICT).json()["default"] is False
    listing = c.get("/v1/policies").json()
    assert listing["default"] == "lenient" and [p["name"] for p in listing["data"]] == \
        ["lenient", "strict"]
    mod = moderation(c, hate(0.7))
    assert mod["policy"] == {"name": "lenient", "version": 1} and mod["verdict"] == "allow"
    assert moderation(c, {**hate(0.7), "options": {"policy": "strict"}})["verdict"] == "block"
    assert moderation(c, {**hate(0.7), "options": {"policy": "builtin"}})["verdict"] == "review"
    # options.thresholds still override, on top of the policy.
    mod = moderation(c, {**hate(0.7), "options": {"thresholds": {"hate": 0.6}}})
    assert mod["verdict"] == "review" and mod["policy"]["name"] == "lenient"
    r = c.submit({**hate(0.7), "options": {"policy": "nope"}})
    assert r.status_code == 422 and r.json()["error"] == {
        "code": "policy_not_found", "message": "no policy 'nope'", "field": "options.policy"}
    # Moving the default is one PUT; `default: false` drops it (back to builtin).
    assert put(c, "strict", {**STRICT, "default": True}).json()["default"] is True
    assert c.get("/v1/policies/lenient").json()["default"] is False
    assert moderation(c, hate(0.7))["policy"] == {"name": "strict", "version": 2}
    put(c, "strict", {**STRICT, "default": False})
    assert c.get("/v1/policies").json()["default"] == "builtin"
    assert moderation(c, hate(0.7))["policy"]["name"] == "builtin"


def test_per_kind_lines_and_unassessed_review(s):
    c = tenant_client(s, "kinds")
    put(c, "k", {"thresholds": {"hate": {"review": 0.2, "block": 0.6}},
                 "by_kind": {"text": {"hate": {"review": 0.95, "block": 0.99}}}})
    mod = moderation(c, {**hate(0.7), "options": {"policy": "k"}})
    assert mod["verdict"] == "allow" and mod["scores_by_kind"]["text"]["hate"] == 0.7
    # The devstub assesses all 13 categories for text: nothing is unassessed.
    put(c, "u", {"thresholds": {"hate": {"review": 0.9, "block": 0.95}},
                 "unassessed": "review"})
    mod = moderation(c, {**hate(0.1), "options": {"policy": "u"}})
    assert mod["verdict"] == "allow" and "unassessed" not in mod


def test_shadow_policies_are_recorded_beside_the_live_verdict(s):
    c = tenant_client(s, "shadow")
    assert put(c, "candidate", {**STRICT, "mode": "shadow"}).status_code == 200
    put(c, "quiet", {"thresholds": {"hate": {"review": 0.6, "block": 0.9}}, "mode": "shadow"})
    mod = moderation(c, hate(0.7))
    assert mod["verdict"] == "review" and mod["policy"]["name"] == "builtin"
    assert mod["shadow"] == [
        {"policy": {"name": "candidate", "version": 1}, "verdict": "block",
         "flagged_categories": ["hate"]},
        {"policy": {"name": "quiet", "version": 1}, "verdict": "review",
         "flagged_categories": ["hate"]}]
    r = c.submit({**hate(0.7), "options": {"policy": "candidate"}})
    assert r.status_code == 422 and r.json()["error"]["code"] == "policy_in_shadow"
    text = s.client.get("/metrics").text
    assert ('mms_policy_shadow_verdicts_total{outcome="disagree",policy="candidate",'
            'tenant="shadow"} 1.0') in text, [ln for ln in text.splitlines() if "shadow" in ln]
    assert 'policy="quiet",tenant="shadow"} 1.0' in text
    # Going live takes it out of the shadows.
    put(c, "candidate", STRICT)
    assert [x["policy"]["name"] for x in moderation(c, hate(0.7))["shadow"]] == ["quiet"]
    c.delete("/v1/policies/quiet")
    assert "shadow" not in moderation(c, hate(0.7))


def test_policy_answers_fit_the_openapi_document(s):
    spec = Spec(requests.get(s.api_url + "/openapi.json", timeout=10).json())
    c = tenant_client(s, "oa")
    one, ver = "/v1/policies/{policy_name}", "/v1/policies/{policy_name}/versions/{version}"
    _checked(spec, put(c, "p", {**STRICT, "default": True, "by_kind": {
        "image": {"sexual": {"review": 0.3, "block": 0.6}}}}), one, "put")
    _checked(spec, put(c, "p", {"thresholds": {"hate": {"review": 2, "block": 3}}}), one, "put")
    _checked(spec, c.get("/v1/policies"), "/v1/policies")
    _checked(spec, c.get("/v1/policies/p"), one)
    _checked(spec, c.get("/v1/policies/builtin"), one)
    _checked(spec, c.get("/v1/policies/p/versions/1"), ver)
    _checked(spec, c.get("/v1/policies/p/versions/7"), ver)
    job = c.run({**hate(0.7)})
    _checked(spec, c.get(f"/v1/jobs/{job['id']}"), "/v1/jobs/{job_id}")
    _checked(spec, c.post("/v1/policies/p/backtest"), one + "/backtest", "post")
    _checked(spec, c.get("/v1/audit?type=policy"), "/v1/audit")
    _checked(spec, c.get("/v1/audit/verify"), "/v1/audit/verify")
    _checked(spec, c.delete("/v1/policies/p"), one, "delete")
    _checked(spec, c.get("/v1/policies/p"), one)


def test_an_image_and_its_text_are_judged_each_with_their_kinds_lines(s):
    import base64

    import mediagen

    c = tenant_client(s, "img")
    png = base64.b64encode(mediagen.image()).decode()  # red: the devstub scores sexual ~0.9
    job = {"image_url": f"data:image/png;base64,{png}", "text": "a caption [[score:sexual=0.6]]"}
    mod = moderation(c, job)
    assert mod["verdict"] == "block" and set(mod["scores_by_kind"]) == {"image", "text"}
    put(c, "art", {"by_kind": {"image": {"sexual": {"review": 0.95, "block": 0.99}}},
                   "default": True})
    mod = moderation(c, job)  # the image passes its own lines; the caption still reviews
    assert mod["verdict"] == "review" and mod["policy"] == {"name": "art", "version": 1}
    assert mod["scores_by_kind"]["image"]["sexual"] >= 0.9
    assert mod["scores_by_kind"]["text"]["sexual"] == 0.6


def test_an_idempotent_replay_is_answered_after_its_policy_is_deleted(s):
    c = tenant_client(s, "idem")
    put(c, "p", STRICT)
    body = {**hate(0.7), "options": {"policy": "p"}}
    first = c.submit(body, headers={"Idempotency-Key": "k1"})
    assert first.status_code == 202
    c.delete("/v1/policies/p")
    replay = c.submit(body, headers={"Idempotency-Key": "k1"})
    assert replay.status_code == 200 and replay.json()["id"] == first.json()["id"]
    assert c.poll(first.json()["id"])["results"]["moderation"]["policy"] == \
        {"name": "p", "version": 1}
    assert c.submit(body, headers={"Idempotency-Key": "k2"}).status_code == 422
