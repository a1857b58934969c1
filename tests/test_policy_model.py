"""The policy decision as plain functions: per-kind lines, `unassessed`, overrides on top, the
builtin policy deciding exactly as the thresholds always did, and re-deciding stored results."""
from __future__ import annotations

from mmservice.moderation.policy import default_thresholds, verdict
from mmservice.policies import backtest
from mmservice.policies.model import ANY_KIND, Policy, stored_scores
from mmservice.providers.base import RawModeration

CFG = {"THRESHOLDS_REVIEW": 0.5, "THRESHOLDS_BLOCK": 0.85, "THRESHOLDS": ""}
BASE = default_thresholds(CFG)


def raw(scores: dict) -> RawModeration:
    return RawModeration(category_scores=scores, assessed_categories=list(scores), model="m",
                         provider="p")


def policy(**kw) -> Policy:
    return Policy.from_record({"name": "p", "version": 3, **kw}, BASE)


def test_builtin_decides_exactly_as_the_thresholds_did():
    raws = [raw({"hate": 0.6, "violence": 0.1}), raw({"hate": 0.2, "sexual": 0.9})]
    old = verdict(raws, cfg=CFG, overrides={"violence": 0.05}, inputs=["text"])
    new = Policy.builtin(BASE, {"violence": 0.05}).decide(raws, ["text"], ["text", "text"])
    for k in ("verdict", "flagged", "categories", "category_scores", "assessed_categories",
              "thresholds"):
        assert new[k] == old[k], k
    assert new["policy"] == {"name": "builtin", "version": 0} and new["decided_by"] == "policy"


def test_each_kind_is_judged_with_its_own_lines():
    p = policy(thresholds={"sexual": {"review": 0.3, "block": 0.6}},
               by_kind={"image": {"sexual": {"review": 0.8, "block": 0.95}}})
    assert p.lines("image")["sexual"] == {"review": 0.8, "block": 0.95}
    assert p.lines("text")["sexual"] == {"review": 0.3, "block": 0.6}
    assert p.lines("text")["hate"] == {"review": 0.5, "block": 0.85}  # settings lines
    res = p.decide([raw({"sexual": 0.7}), raw({"sexual": 0.4})], ["text", "image"],
                   ["image", "text"])
    assert res["verdict"] == "review"  # image 0.7 < 0.8; text 0.4 >= 0.3
    assert res["scores_by_kind"] == {"image": {"sexual": 0.7}, "text": {"sexual": 0.4}}
    assert p.judge({"image": {"sexual": 0.96}})["verdict"] == "block"
    assert p.judge({ANY_KIND: {"sexual": 0.7}})["verdict"] == "block"  # base + thresholds


def test_the_jobs_overrides_go_on_top_of_every_kind():
    p = Policy.from_record({"name": "p", "version": 1,
                            "by_kind": {"text": {"hate": {"review": 0.9, "block": 0.95}}}},
                           BASE, {"hate": {"review": 0.1, "block": 0.2}})
    assert p.judge({"text": {"hate": 0.3}})["verdict"] == "block"


def test_unassessed_sends_to_review_only_when_the_policy_says_so():
    named = {"sexual/minors": {"review": 0.05, "block": 0.2}}
    strict = policy(thresholds=named, unassessed="review")
    res = strict.decide([raw({"harassment": 0.01})], ["text"], ["text"])
    assert res["verdict"] == "review" and res["unassessed"] == ["sexual/minors"]
    assert res["flagged"] is True and res["categories"] == {"harassment": False}
    assert policy(thresholds=named).decide([raw({"harassment": 0.01})], ["text"],
                                           ["text"])["verdict"] == "allow"
    # Assessed by any piece is assessed; nothing judged (silence) is not a review.
    both = strict.decide([raw({"harassment": 0.01}), raw({"sexual/minors": 0.0})],
                         ["text", "image"], ["text", "image"])
    assert both["verdict"] == "allow" and "unassessed" not in both
    assert strict.decide([], ["transcript"], [])["verdict"] == "allow"
    # A block stays a block.
    assert strict.judge({"text": {"hate": 0.9}})["verdict"] == "block"


def test_stored_results_are_re_decided_from_their_scores():
    new = {"scores_by_kind": {"image": {"sexual": 0.7}}, "category_scores": {"sexual": 0.7}}
    assert stored_scores(new) == {"image": {"sexual": 0.7}}
    legacy = {"category_scores": {"hate": 0.6}, "inputs": ["text"]}
    assert stored_scores(legacy) == {"text": {"hate": 0.6}}
    assert stored_scores({"category_scores": {"hate": 0.6}, "inputs": ["text", "image"]}) == \
        {ANY_KIND: {"hate": 0.6}}
    assert stored_scores({"category_scores": {}}) == {}

    def job(i, verdict_, scores, decided_by="policy"):
        return {"id": f"j{i}", "results": {"moderation": {
            "verdict": verdict_, "scores_by_kind": {"text": scores}, "decided_by": decided_by,
            "category_scores": scores}}}
    jobs = [job(1, "allow", {"hate": 0.3}), job(2, "allow", {"hate": 0.35}),
            job(3, "block", {"hate": 0.9}), job(4, "block", {"hate": 0.1}, "list"),
            {"id": "j5", "results": {}}]
    out = backtest.run(jobs, lambda j: policy(thresholds={"hate": {"review": 0.2,
                                                                   "block": 0.95}}))
    assert out == {"jobs": 3, "unchanged": 0, "skipped": 2,
                   "changes": {"allow->review": 2, "block->review": 1},
                   "examples": {"allow->review": ["j1", "j2"], "block->review": ["j3"]}}
