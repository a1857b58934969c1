"""The moderation policy as plain functions: default thresholds, overrides, merge and verdict."""
from __future__ import annotations

import json

import pytest

from mmservice.moderation.categories import CATEGORIES
from mmservice.moderation.policy import (
    InvalidThresholds,
    default_thresholds,
    effective_thresholds,
    merge,
    verdict,
    with_overrides,
)
from mmservice.providers.base import RawModeration

CFG = {"THRESHOLDS_REVIEW": 0.5, "THRESHOLDS_BLOCK": 0.85, "THRESHOLDS": ""}


def raw(scores: dict, *, model="m", provider="p", upstream=None, usage=None, details=None):
    return RawModeration(category_scores=scores, assessed_categories=list(scores), model=model,
                         provider=provider, upstream_flagged=upstream, usage=usage or {},
                         details=details or {})


def test_providers_base_still_exports_the_categories():
    from mmservice.providers import base

    assert base.CATEGORIES is CATEGORIES
    assert len(CATEGORIES) == 13 and CATEGORIES[0] == "harassment"


def test_default_thresholds_from_cfg_and_json():
    th = default_thresholds({**CFG, "THRESHOLDS": json.dumps(
        {"hate": {"review": 0.3}, "sexual": {"review": 0.2, "block": 0.4, "junk": 1},
         "not-a-category": {"review": 0.1}})})
    assert set(th) == set(CATEGORIES)
    assert th["violence"] == {"review": 0.5, "block": 0.85}
    assert th["hate"] == {"review": 0.3, "block": 0.85}
    assert th["sexual"] == {"review": 0.2, "block": 0.4}
    # An already parsed dict is accepted too, and a call never shares state with the next.
    th2 = default_thresholds({**CFG, "THRESHOLDS": {"hate": {"block": 0.9}}})
    assert th2["hate"] == {"review": 0.5, "block": 0.9}
    th2["hate"]["block"] = 0.1
    assert default_thresholds(CFG)["hate"]["block"] == 0.85


@pytest.mark.parametrize("cfg", [
    {**CFG, "THRESHOLDS_REVIEW": 0.9, "THRESHOLDS_BLOCK": 0.2},
    {**CFG, "THRESHOLDS": json.dumps({"violence": {"review": 0.95}})},
    {**CFG, "THRESHOLDS": json.dumps({"hate": {"review": 0.6, "block": 0.4}})},
])
def test_configured_review_above_block_is_refused(cfg):
    with pytest.raises(InvalidThresholds, match="review threshold above block"):
        default_thresholds(cfg)


def test_start_up_refuses_review_above_block():
    # The API (create_app) and the worker both build their Celery app through make_celery.
    from mmservice.celery_init import make_celery

    with pytest.raises(InvalidThresholds, match="hate"):
        make_celery({**CFG, "THRESHOLDS": json.dumps({"hate": {"review": 0.7, "block": 0.6}})})


def test_malformed_thresholds_json_is_refused():
    with pytest.raises(InvalidThresholds, match="not JSON"):
        default_thresholds({**CFG, "THRESHOLDS": "{hate: 0.3"})


def test_overrides_object_and_bare_number():
    base = default_thresholds(CFG)
    th = with_overrides(base, {"hate": {"review": 0.2}, "violence": 0.3, "sexual": 0.95,
                               "illicit": {"block": 0.6}})
    assert th["hate"] == {"review": 0.2, "block": 0.85}
    # A bare number sets review and raises block to at least that value, never lowers it.
    assert th["violence"] == {"review": 0.3, "block": 0.85}
    assert th["sexual"] == {"review": 0.95, "block": 0.95}
    assert th["illicit"] == {"review": 0.5, "block": 0.6}
    assert base["hate"] == {"review": 0.5, "block": 0.85}  # the defaults are not modified
    assert effective_thresholds(CFG, None) == base


def test_merge_takes_the_max_and_the_union():
    m = merge([raw({"hate": 0.2, "violence": 0.7}), raw({"hate": 0.6, "sexual": 0.1}),
               raw({"harassment": 0.3}, upstream=False)])
    assert m["scores"] == {"hate": 0.6, "violence": 0.7, "sexual": 0.1, "harassment": 0.3}
    assert m["upstream_flagged"] is False
    assert merge([raw({"hate": 0.1})])["upstream_flagged"] is None
    assert merge([raw({"hate": 0.1}, upstream=False), raw({}, upstream=True)])[
        "upstream_flagged"] is True


@pytest.mark.parametrize("score,expected", [(0.1, "allow"), (0.5, "review"), (0.7, "review"),
                                            (0.85, "block"), (0.99, "block")])
def test_verdict_lines(score, expected):
    v = verdict([raw({"hate": score, "violence": 0.0})], cfg=CFG, overrides=None, inputs=["text"])
    assert v["verdict"] == expected
    assert v["flagged"] is (expected != "allow")
    assert v["categories"] == {"hate": expected != "allow", "violence": False}


@pytest.mark.parametrize("overrides", [
    None, {"hate": {"review": 0.9, "block": 0.2}}, {"hate": {"review": 0.95}},
    {"hate": 0.3}, {"hate": {"block": 0.4}}, {"violence": 0.01},
])
@pytest.mark.parametrize("score", [0.0, 0.25, 0.45, 0.5, 0.9, 0.97])
def test_flagged_exactly_when_not_allow(overrides, score):
    v = verdict([raw({"hate": score, "violence": 0.005})], cfg=CFG, overrides=overrides,
                inputs=["text"])
    assert v["flagged"] == (v["verdict"] != "allow")
    assert v["flagged"] == any(v["categories"].values())


def test_block_below_review_still_flags():
    # An override that leaves block below review (here only `review` is raised) cannot give
    # `verdict: block` with `flagged: false` any more.
    v = verdict([raw({"hate": 0.9})], cfg=CFG, overrides={"hate": {"review": 0.95}},
                inputs=["text"])
    assert v["verdict"] == "block" and v["flagged"] is True and v["categories"]["hate"] is True


def test_verdict_result_shape():
    v = verdict([raw({"hate": 0.1234567, "sexual": 0.2}, model="a", provider="x",
                     usage={"characters": 5, "note": "x"}, details={"k": 1}),
                 raw({"hate": 0.05}, model="b", provider="x", usage={"characters": 7},
                     upstream=True)],
                cfg=CFG, overrides={"sexual": 0.1}, inputs=["text", "image"])
    assert v["assessed_categories"] == ["hate", "sexual"]  # OpenAI's order
    assert v["category_scores"] == {"hate": 0.123457, "sexual": 0.2}
    assert v["thresholds"] == {"hate": {"review": 0.5, "block": 0.85},
                               "sexual": {"review": 0.1, "block": 0.85}}
    assert v["verdict"] == "review" and v["categories"] == {"hate": False, "sexual": True}
    assert v["model"] == "a,b" and v["provider"] == "x" and v["inputs"] == ["text", "image"]
    assert v["upstream_flagged"] is True
    assert v["usage"] == {"characters": 12}
    assert v["details"] == [{"k": 1}]


def test_nothing_judged_is_allow():
    v = verdict([], cfg=CFG, overrides=None, inputs=["transcript"])
    assert v["verdict"] == "allow" and v["flagged"] is False and v["categories"] == {}
    assert "usage" not in v and "upstream_flagged" not in v
