"""Worker heartbeats: which queues each live worker consumes and how warm its engines are.

Why a Redis hash per worker with a TTL, rather than Celery's `inspect()`: a broadcast waits its
whole timeout for workers that may not exist, on every probe; a heartbeat is two Redis round
trips, and a worker that dies without a goodbye (SIGKILL, OOM) simply stops refreshing it, so
its key expires and `/readyz` sees the queue without a consumer. The set of names only saves a
SCAN of the keyspace; a name whose hash has expired is dropped from it by the reader.

Engine states per capability: `warm` (provider built / models loaded), `warming` (warm-up
running), `cold` (warm-up off: loaded by the first job) and `failed` (warm-up raised; the first
job will try again and report the error).
"""
from __future__ import annotations

import json
from typing import Any

import redis

from mmservice.config import CAPS
from mmservice.steps import registry

NAMES = "mms:workers"
ENGINE_STATES = ("warm", "warming", "cold", "failed")
_RANK = {s: i for i, s in enumerate(ENGINE_STATES)}  # best first, when several workers serve


def _key(name: str) -> str:
    return f"mms:worker:{name}"


def cap_queues() -> dict[str, str]:
    """The queue whose steps call each capability (from the step registry)."""
    return {s.capability: s.queue for s in registry.STEPS if s.capability in CAPS}


def required_queues() -> tuple[str, ...]:
    """Queues a complete service consumes: every step's and the webhooks'."""
    from mmservice.webhooks import QUEUE

    return (*registry.QUEUES, QUEUE)


def publish(r: redis.Redis, name: str, *, queues: list[str], engines: dict[str, str],
            pid: int, ttl_s: float) -> None:
    """Write (or refresh) one worker's heartbeat; it vanishes `ttl_s` after the last call."""
    key = _key(name)
    with r.pipeline() as p:
        p.sadd(NAMES, name)
        p.delete(key)
        p.hset(key, mapping={"queues": ",".join(queues), "engines": json.dumps(engines),
                             "pid": str(pid)})
        p.pexpire(key, max(1, int(ttl_s * 1000)))
        p.execute()


def withdraw(r: redis.Redis, name: str) -> None:
    """A worker stopping on purpose removes its heartbeat at once (no wait for the TTL)."""
    with r.pipeline() as p:
        p.srem(NAMES, name)
        p.delete(_key(name))
        p.execute()


def live_workers(r: redis.Redis) -> list[dict[str, Any]]:
    names = sorted(n.decode() if isinstance(n, bytes) else n for n in r.smembers(NAMES))
    with r.pipeline() as p:
        for n in names:
            p.hgetall(_key(n))
        rows = p.execute()
    out, gone = [], []
    for n, row in zip(names, rows, strict=True):
        row = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes)
                                                             else v) for k, v in row.items()}
        if not row:
            gone.append(n)
            continue
        out.append({"name": n, "queues": [q for q in row.get("queues", "").split(",") if q],
                    "engines": json.loads(row.get("engines") or "{}")})
    if gone:
        r.srem(NAMES, *gone)
    return out


def readiness(r: redis.Redis, providers: dict[str, str]) -> dict[str, Any]:
    """The workers check and the per-capability view of `/readyz`.

    `providers` maps each capability to what serves it (`local` / `openai`). Returns
    `{"check": {...}, "capabilities": {...}, "missing": [queues without a live consumer]}`."""
    workers = live_workers(r)
    consumers = {q: [w["name"] for w in workers if q in w["queues"]] for q in required_queues()}
    missing = [q for q, names in consumers.items() if not names]
    caps: dict[str, Any] = {}
    for cap, queue in cap_queues().items():
        states = [w["engines"].get(cap) for w in workers if queue in w["queues"]]
        known = sorted((s for s in states if s in _RANK), key=_RANK.__getitem__)
        engine = known[0] if known else "no_worker"
        caps[cap] = {"provider": providers.get(cap, ""), "queue": queue, "engine": engine,
                     "warm": engine == "warm"}
    check = {"ok": not missing, "live": len(workers),
             "queues": {q: len(names) for q, names in consumers.items()}}
    return {"check": check, "capabilities": caps, "missing": missing}
