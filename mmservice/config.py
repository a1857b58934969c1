"""Settings: defaults in code, `MMS_*` environment overrides, a dict for tests.

Why one flat mapping: the API, workers and CLI all read the same settings, and the README's
table is generated from `DEFAULTS` by hand-checking one place. Values from the environment are
coerced to the type of their default so `MMS_JOB_TTL_S=60` becomes an int.
"""
from __future__ import annotations

import json
import os
from typing import Any

CAPS = ("moderation", "vision", "transcription", "speech")

DEFAULTS: dict[str, Any] = {
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "BLOB_DIR": "var/blobs",
    "JOB_TTL_S": 7 * 24 * 3600,
    "IDEMPOTENCY_TTL_S": 24 * 3600,
    "JOB_DEADLINE_S": 600,  # a job still running after this is marked failed (job_timeout)
    "JOB_WAITERS_PER_PROCESS": 2,  # long-polling GETs (`?wait=`) an API process lets wait at once
    "TENANT": "default",
    # Input limits
    "MAX_TEXT_CHARS": 100_000,
    "MAX_IMAGE_BYTES": 20 * 1024 * 1024,
    "MAX_AUDIO_BYTES": 200 * 1024 * 1024,
    "MAX_IMAGE_PIXELS": 50_000_000,
    "MAX_IMAGE_SIDE_RATIO": 20.0,
    "MAX_AUDIO_DURATION_S": 4 * 3600,
    "MAX_METADATA_BYTES": 8192,
    "MAX_TTS_CHARS": 20_000,
    "ALLOW_IMAGE_URL_FETCH": True,
    "IMAGE_FETCH_TIMEOUT_S": 10.0,
    "ALLOW_PRIVATE_URLS": "",  # comma-separated CIDRs/hosts allowed despite SSRF rules
    # Upstream calls
    "UPSTREAM_TIMEOUT_S": 30.0,
    "UPSTREAM_MAX_ATTEMPTS": 5,
    "UPSTREAM_BACKOFF_BASE_S": 0.5,
    "UPSTREAM_BACKOFF_MAX_S": 20.0,
    "UPSTREAM_RETRY_BUDGET_S": 120.0,
    "OPENAI_BASE_URL": "",
    "OPENAI_API_KEY": "",
    # Moderation policy
    "THRESHOLDS_REVIEW": 0.5,
    "THRESHOLDS_BLOCK": 0.85,
    "THRESHOLDS": "",  # JSON: {"category": {"review": x, "block": y}}
    "MODERATION_MAX_CHARS": 10_000,
    "MODERATION_BATCH_SIZE": 32,  # texts per upstream request when many jobs are queued
    "MODERATION_BATCH_WAIT_MS": 50.0,  # longest a text waits for company under load
    "MODERATION_BATCH_HOLD_AT": 8,  # with no broker backlog, texts wait while this many are in flight  # noqa: E501
    # Audio
    "TRANSCRIPTION_MAX_UPLOAD_BYTES": 25 * 1024 * 1024,
    "TRANSCRIPTION_MAX_CHUNK_S": 600,
    "TRANSCRIPTION_CHUNK_OVERLAP_S": 1.0,
    "TTS_MAX_PIECE_CHARS": 4096,
    # Worker
    "WORKER_CONCURRENCY": 8,
    "WORKER_POOL": "threads",
    "BROKER_VISIBILITY_TIMEOUT_S": 3600,
    "BROKER_RESTORE_INTERVAL_S": 10.0,
    "LOG_LEVEL": "INFO",
    # Webhooks (read by mmservice.webhooks; listed here so secrets are redacted like the others)
    "WEBHOOK_SECRETS": "",
    "WEBHOOK_ALLOWLIST": "",
    "WEBHOOK_DEFAULT_URL": "",
    "WEBHOOK_TIMEOUT_S": 15.0,
    "WEBHOOK_RETRY_SCHEDULE_S": "5,300,1800,7200,18000,36000,36000",
    "WEBHOOK_RETRY_AFTER_MAX_S": 3600.0,
}

CAP_DEFAULT_MODELS = {
    "moderation": "omni-moderation-latest",
    "vision": "gpt-4o-mini",
    "transcription": "whisper-1",
    "speech": "gpt-4o-mini-tts",
}
for _cap in CAPS:
    DEFAULTS[f"{_cap.upper()}_BASE_URL"] = ""
    DEFAULTS[f"{_cap.upper()}_API_KEY"] = ""
    DEFAULTS[f"{_cap.upper()}_MODEL"] = ""
    DEFAULTS[f"{_cap.upper()}_PROVIDER"] = "auto"

SECRET_KEYS = {k for k in DEFAULTS if k.endswith("API_KEY") or "SECRET" in k}
# Variables read without the MMS_ prefix (the openai client's own conventions).
UNPREFIXED = {"OPENAI_BASE_URL", "OPENAI_API_KEY"}


def _coerce(default: Any, raw: str) -> Any:
    if isinstance(default, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw


def load(overrides: dict[str, Any] | None = None, environ: dict[str, str] | None = None) -> dict:
    """Defaults <- environment (`MMS_<KEY>`, or `OPENAI_*` as the client reads them) <- overrides."""  # noqa: E501
    env = os.environ if environ is None else environ
    cfg = dict(DEFAULTS)
    for key, default in DEFAULTS.items():
        names = [f"MMS_{key}"] + ([key] if key in UNPREFIXED else [])
        for name in names:
            if name in env and env[name] != "":
                cfg[key] = _coerce(default, env[name])
                break
    # Any other MMS_* variable (e.g. feature settings added by later modules) passes through.
    for name, value in env.items():
        if name.startswith("MMS_") and name[4:] not in cfg:
            cfg[name[4:]] = value
    if overrides:
        cfg.update(overrides)
    return cfg


def thresholds(cfg: dict) -> dict[str, dict[str, float]]:
    """Per-category review/block thresholds; `MMS_THRESHOLDS` JSON overrides the defaults."""
    from mmservice.providers.base import CATEGORIES

    out = {c: {"review": float(cfg["THRESHOLDS_REVIEW"]), "block": float(cfg["THRESHOLDS_BLOCK"])}
           for c in CATEGORIES}
    raw = cfg.get("THRESHOLDS") or ""
    extra = json.loads(raw) if isinstance(raw, str) and raw else (raw or {})
    for cat, vals in extra.items():
        if cat in out:
            out[cat].update({k: float(v) for k, v in vals.items() if k in ("review", "block")})
    return out


def redacted(cfg: dict) -> dict:
    """Config safe to show or log: secrets replaced by whether they are set."""
    return {k: ("***" if v else "") if k in SECRET_KEYS else v for k, v in cfg.items()}
