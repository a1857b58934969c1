"""A moderation policy as a value: per-category lines, per-kind overrides, and the verdict.

Why a value object with no Redis in it: the capability (`capabilities.moderate`) stays
content-level, the step resolves the stored record and hands one of these over; shadow
evaluation and the backtest re-decide stored scores with the same code, so a backtest predicts
exactly what the live path would decide.

How lines are found for one piece of input: the tenant's settings (`THRESHOLDS_*`, the builtin
policy's lines) for every category, then the policy's `thresholds`, then its `by_kind[kind]`,
then the job's `options.thresholds`. Each input kind (text, image, transcript) is judged with its
own lines on its own scores; the item's verdict is the most severe. A policy's `unassessed:
"review"` sends an item to review when a category the policy names was assessed by no piece.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mmservice.moderation.categories import CATEGORIES
from mmservice.moderation.policy import (
    Thresholds,
    add_provider_extras,
    decide,
    merge,
    with_overrides,
)

if TYPE_CHECKING:
    from mmservice.providers.base import RawModeration

KINDS = ("text", "image", "transcript", "video")
MODES = ("live", "shadow")
UNASSESSED = ("allow", "review")
BUILTIN = "builtin"
SEVERITY = {"allow": 0, "review": 1, "block": 2}
ANY_KIND = "any"  # stored results from before per-kind scores: judged with the base lines


@dataclass(frozen=True)
class Policy:
    """One version of a policy, ready to judge. `base` is the tenant's settings lines (all 13
    categories); `overrides` the job's `options.thresholds` (None outside a job)."""

    name: str
    version: int
    base: Thresholds
    thresholds: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    by_kind: Mapping[str, Mapping[str, Mapping[str, float]]] = field(default_factory=dict)
    lists: tuple[str, ...] | None = None  # None: the policy names none, so all the tenant's
    halt_on_match: bool = True
    unassessed: str = "allow"
    mode: str = "live"
    overrides: Mapping[str, Any] | None = None
    video: Mapping[str, Any] = field(default_factory=dict)  # the video verdict rule

    @classmethod
    def from_record(cls, rec: Mapping[str, Any], base: Thresholds,
                    overrides: Mapping[str, Any] | None = None) -> Policy:
        """A stored version (`policies.store`) -> a Policy."""
        return cls(name=rec["name"], version=int(rec["version"]), base=base,
                   thresholds=rec.get("thresholds") or {}, by_kind=rec.get("by_kind") or {},
                   lists=None if rec.get("lists") is None else tuple(rec["lists"]),
                   halt_on_match=bool(rec.get("halt_on_match", True)),
                   unassessed=rec.get("unassessed", "allow"), mode=rec.get("mode", "live"),
                   overrides=overrides, video=rec.get("video") or {})

    @classmethod
    def builtin(cls, base: Thresholds, overrides: Mapping[str, Any] | None = None) -> Policy:
        return cls(name=BUILTIN, version=0, base=base, overrides=overrides)

    def ref(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version}

    def lines(self, kind: str | None = None) -> Thresholds:
        th = {c: dict(t) for c, t in self.base.items()}
        layers = [self.thresholds] + ([self.by_kind.get(kind) or {}] if kind else [])
        for layer in layers:
            for cat, pair in layer.items():
                th[cat].update({k: float(v) for k, v in pair.items() if k in ("review", "block")})
        return with_overrides(th, self.overrides)

    def named(self) -> set[str]:
        """The categories this policy sets lines for (what `unassessed` watches)."""
        out = set(self.thresholds)
        for per_kind in self.by_kind.values():
            out |= set(per_kind)
        return out

    # -- deciding ------------------------------------------------------------------------------
    def judge(self, scores_by_kind: Mapping[str, Mapping[str, float]]) -> dict[str, Any]:
        """-> {"verdict", "flagged", "categories", "assessed", "unassessed"?} for per-kind
        scores. Pure: shadow evaluation and the backtest call it on stored scores."""
        verdict = "allow"
        categories: dict[str, bool] = {}
        for kind, scores in scores_by_kind.items():
            d = decide(scores, self.lines(None if kind == ANY_KIND else kind))
            for cat, hit in d["categories"].items():
                categories[cat] = categories.get(cat, False) or hit
            if SEVERITY[d["verdict"]] > SEVERITY[verdict]:
                verdict = d["verdict"]
        assessed = [c for c in CATEGORIES if c in categories]
        out: dict[str, Any] = {"verdict": verdict, "categories": categories,
                               "assessed": assessed}
        if self.unassessed == "review" and scores_by_kind:
            missing = sorted(self.named() - set(assessed))
            if missing:
                out["unassessed"] = missing
                if verdict == "allow":
                    out["verdict"] = "review"
        out["flagged"] = out["verdict"] != "allow"
        return out

    def decide(self, raws: list[RawModeration], inputs: list[str],
               kinds: list[str] | None = None) -> dict[str, Any]:
        """The moderation result for measured pieces; `kinds[i]` names the input kind of
        `raws[i]` (text, image, transcript). The scores per kind are kept in the result
        (`scores_by_kind`) so it can be re-decided later without a model call."""
        by_kind = scores_by_kind(raws, kinds, inputs)
        d = self.judge(by_kind)
        merged = merge(raws)
        scores, assessed = merged["scores"], d["assessed"]
        models = sorted({r.model for r in raws})
        providers = sorted({r.provider for r in raws})
        base_lines = self.lines(None)
        result: dict[str, Any] = {
            "flagged": d["flagged"], "verdict": d["verdict"], "categories": d["categories"],
            "category_scores": {c: round(scores[c], 6) for c in assessed},
            "assessed_categories": assessed, "inputs": inputs,
            "thresholds": {c: base_lines[c] for c in assessed},
            "model": models[0] if len(models) == 1 else ",".join(models),
            "provider": providers[0] if len(providers) == 1 else ",".join(providers),
            "policy": self.ref(), "decided_by": "policy",
            "scores_by_kind": {k: {c: round(s, 6) for c, s in v.items()}
                               for k, v in by_kind.items()},
        }
        if "unassessed" in d:
            result["unassessed"] = d["unassessed"]
        add_provider_extras(result, raws, merged["upstream_flagged"])
        return result


def scores_by_kind(raws: list[RawModeration], kinds: list[str] | None,
                   inputs: list[str]) -> dict[str, dict[str, float]]:
    """The max score per category of each input kind's pieces. Without `kinds` (a caller that
    does not say), all pieces count as the one input, or as `any` (base lines) when several."""
    if kinds is None or len(kinds) != len(raws):
        kinds = [inputs[0] if len(inputs) == 1 else ANY_KIND] * len(raws)
    out: dict[str, dict[str, float]] = {}
    for kind, raw in zip(kinds, raws):
        got = out.setdefault(kind, {})
        for cat in raw.assessed_categories:
            s = float(raw.category_scores.get(cat, 0.0))
            got[cat] = max(got.get(cat, 0.0), s)
    return out


def stored_scores(result: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """Per-kind scores of a stored moderation result (older results: their merged scores)."""
    if result.get("scores_by_kind"):
        return {k: dict(v) for k, v in result["scores_by_kind"].items()}
    scores = result.get("category_scores") or {}
    if not scores:
        return {}
    inputs = result.get("inputs") or []
    return {inputs[0] if len(inputs) == 1 else ANY_KIND: dict(scores)}
