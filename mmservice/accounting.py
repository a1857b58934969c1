"""Usage accounting: what each tenant used, per day and per upstream, in Redis counters.

Why counters and not a scan of job records: jobs expire (`MMS_JOB_TTL_S`) and a day's cost must
outlive them; one hash per tenant and day (`mms:t:<tenant>:usage:<YYYY-MM-DD>`, kept
`MMS_USAGE_TTL_DAYS`, 400 by default) answers `GET /v1/usage?day=` with a single read, from any
API replica. The pipeline queues a step's increments (`usage_writes`) into the transaction that
saves its result (a re-delivered task finds its result saved and writes nothing), so a job is
counted once. Fields are
`<capability>|<upstream>|<model>|<metric>`; the upstream is `<kind>:<host>` (or `local`), so
the same model behind two servers is two rows.
"""
from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from mmservice.keys import DEFAULT as DEFAULT_KEYS
from mmservice.keys import Keys

METRICS = ("requests", "prompt_tokens", "completion_tokens", "total_tokens", "audio_seconds",
           "images", "image_tokens", "characters")
_SEP = "|"


def usage_key(tenant: str, day: str, keys: Keys = DEFAULT_KEYS) -> str:
    return keys.usage(tenant, day)


def today() -> str:
    return time.strftime("%Y-%m-%d", time.gmtime())


def upstream_label(cfg: dict, cap: str) -> str:
    """`<kind>:<host[:port]>` for an OpenAI-compatible upstream, `local` for offline engines."""
    from mmservice.errors import MMSError
    from mmservice.providers import kinds
    from mmservice.providers.openai_provider import upstream_settings
    from mmservice.providers.registry import choose

    if choose(cfg, cap) != "openai":
        return "local"
    url = upstream_settings(cfg, cap)["base_url"] or "https://api.openai.com/v1"
    try:
        kind = kinds.kind_for(cfg, cap).name
    except MMSError:
        kind = "unknown"
    return f"{kind}:{urlsplit(url).netloc or url}"


def measured(usage: dict) -> dict[str, float]:
    """The countable part of a result's `usage` (upstream dicts carry nested details too)."""
    out = {m: float(v) for m in METRICS
           if isinstance(v := usage.get(m), (int, float)) and not isinstance(v, bool) and v > 0}
    if "requests" not in usage:
        out["requests"] = 1.0  # a step whose provider does not count calls made at least one
    return out


def usage_writes(cfg: dict, job: dict, step: str, result: dict,
                 keys: Keys = DEFAULT_KEYS) -> tuple[str, dict[str, float], int] | None:
    """What one saved step adds to its tenant's counters: (hash key, {field: amount}, ttl_s)."""
    from mmservice.steps import registry

    if step not in registry.BY_NAME:
        return None
    return writes_for(cfg, job["tenant"], registry.get(step).capability, result, keys)


def writes_for(cfg: dict, tenant: str, cap: str, result: dict,
               keys: Keys = DEFAULT_KEYS) -> tuple[str, dict[str, float], int]:
    """What one call of capability `cap` adds to `tenant`'s counters (a job step's result, or
    a facade answer): the `usage` of `result` under its model and the capability's upstream."""
    values = measured(result.get("usage") or {})
    prefix = _SEP.join((cap, upstream_label(cfg, cap),
                        str(result.get("model") or "unknown").replace(_SEP, "/")))
    fields = {f"{prefix}{_SEP}{metric}": value for metric, value in values.items()}
    return (usage_key(tenant, today(), keys), fields,
            int(float(cfg.get("USAGE_TTL_DAYS") or 400) * 86400))


def queue_usage(pipe, writes: tuple[str, dict[str, float], int]) -> None:
    """Queue `usage_writes`' increments on a pipeline, e.g. inside the step's own transaction,
    so a result and its usage commit together."""
    key, fields, ttl_s = writes
    for field, value in fields.items():
        pipe.hincrbyfloat(key, field, value)
    pipe.expire(key, ttl_s)


def _number(raw) -> float | int:
    value = float(raw)
    return int(value) if value.is_integer() else round(value, 3)


def read_usage(r, tenant: str, day: str, keys: Keys = DEFAULT_KEYS) -> dict[str, Any]:
    """Rows per (capability, upstream, model) and totals per metric, for one tenant and day."""
    rows: dict[tuple, dict[str, Any]] = {}
    for field, raw in (r.hgetall(usage_key(tenant, day, keys)) or {}).items():
        parts = (field.decode() if isinstance(field, bytes) else field).split(_SEP)
        if len(parts) != 4:
            continue
        cap, upstream, model, metric = parts
        row = rows.setdefault((cap, upstream, model), {"capability": cap, "upstream": upstream,
                                                      "model": model})
        row[metric] = _number(raw)
    data = sorted(rows.values(), key=lambda x: (x["capability"], x["upstream"], x["model"]))
    totals: dict[str, float] = {}
    for row in data:
        for metric in METRICS:
            if metric in row:
                totals[metric] = totals.get(metric, 0) + row[metric]
    return {"data": data, "totals": {m: _number(v) for m, v in totals.items()}}
