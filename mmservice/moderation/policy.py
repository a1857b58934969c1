"""Scores to verdict: per-category thresholds turn what a provider measured into allow/review/block.

Why our own verdict: the upstream's `flagged` is one model's fixed cut; platforms need their own
lines (a dating app and a children's site differ). Thresholds have documented defaults
(`MMS_THRESHOLDS_REVIEW`, `MMS_THRESHOLDS_BLOCK`, `MMS_THRESHOLDS`) and can be overridden per
request in `options.thresholds`. All threshold rules live here: the defaults, the meaning of an
override, the review <= block check, and the verdict; the request schema and start-up call in.

The result is consistent by construction: a category is flagged when it reached its review or
its block line, and `flagged` is true exactly when the verdict is not `allow`.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mmservice.moderation.categories import CATEGORIES

if TYPE_CHECKING:  # providers depend on this package, not the reverse
    from mmservice.providers.base import RawModeration

Thresholds = dict[str, dict[str, float]]  # category -> {"review": x, "block": y}


class InvalidThresholds(ValueError):
    """A review line above its block line (or a malformed threshold setting)."""


def check_order(th: Mapping[str, Mapping[str, float]], where: str) -> None:
    """Refuse any category whose review threshold is above its block threshold."""
    bad = [c for c, t in th.items()
           if "review" in t and "block" in t and float(t["review"]) > float(t["block"])]
    if bad:
        raise InvalidThresholds(f"{where}: review threshold above block threshold for "
                                + ", ".join(f"{c} ({th[c]['review']} > {th[c]['block']})"
                                            for c in bad))


def default_thresholds(cfg: Mapping[str, Any]) -> Thresholds:
    """Per-category review/block lines from settings: `THRESHOLDS_REVIEW` and `THRESHOLDS_BLOCK`
    for every category, then the `THRESHOLDS` JSON (`{"category": {"review", "block"}}`, a JSON
    string or an already parsed dict) on top. Raises InvalidThresholds when a review line ends
    up above its block line, so a bad setting fails at start-up rather than per job."""
    out = {c: {"review": float(cfg["THRESHOLDS_REVIEW"]), "block": float(cfg["THRESHOLDS_BLOCK"])}
           for c in CATEGORIES}
    raw = cfg.get("THRESHOLDS") or ""
    try:
        extra = json.loads(raw) if isinstance(raw, str) and raw else (raw or {})
    except json.JSONDecodeError as e:
        raise InvalidThresholds(f"THRESHOLDS is not JSON: {e}") from None
    for cat, vals in extra.items():
        if cat in out:
            out[cat].update({k: float(v) for k, v in vals.items() if k in ("review", "block")})
    check_order(out, "configured thresholds")
    return out


def with_overrides(base: Mapping[str, Mapping[str, float]],
                   overrides: Mapping[str, Any] | None) -> Thresholds:
    """`base` with a request's `options.thresholds` applied (a new dict; `base` is untouched).

    Per category, a `{"review"?, "block"?}` object sets the lines it names; a bare number sets
    the review line and raises the block line to at least that number (so `0.3` means "review
    from 0.3" and never leaves block below review)."""
    th = {c: dict(t) for c, t in base.items()}
    for cat, val in (overrides or {}).items():
        if isinstance(val, dict):
            th[cat].update({k: float(v) for k, v in val.items()})
        else:
            th[cat]["review"] = float(val)
            th[cat]["block"] = max(th[cat]["block"], float(val))
    return th


def effective_thresholds(cfg: Mapping[str, Any], overrides: Mapping[str, Any] | None) -> Thresholds:
    return with_overrides(default_thresholds(cfg), overrides)


def merge(raws: list[RawModeration]) -> dict[str, Any]:
    """Several judged pieces (text chunks, an image, a transcript) become one: the max score per
    category, assessed = union of what any piece assessed."""
    scores: dict[str, float] = {}
    for raw in raws:
        for cat in raw.assessed_categories:
            s = float(raw.category_scores.get(cat, 0.0))
            scores[cat] = max(scores.get(cat, 0.0), s)
    upstream = [r.upstream_flagged for r in raws if r.upstream_flagged is not None]
    return {"scores": scores, "upstream_flagged": any(upstream) if upstream else None}


def decide(scores: Mapping[str, float], th: Mapping[str, Mapping[str, float]]) -> dict[str, Any]:
    """-> {"verdict", "flagged", "categories", "assessed"} for merged scores under thresholds."""
    assessed = [c for c in CATEGORIES if c in scores]
    blocked = {c for c in assessed if scores[c] >= th[c]["block"]}
    categories = {c: scores[c] >= th[c]["review"] or c in blocked for c in assessed}
    decision = "block" if blocked else ("review" if any(categories.values()) else "allow")
    return {"verdict": decision, "flagged": decision != "allow", "categories": categories,
            "assessed": assessed}


def verdict(raws: list[RawModeration], *, cfg: Mapping[str, Any], overrides: dict | None,
            inputs: list[str]) -> dict[str, Any]:
    """The design's moderation result for a list of per-piece measurements."""
    merged = merge(raws)
    scores = merged["scores"]
    th = effective_thresholds(cfg, overrides)
    d = decide(scores, th)
    assessed = d["assessed"]
    models = sorted({r.model for r in raws})
    providers = sorted({r.provider for r in raws})
    result: dict[str, Any] = {
        "flagged": d["flagged"],
        "verdict": d["verdict"],
        "categories": d["categories"],
        "category_scores": {c: round(scores[c], 6) for c in assessed},
        "assessed_categories": assessed,
        "inputs": inputs,
        "thresholds": {c: th[c] for c in assessed},
        "model": models[0] if len(models) == 1 else ",".join(models),
        "provider": providers[0] if len(providers) == 1 else ",".join(providers),
    }
    add_provider_extras(result, raws, merged["upstream_flagged"])
    return result


def add_provider_extras(result: dict[str, Any], raws: list[RawModeration],
                        upstream_flagged: bool | None) -> None:
    """What the providers said beside the scores, the same under any policy: the upstream's
    own `flagged`, their details, and their usage summed over the pieces."""
    if upstream_flagged is not None:
        result["upstream_flagged"] = upstream_flagged
    with_lang = [r for r in raws if r.language]
    if with_lang:  # the language of the longest judged text (a text may come in pieces)
        result["language"] = max(with_lang,
                                 key=lambda r: (r.usage or {}).get("characters", 0)).language
    if any(r.unassessed_reason for r in raws):
        result["unassessed_reason"] = next(r.unassessed_reason for r in raws
                                           if r.unassessed_reason)
    details = [r.details for r in raws if r.details]
    if details:
        result["details"] = details
    usage: dict[str, float] = {}
    for r in raws:
        for k, v in (r.usage or {}).items():
            if isinstance(v, (int, float)):
                usage[k] = usage.get(k, 0) + v
    if usage:
        result["usage"] = usage


def apply_unassessed_reason(result: dict[str, Any], verdict_for_unread: str) -> None:
    """A text no engine could read (its language) never passes as a silent `allow`: the verdict
    becomes `verdict_for_unread` (`MMS_UNREAD_LANGUAGE_VERDICT`, default `review`) unless the
    scores already said something at least as severe."""
    if not result.get("unassessed_reason"):
        return
    order = {"allow": 0, "review": 1, "block": 2}
    if order[verdict_for_unread] > order[result["verdict"]]:
        result["verdict"] = verdict_for_unread
        result["flagged"] = verdict_for_unread != "allow"


class ThresholdPolicy:
    """The configured thresholds with the job's `options.thresholds` on top."""

    def __init__(self, cfg: dict, overrides: dict | None):
        self.cfg, self.overrides = cfg, overrides

    def decide(self, raws: list[RawModeration], inputs: list[str],
               kinds: list[str] | None = None) -> dict[str, Any]:
        return verdict(raws, cfg=self.cfg, overrides=self.overrides, inputs=inputs)
