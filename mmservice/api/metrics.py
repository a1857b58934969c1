"""`GET /metrics`: the Prometheus exposition of the service, from any API replica.

Why a custom collector: the values live in a few fixed Redis hashes that every process adds to
as the work happens (see mmservice/metrics.py); at scrape time the collector reads those keys
and the queues in one round trip and hands prometheus_client ready families to render (the
review queue's families: `mmservice.review.prometheus`). Nothing
is counted in this process, and nothing walks the keyspace.

Why the age of the oldest message from its id: job ids, step task ids (`job_<ms hex>...`) and
webhook delivery ids (`msg_<ms hex>...`, in the task's args) start with their creation time in
milliseconds, so the message at a queue's tail says how long work has waited without a
timestamp of its own. For a webhook retry that is the age of the delivery, an upper bound.
"""
from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

from flask import Response, current_app
from flask_smorest import Blueprint
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from mmservice import metrics as m
from mmservice.auth.scopes import LOOPBACK_OR_ADMIN, requires
from mmservice.providers.breaker import STATE_VALUE

bp = Blueprint("metrics", __name__, description="Prometheus metrics")
QUEUES = ("moderation", "vision", "audio", "webhooks")
_ID_MS = re.compile(r"\b(?:job|msg)_([0-9a-f]{12})")

# (hash, family name, help, label names)
_COUNTERS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    (m.JOBS_CREATED, "mms_jobs_created", "Jobs accepted, by input kind.", ("kind",)),
    (m.TASKS_CREATED, "mms_job_tasks_created", "Tasks asked for by accepted jobs, by task.",
     ("task",)),
    (m.JOBS_FINISHED, "mms_jobs_finished", "Jobs settled, by status.", ("status",)),
    (m.UPSTREAM_ERRORS, "mms_upstream_errors", "Failed upstream calls (each attempt), by "
     "capability, error code and upstream HTTP status.", ("capability", "code", "status")),
    (m.WEBHOOK_ATTEMPTS, "mms_webhook_attempts", "Webhook delivery attempts, by outcome.",
     ("outcome",)),
    (m.UPSTREAM_BREAKER_OPENED, "mms_upstream_breaker_opened", "Times an upstream's circuit "
     "breaker opened, by capability and upstream base URL.", ("capability", "upstream")),
    (m.AUTH_EVENTS, "mms_auth_events", "API key events (key_created, key_rotated, "
     "key_revoked) and refusals (unauthorized, forbidden, rate_limited, quota_exceeded), by "
     "tenant (empty for an unknown key).", ("event", "tenant")),
    (m.POLICY_SHADOW, "mms_policy_shadow_verdicts", "Shadow policies' verdicts on moderation "
     "jobs, by tenant, policy and whether they agree with the live verdict.",
     ("tenant", "policy", "outcome")),
    (m.RESULT_CACHE, "mms_result_cache_lookups", "Result-cache lookups (one per text piece, "
     "image, clip or vision question), by task and outcome (hit, miss).", ("task", "outcome")),
    (m.LIST_FLOOD, "mms_list_floods", "Flood guard trips: a list item's hits went over its "
     "list's flood_per_minute (its block hits go to review), by tenant and list.",
     ("tenant", "list")),
)
_HISTOGRAMS = (
    (m.STEP_SECONDS, "mms_step_seconds", "Time a job step's work took, by step and provider.",
     ("step", "provider"), m.STEP_BUCKETS),
    (m.BATCH_SIZE, "mms_moderation_batch_size", "Texts per upstream moderation request when "
     "batching.", (), m.BATCH_BUCKETS),
)


def oldest_age_s(raw: bytes | None, now_ms: int) -> float:
    """Seconds since the message `raw` (a kombu JSON envelope) was created; 0 if unknown."""
    if not raw:
        return 0.0
    try:
        headers = json.loads(raw).get("headers") or {}
        found = _ID_MS.search(f"{headers.get('id', '')} {headers.get('argsrepr', '')}")
    except (ValueError, AttributeError):
        return 0.0
    return max(0.0, (now_ms - int(found.group(1), 16)) / 1000) if found else 0.0


def _histogram(name: str, doc: str, labels: tuple, buckets, values: dict) -> Metric:
    fam = HistogramMetricFamily(name, doc, labels=list(labels))
    series: dict[str, dict[str, str]] = {}
    for f, v in values.items():
        head, _, part = f.rpartition(m.SEP) if labels else ("", "", f)
        series.setdefault(head, {})[part] = v
    for head, parts in sorted(series.items()):
        running, cumulative = 0, []
        for b in [*(repr(float(x)) for x in buckets), "+Inf"]:
            running += int(parts.get(f"le={b}", 0))
            cumulative.append(("+Inf" if b == "+Inf" else b, running))
        label_values = head.split(m.SEP) if labels else []
        fam.add_metric(label_values, cumulative, float(parts.get("sum", 0)))
    return fam


class RedisCollector:
    """Reads the fixed keys on each scrape; see the module docstring."""

    def __init__(self, redis_client, keys=None):
        self.r = redis_client
        self.keys = keys

    def collect(self) -> Iterator[Metric]:
        snap = m.read(self.r, QUEUES)
        hashes = snap["hashes"]
        for key, name, doc, labels in _COUNTERS:
            fam = CounterMetricFamily(name, doc, labels=list(labels))
            for f, v in sorted(hashes[key].items()):
                fam.add_metric(f.split(m.SEP), int(v))
            yield fam
        for hkey, hname, hdoc, hlabels, buckets in _HISTOGRAMS:
            yield _histogram(hname, hdoc, hlabels, buckets, hashes[hkey])
        breaker = GaugeMetricFamily("mms_upstream_breaker_state", "Circuit breaker per upstream "
                                    "as its workers last published it: 0 closed, 1 open, "
                                    "2 half-open.", labels=["capability", "upstream"])
        for f, v in sorted(hashes[m.UPSTREAM_BREAKER].items()):
            breaker.add_metric(f.split(m.SEP), STATE_VALUE.get(v, 0))
        yield breaker
        depth = GaugeMetricFamily("mms_queue_depth", "Messages waiting per queue.",
                                  labels=["queue"])
        age = GaugeMetricFamily("mms_queue_oldest_age_seconds", "Age of the oldest message "
                                "waiting per queue (0 when empty).", labels=["queue"])
        now_ms = int(time.time() * 1000)
        for q, (n, tail) in snap["queues"].items():
            depth.add_metric([q], n)
            age.add_metric([q], oldest_age_s(tail, now_ms) if n else 0.0)
        yield depth
        yield age
        if self.keys is not None:
            from mmservice.review.prometheus import families

            yield from families(self.r, self.keys)


def _registry() -> CollectorRegistry:
    ext = current_app.extensions
    if "mms_metrics" not in ext:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(RedisCollector(ext["mms"].redis, ext["mms"].store.keys))
        ext["mms_metrics"] = registry
    return ext["mms_metrics"]


@bp.get("/metrics")
@requires(bp, LOOPBACK_OR_ADMIN)
@bp.doc(summary="Prometheus metrics: jobs, step latency, upstream errors, queues, webhooks",
        description="Public to loopback clients (a Prometheus beside the service); from "
                    "anywhere else it needs an `admin` key.",
        responses={"200": {"description": "Prometheus text exposition format",
                           "content": {"text/plain": {}}}})
def metrics():
    return Response(generate_latest(_registry()), mimetype=None,
                    headers={"Content-Type": CONTENT_TYPE_LATEST})
