"""Backtest: real jobs, decided by the builtin policy, re-decided under a stored policy and a
candidate from the scores their results keep (the devstub counts calls: none are made)."""
from __future__ import annotations

import pytest

from mmservice.auth.keystore import SCOPES
from mmservice.testing.client import Client


@pytest.fixture(scope="module")
def bt(module_stack, stub):
    s = module_stack(name="backtest")
    key, _ = s.services.auth.keys.create("bt", SCOPES)
    c = Client(s.api_url, key)
    ids = {}
    for score in (0.3, 0.6, 0.9, 0.1):  # builtin: allow, review, block, allow
        job = c.run({"text": f"words [[score:hate={score}]]"})
        assert job["status"] == "succeeded"
        ids[score] = job["id"]
    spoken = c.submit({"text": "x", "tasks": ["speak"]})  # no moderation: skipped
    c.poll(spoken.json()["id"])
    put = c.s.put(c.url("/v1/policies/tight"), timeout=10,
                  json={"thresholds": {"hate": {"review": 0.2, "block": 0.5}}})
    assert put.status_code == 200
    return s, c, ids


def test_backtest_of_the_stored_policy_counts_verdict_changes(bt, stub):
    _, c, ids = bt
    calls = len(stub.requests.snapshot())
    r = c.post("/v1/policies/tight/backtest")
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["policy"] == {"name": "tight", "version": 1} and got["candidate"] is False
    assert got["changes"] == {"allow->review": 1, "review->block": 1}
    assert got["examples"] == {"allow->review": [ids[0.3]], "review->block": [ids[0.6]]}
    assert got["unchanged"] == 2 and got["jobs"] == 4 and got["skipped"] == 1
    assert len(stub.requests.snapshot()) == calls  # no model call


def test_backtest_of_a_candidate_body_and_the_window(bt):
    _, c, ids = bt
    cand = {"thresholds": {"hate": {"review": 0.95, "block": 0.99}}}
    got = c.post("/v1/policies/tight/backtest", json=cand).json()
    assert got["candidate"] is True and got["policy"] == {"name": "tight", "version": 0}
    assert got["changes"] == {"review->allow": 1, "block->allow": 1}
    assert got["examples"]["block->allow"] == [ids[0.9]]
    # The newest 3 jobs only (the speak job, then 0.1 and 0.9).
    got = c.post("/v1/policies/tight/backtest?limit=3", json=cand).json()
    assert got["jobs"] + got["skipped"] == 3 and got["changes"] == {"block->allow": 1}
    # The candidate is validated like a PUT; nothing is stored.
    bad = c.post("/v1/policies/tight/backtest",
                 json={"thresholds": {"hate": {"review": 0.9, "block": 0.1}}})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "thresholds.hate.review"
    assert c.get("/v1/policies/tight").json()["version"] == 1
    assert c.post("/v1/policies/tight/backtest?limit=5000").json()["error"]["field"] == "limit"
    assert c.post("/v1/policies/nope/backtest", json=cand).status_code == 404
    # builtin: re-deciding under the lines that decided them changes nothing.
    same = c.post("/v1/policies/builtin/backtest").json()
    assert same["changes"] == {} and same["unchanged"] == 4


def test_a_tenant_backtests_only_its_own_jobs_and_policies(bt):
    s, _, _ = bt
    key, _ = s.services.auth.keys.create("bt-other", SCOPES)
    other = Client(s.api_url, key)
    assert other.post("/v1/policies/tight/backtest").status_code == 404
    other.s.put(other.url("/v1/policies/tight"), timeout=10,
                json={"thresholds": {"hate": {"review": 0.2, "block": 0.5}}})
    got = other.post("/v1/policies/tight/backtest").json()
    assert got["jobs"] == 0 and got["changes"] == {}
