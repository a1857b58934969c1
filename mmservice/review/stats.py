"""Review metrics: queue depth, oldest-item age against the SLA, time to decision (p50/p95),
lease expiries, overturn rate, agreement of double-reviewed samples.

Why read from counters and a capped list: the numbers are updated in the same transactions as
the decisions (`decisions.also`), so reading them costs one pipeline and never walks items.
"""
from __future__ import annotations

import time
from typing import Any

from mmservice.review import routing


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return round(s[min(len(s) - 1, int(round(p * (len(s) - 1))))], 3)


def queues(ctx: Any) -> list[dict]:
    doc = routing.load(ctx)
    names = routing.queue_names(doc)
    names += sorted(n.decode() for n in ctx.r.smembers(ctx.k("queues"))
                    if n.decode() not in names)
    pipe = ctx.r.pipeline(transaction=False)
    for n in names:
        pipe.zcard(ctx.k("q", n))
        pipe.zrange(ctx.k("qage", n), 0, 0, withscores=True)
    got = pipe.execute()
    now = time.time()
    out = []
    for i, n in enumerate(names):
        depth, oldest = int(got[2 * i]), got[2 * i + 1]
        age = round(now - oldest[0][1], 1) if oldest else 0.0
        settings = routing.queue_settings(doc, n, ctx.cfg)
        out.append({"name": n, "depth": depth, "oldest_age_s": age,
                    "sla_s": settings["sla_s"], "sla_breached": age > settings["sla_s"],
                    "reason_required": settings["reason_required"]})
    return out


def summary(ctx: Any) -> dict:
    pipe = ctx.r.pipeline(transaction=False)
    pipe.hgetall(ctx.k("stats"))
    pipe.lrange(ctx.k("ttd"), 0, -1)
    raw, ttd = pipe.execute()
    s = {k.decode(): int(v) for k, v in raw.items()}
    times = [float(x) for x in ttd]
    decided, overturned = s.get("appeals_decided", 0), s.get("overturned", 0)
    double, agreed = s.get("double_reviewed", 0), s.get("agreed", 0)
    return {
        "queues": queues(ctx),
        "time_to_decision_s": {"p50": _pct(times, 0.5), "p95": _pct(times, 0.95),
                               "samples": len(times)},
        "decisions": s.get("decisions", 0), "lease_expiries": s.get("lease_expiries", 0),
        "appeals": s.get("appeals", 0), "appeals_decided": decided, "overturned": overturned,
        "overturn_rate": round(overturned / decided, 4) if decided else None,
        "double_reviewed": double,
        "agreement_rate": round(agreed / double, 4) if double else None,
    }
