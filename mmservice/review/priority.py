"""The order of a queue: one number per item, highest first.

Why one static score with age folded in: a sorted set orders by a stored score, and re-scoring
every item as it ages would cost a write per item per tick. Subtracting `created_ts / AGE_POINT_S`
gives an older item a head start that grows with its age relative to newer ones, which is what
"age" means in an ordering, with no re-scoring. The scale: one hour of waiting is worth one
severity level (100 points); the top score adds up to 50; reports add `20 * log2(1 + n)`
(diminishing: the tenth report matters less than the second).
"""
from __future__ import annotations

import math

SEVERITY_LEVELS = {"low": 1, "medium": 2, "high": 3}
HIGH = SEVERITY_LEVELS["high"]
AGE_POINT_S = 36.0  # 100 points per hour


def severity(top_score: float, high_at: float, verdict: str | None = None) -> str:
    """The band of an item: `high` from the tenant's high-severity score, `medium` from half of
    it or on a `block` verdict, else `low`."""
    if top_score >= high_at:
        return "high"
    if top_score >= high_at / 2 or verdict == "block":
        return "medium"
    return "low"


def points(band: str, top_score: float, reports: int, created_ts: float) -> float:
    return (SEVERITY_LEVELS.get(band, 1) * 100.0 + 50.0 * max(0.0, min(1.0, top_score))
            + 20.0 * math.log2(1 + max(0, reports)) - created_ts / AGE_POINT_S)
