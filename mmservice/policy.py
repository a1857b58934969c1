"""Scores to verdict: per-category thresholds turn what a provider measured into allow/review/block.

Why our own verdict: the upstream's `flagged` is one model's fixed cut; platforms need their own
lines (a dating app and a children's site differ). Thresholds have documented defaults
(`MMS_THRESHOLDS_REVIEW`, `MMS_THRESHOLDS_BLOCK`, `MMS_THRESHOLDS`) and can be overridden per
request in `options.thresholds`.
"""
from __future__ import annotations

from typing import Any

from mmservice.config import thresholds as configured_thresholds
from mmservice.providers.base import CATEGORIES, RawModeration


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


def effective_thresholds(cfg: dict, overrides: dict | None) -> dict[str, dict[str, float]]:
    th = configured_thresholds(cfg)
    for cat, val in (overrides or {}).items():
        if isinstance(val, dict):
            th[cat].update({k: float(v) for k, v in val.items()})
        else:
            th[cat]["review"] = float(val)
            th[cat]["block"] = max(th[cat]["block"], float(val))
    return th


def verdict(raws: list[RawModeration], *, cfg: dict, overrides: dict | None,
            inputs: list[str]) -> dict[str, Any]:
    """The design's moderation result for a list of per-piece measurements."""
    merged = merge(raws)
    scores = merged["scores"]
    th = effective_thresholds(cfg, overrides)
    assessed = [c for c in CATEGORIES if c in scores]
    categories = {c: scores[c] >= th[c]["review"] for c in assessed}
    blocked = [c for c in assessed if scores[c] >= th[c]["block"]]
    flagged = any(categories.values())
    decision = "block" if blocked else ("review" if flagged else "allow")
    models = sorted({r.model for r in raws})
    providers = sorted({r.provider for r in raws})
    result: dict[str, Any] = {
        "flagged": flagged,
        "verdict": decision,
        "categories": categories,
        "category_scores": {c: round(scores[c], 6) for c in assessed},
        "assessed_categories": assessed,
        "inputs": inputs,
        "thresholds": {c: th[c] for c in assessed},
        "model": models[0] if len(models) == 1 else ",".join(models),
        "provider": providers[0] if len(providers) == 1 else ",".join(providers),
    }
    if merged["upstream_flagged"] is not None:
        result["upstream_flagged"] = merged["upstream_flagged"]
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
    return result
