"""Liveness, readiness and metrics, outside `/v1`.

Why separate probes: `/healthz` answers while the process lives (restart it if not); `/readyz`
answers 200 only when Redis (job store), the broker and every configured upstream answer (an
upstream that cannot be reached or refuses our key makes every job fail), so a load balancer
stops sending work an instance cannot do. Upstream answers are cached (see discovery.py), so a
probe costs no upstream call most of the time.
"""
from __future__ import annotations

import time

from flask import Response, current_app, jsonify
from flask_smorest import Blueprint

from mmservice.providers import discovery, registry

bp = Blueprint("health", __name__, description="Health, readiness, providers, metrics")
QUEUES = ("moderation", "vision", "audio", "webhooks")


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    svc = current_app.extensions["mms"]
    checks = {}
    ok = True
    t0 = time.monotonic()
    try:
        svc.redis.ping()
        checks["redis"] = {"ok": True, "ms": round((time.monotonic() - t0) * 1000, 2)}
    except Exception as e:  # noqa: BLE001 - any failure means not ready
        checks["redis"] = {"ok": False, "error": type(e).__name__}  # type: ignore[dict-item]
        ok = False
    t0 = time.monotonic()
    try:
        with svc.celery.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            conn.default_channel.client.ping()
        checks["broker"] = {"ok": True, "ms": round((time.monotonic() - t0) * 1000, 2)}
    except Exception as e:  # noqa: BLE001
        checks["broker"] = {"ok": False, "error": type(e).__name__}  # type: ignore[dict-item]
        ok = False
    upstreams = discovery.readiness(svc.cfg)
    if upstreams["upstreams"]:
        checks["upstreams"] = upstreams
        ok = ok and upstreams["ok"]
    body = {"status": "ready" if ok else "unavailable", "checks": checks,
            "providers": registry.describe(svc.cfg)}
    if not upstreams["ok"]:
        body["reason"] = upstreams["error"]
    resp = jsonify(body)
    resp.status_code = 200 if ok else 503
    return resp


@bp.get("/v1/providers")
def providers():
    svc = current_app.extensions["mms"]
    return jsonify({"data": discovery.annotate(svc.cfg, registry.describe(svc.cfg))})


@bp.get("/metrics")
def metrics():
    """Prometheus text format from Redis counters, so every API replica reports the same."""
    svc = current_app.extensions["mms"]
    r = svc.redis
    lines = ["# HELP mms_jobs_created_total Jobs accepted, by input kind.",
             "# TYPE mms_jobs_created_total counter"]
    for key in sorted(r.scan_iter("mms:metrics:jobs_created:*")):
        kind = key.decode().rsplit(":", 1)[1]
        lines.append(f'mms_jobs_created_total{{kind="{kind}"}} {int(r.get(key) or 0)}')
    lines += ["# HELP mms_jobs_finished_total Jobs settled, by status.",
              "# TYPE mms_jobs_finished_total counter"]
    for key in sorted(r.scan_iter("mms:metrics:jobs_finished:*")):
        status = key.decode().rsplit(":", 1)[1]
        lines.append(f'mms_jobs_finished_total{{status="{status}"}} {int(r.get(key) or 0)}')
    lines += ["# HELP mms_queue_depth Messages waiting per queue.", "# TYPE mms_queue_depth gauge"]
    for q in QUEUES:
        lines.append(f'mms_queue_depth{{queue="{q}"}} {r.llen(q)}')
    return Response("\n".join(lines) + "\n", mimetype="text/plain; version=0.0.4")
