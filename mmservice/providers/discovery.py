"""What each configured upstream says it serves (`GET /v1/models`), for `/v1/providers` and
`/readyz`.

Why here and bounded: a wrong base URL or key should show up when an operator looks, not as the
first job's failure; but the API must stay up when an upstream is down. So each distinct upstream
is asked once through the official client with a short timeout (`MMS_DISCOVERY_TIMEOUT_S`, 2 s)
and no retries, on the first `/v1/providers` or `/readyz` call, and the answer is kept per
process (`MMS_DISCOVERY_TTL_S`, 300 s; failures only `MMS_DISCOVERY_RETRY_S`, 10 s, so readiness
comes back soon after the upstream does). An unreachable upstream, or one that refuses our key,
is a readiness failure; a server that merely lacks `/v1/models` is not.
"""
from __future__ import annotations

import hashlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mmservice.config import CAPS

NOT_READY = frozenset({"upstream_unreachable", "upstream_timeout", "upstream_auth_failed",
                       "upstream_forbidden"})
MAX_MODELS_SHOWN = 50

_cache: dict[tuple, tuple[float, dict]] = {}
_locks: dict[tuple, threading.Lock] = {}
_guard = threading.Lock()


def _upstreams(cfg: dict) -> dict[tuple, list[str]]:
    """Distinct upstreams (base URL + key) -> the capabilities they serve here."""
    from mmservice.errors import CapabilityUnavailable
    from mmservice.providers import kinds
    from mmservice.providers.openai_provider import upstream_settings
    from mmservice.providers.registry import choose

    groups: dict[tuple, list[str]] = {}
    for cap in CAPS:
        if choose(cfg, cap) != "openai":
            continue
        try:  # a misconfigured capability is reported by describe(), not probed at a guess
            kinds.check_offered(cfg, cap)
        except CapabilityUnavailable:
            continue
        s = upstream_settings(cfg, cap)
        key_id = hashlib.sha256(s["api_key"].encode()).hexdigest()[:12]
        groups.setdefault((s["base_url"] or "https://api.openai.com/v1", key_id), []).append(cap)
    return groups


def probe(cfg: dict, cap: str) -> dict[str, Any]:
    """One `GET /v1/models`, never raising: {"ok", "models"} or {"ok": False, "error"}."""
    from mmservice.providers.openai_provider import make_client
    from mmservice.providers.retry import classify

    t0 = time.monotonic()
    try:
        client = make_client(cfg, cap, timeout=cfg["DISCOVERY_TIMEOUT_S"])
        ids = sorted(str(m.id) for m in client.models.list().data)
        return {"ok": True, "models": ids, "ms": round((time.monotonic() - t0) * 1000, 1)}
    except Exception as e:  # noqa: BLE001 - a discovery failure is a report, not a crash
        try:
            err = classify(e)
            code, message = err.code, err.message
        except Exception:  # noqa: BLE001 - classify re-raises what it does not know
            code, message = "upstream_discovery_failed", type(e).__name__
        return {"ok": False, "error": {"code": code, "message": message},
                "blocks_readiness": code in NOT_READY,
                "ms": round((time.monotonic() - t0) * 1000, 1)}


def _cached(cfg: dict, key: tuple, cap: str, refresh: bool) -> dict[str, Any]:
    with _guard:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:  # one probe per upstream at a time; the others wait for its answer
        hit = _cache.get(key)
        if hit and hit[0] > time.monotonic() and not refresh:
            return hit[1]
        result = {**probe(cfg, cap), "checked_at": time.time()}
        ttl = cfg["DISCOVERY_TTL_S" if result["ok"] else "DISCOVERY_RETRY_S"]
        _cache[key] = (time.monotonic() + ttl, result)
        return result


def discover(cfg: dict, refresh: bool = False) -> dict[str, dict[str, Any]]:
    """Per capability served by an upstream: that upstream's discovery result."""
    groups = _upstreams(cfg)
    if not groups:
        return {}
    with ThreadPoolExecutor(max_workers=len(groups)) as pool:
        futures = {key: pool.submit(_cached, cfg, key, caps[0], refresh)
                   for key, caps in groups.items()}
        results = {key: f.result() for key, f in futures.items()}
    return {cap: {**results[key], "base_url": key[0]}
            for key, caps in groups.items() for cap in caps}


def annotate(cfg: dict, described: dict[str, dict]) -> dict[str, dict]:
    """`registry.describe()` output plus what each upstream's `/v1/models` listed."""
    found = discover(cfg)
    for cap, entry in described.items():
        d = found.get(cap)
        if d is None:
            continue
        info: dict[str, Any] = {"ok": d["ok"], "checked_at": d["checked_at"]}
        if d["ok"]:
            info["models"] = d["models"][:MAX_MODELS_SHOWN]
            info["model_count"] = len(d["models"])
            info["model_listed"] = entry.get("model") in d["models"]
        else:
            info["error"] = d["error"]
        entry["discovered"] = info
    return described


def readiness(cfg: dict) -> dict[str, Any]:
    """The `/readyz` check: ok unless an upstream is unreachable or refuses our key."""
    found = discover(cfg)
    by_url: dict[str, dict] = {}
    for cap, d in found.items():
        row = by_url.setdefault(d["base_url"], {"ok": d["ok"] or not d["blocks_readiness"],
                                                "capabilities": []})
        row["capabilities"].append(cap)
        if not d["ok"]:
            row["error"] = d["error"]
    bad = [f"{url} ({', '.join(r['capabilities'])}): {r['error']['message']} "
           f"[{r['error']['code']}]"
           for url, r in by_url.items() if not r["ok"]]
    out: dict[str, Any] = {"ok": not bad, "upstreams": by_url}
    if bad:
        out["error"] = "upstream not usable: " + "; ".join(bad)
    return out


def clear_cache() -> None:
    with _guard:
        _cache.clear()
