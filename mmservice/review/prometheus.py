"""The review queue in `/metrics`: per tenant and queue, depth and oldest-item age (against the
SLA in `/v1/review/metrics`), and the review counters (decisions, lease expiries, appeals
decided, overturns, double reviews and agreements).

Why per tenant from the tenants set: review queues live in each tenant's namespace; the set of
tenants (those with keys or settings) and each tenant's set of queues are small, so a scrape
reads them in two pipelined round trips without walking the keyspace.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from mmservice.keys import Keys

COUNTERS = ("decisions", "lease_expiries", "appeals", "appeals_decided", "overturned",
            "double_reviewed", "agreed")


def families(r: Any, keys: Keys) -> Iterator[Metric]:
    tenants = sorted({t.decode() for t in r.smembers(keys.tenants())} | {"default"})
    pipe = r.pipeline(transaction=False)
    for t in tenants:
        pipe.smembers(keys.review(t, "queues"))
        pipe.hgetall(keys.review(t, "stats"))
    got = pipe.execute()
    queues = {t: sorted(q.decode() for q in got[2 * i]) for i, t in enumerate(tenants)}
    stats = {t: {k.decode(): int(v) for k, v in got[2 * i + 1].items()}
             for i, t in enumerate(tenants)}
    pipe = r.pipeline(transaction=False)
    pairs = [(t, q) for t in tenants for q in queues[t]]
    for t, q in pairs:
        pipe.zcard(keys.review(t, "q", q))
        pipe.zrange(keys.review(t, "qage", q), 0, 0, withscores=True)
    got = pipe.execute() if pairs else []
    depth = GaugeMetricFamily("mms_review_queue_depth", "Open review items per tenant and "
                              "queue.", labels=["tenant", "queue"])
    age = GaugeMetricFamily("mms_review_oldest_age_seconds", "Age of the oldest open review "
                            "item per tenant and queue (0 when empty).",
                            labels=["tenant", "queue"])
    now = time.time()
    for i, (t, q) in enumerate(pairs):
        depth.add_metric([t, q], int(got[2 * i]))
        oldest = got[2 * i + 1]
        age.add_metric([t, q], round(now - oldest[0][1], 3) if oldest else 0.0)
    yield depth
    yield age
    counter = CounterMetricFamily("mms_review_events", "Review counters per tenant: decisions, "
                                  "lease_expiries, appeals, appeals_decided, overturned, "
                                  "double_reviewed, agreed.", labels=["tenant", "event"])
    for t in tenants:
        for name in COUNTERS:
            if name in stats[t]:
                counter.add_metric([t, name], stats[t][name])
    yield counter
