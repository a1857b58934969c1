"""Liveness and readiness probes, outside `/v1`, and the providers list (metrics: api/metrics.py).

Why separate probes: `/healthz` answers while the process lives (restart it if not); `/readyz`
answers 200 only when Redis (job store), the broker and every configured upstream answer (an
upstream that cannot be reached or refuses our key makes every job fail) and at least one live
worker consumes each queue (workers' heartbeats, see `mmservice.heartbeat`: without a consumer
jobs sit queued), so a load balancer stops sending work an instance cannot do. Engines still
warming do not fail readiness (their jobs wait, they do not fail); `capabilities` says which
are warm, and `make run` waits for them before it says "up". Upstream answers are cached (see
discovery.py), so a probe costs no upstream call most of the time.
"""
from __future__ import annotations

import time
from typing import Any

from flask import current_app
from flask_smorest import Blueprint

from mmservice import heartbeat, metrics
from mmservice.api import examples
from mmservice.auth.scopes import public, requires
from mmservice.keys import DEFAULT as DEFAULT_KEYS
from mmservice.providers import discovery, registry
from mmservice.schemas.ops_output import HealthSchema, ProvidersSchema, ReadySchema

bp = Blueprint("health", __name__, description="Health, readiness, providers")


@bp.get("/healthz")
@public
@bp.doc(summary="Liveness: the process answers")
@bp.response(200, HealthSchema, example={"status": "ok"})
def healthz():
    return {"status": "ok"}


@bp.get("/readyz")
@public
@bp.doc(summary="Readiness: Redis, the broker, every configured upstream answer and each "
                "queue has a live worker; per capability, whether its engine is warm")
@bp.response(200, ReadySchema, example=examples.READY)
@bp.alt_response(503, schema=ReadySchema, description="not ready: see `checks` and `reason`")
def readyz():
    svc = current_app.extensions["mms"]
    checks: dict[str, Any] = {}
    ok = True
    t0 = time.monotonic()
    try:
        svc.redis.ping()
        checks["redis"] = {"ok": True, "ms": round((time.monotonic() - t0) * 1000, 2)}
    except Exception as e:  # noqa: BLE001 - any failure means not ready
        checks["redis"] = {"ok": False, "error": type(e).__name__}
        ok = False
    t0 = time.monotonic()
    try:
        with svc.celery.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            conn.default_channel.client.ping()
        checks["broker"] = {"ok": True, "ms": round((time.monotonic() - t0) * 1000, 2)}
    except Exception as e:  # noqa: BLE001
        checks["broker"] = {"ok": False, "error": type(e).__name__}
        ok = False
    upstreams = discovery.readiness(svc.cfg)
    if upstreams["upstreams"] and checks["redis"]["ok"]:
        _add_breakers(svc.redis, upstreams["upstreams"])
    if upstreams["upstreams"]:
        checks["upstreams"] = upstreams
        ok = ok and upstreams["ok"]
    providers = registry.describe(svc.cfg)
    reasons = [] if upstreams["ok"] else [upstreams["error"]]
    capabilities: dict = {}
    if checks["redis"]["ok"]:
        try:
            workers = heartbeat.readiness(svc.redis, {c: str(p.get("provider", ""))
                                                      for c, p in providers.items()})
            checks["workers"] = workers["check"]
            capabilities = workers["capabilities"]
            if workers["missing"]:
                ok = False
                reasons.append("no live worker consumes queue(s) "
                               f"{', '.join(workers['missing'])}: start one with `-Q "
                               f"{','.join(workers['missing'])}` (jobs wait queued until then)")
        except Exception as e:  # noqa: BLE001
            checks["workers"] = {"ok": False, "error": type(e).__name__}
            ok = False
    body = {"status": "ready" if ok else "unavailable", "checks": checks,
            "providers": providers, "capabilities": capabilities}
    if reasons:
        body["reason"] = "; ".join(reasons)
    return body, 200 if ok else 503


def _add_breakers(r: Any, by_url: dict) -> None:
    """Each upstream row gets `breaker`: per capability, the circuit breaker state its workers
    last published (closed when none did). Reported, not a readiness failure: while a breaker is
    open jobs wait for the upstream, they do not fail. One HGETALL."""
    try:
        raw = r.hgetall(DEFAULT_KEYS.metrics(metrics.UPSTREAM_BREAKER))
    except Exception:  # noqa: BLE001 - the redis check already reports a broken store
        return
    states = {k.decode(): v.decode() for k, v in raw.items()}
    for url, row in by_url.items():
        row["breaker"] = {cap: states.get(metrics.field(cap, url), "closed")
                          for cap in row["capabilities"]}


@bp.get("/v1/providers")
@requires(bp, "read")
@bp.doc(summary="What serves each capability (provider, model, upstream)")
@bp.response(200, ProvidersSchema, example={"data": examples.READY["providers"]})
def providers():
    svc = current_app.extensions["mms"]
    return {"data": discovery.annotate(svc.cfg, registry.describe(svc.cfg))}

