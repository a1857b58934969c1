"""The first half of the settings' declarations (storage and jobs, tenants and limits, the
review queue, input limits, upstream calls, the moderation policy), a base class of
`config.Settings`. Why a second file: one class of 300 declarations made `config.py` the
longest module by far; the settings are still one typed model, read and validated as one
(`config.load`), and the README's table keeps their order (a base class's fields come first).
"""
from __future__ import annotations

from pydantic import AliasChoices, field_validator  # noqa: F401 (used by some declarations)
from pydantic_settings import BaseSettings

from mmservice.setting_decl import F, auth_mode, none_words, rate, seconds_list  # noqa: F401


class FirstSettings(BaseSettings):
    """Declarations only; `config._Base` adds the configuration, the sources and the rest."""

    # Storage and jobs
    REDIS_URL: str = F("redis://127.0.0.1:6379/0", "Job store and Celery broker (`make run`: "
                                                   "an embedded Redis when unset)")
    REDIS_TIMEOUT_S: float = F(2.0, "Bound of one Redis call (socket timeout; a timed-out call "
                                    "is not retried), so a hung Redis is a 503 "
                                    "`store_unavailable` within it", gt=0)
    BLOB_DIR: str = F("var/blobs", "Local blob store directory (shared by API and workers)")
    BLOB_URL: str = F("", "`s3://bucket/prefix`: media and artifacts in an S3-compatible store "
                          "(API and workers on several hosts); empty: the local `MMS_BLOB_DIR`")
    S3_ENDPOINT_URL: str = F("", "S3 endpoint (SeaweedFS, MinIO, R2...); empty: AWS's. A custom "
                                 "endpoint is addressed path-style")
    S3_REGION: str = F("", "S3 region; empty: boto3's (`AWS_REGION`, `~/.aws/config`), else "
                           "`us-east-1`")
    S3_ACCESS_KEY_ID: str = F("", "S3 access key; empty: boto3's chain (`AWS_ACCESS_KEY_ID`, "
                                  "profile, instance role)", secret=True)
    S3_SECRET_ACCESS_KEY: str = F("", "S3 secret key (with `MMS_S3_ACCESS_KEY_ID`)", secret=True)
    S3_SSE: str = F("", "Server-side encryption of every object: `AES256` or `aws:kms`; empty: "
                        "the bucket's default")
    S3_SSE_KMS_KEY_ID: str = F("", "KMS key for `MMS_S3_SSE=aws:kms` (empty: the account's "
                                   "default key)")
    S3_MULTIPART_MB: int = F(5, "Objects from this size (MB) are uploaded in parts of this "
                                "size, two at once (a streamed upload holds about two parts "
                                "in memory)", ge=5)
    S3_PRESIGN_TTL_S: int = F(0, "`> 0`: `GET /v1/jobs/<id>/speech` redirects (307) to a "
                                 "presigned S3 URL valid this long; `0`: the API streams it",
                              ge=0)
    S3_TIMEOUT_S: float = F(10.0, "Connect and read timeout of one S3 call", gt=0)
    S3_MAX_ATTEMPTS: int = F(5, "Attempts per S3 call (botocore's `standard` retries: 5xx, "
                                "throttling, timeouts, with jittered backoff)", ge=1)
    S3_CREATE_BUCKET: bool = F(True, "Create the bucket on first write when it does not exist")
    S3_LIFECYCLE: bool = F(False, "At worker start, set the bucket's lifecycle rule expiring "
                                  "objects under the prefix a day after `MMS_JOB_TTL_S` "
                                  "(replaces the bucket's other lifecycle rules); the workers' "
                                  "sweep deletes expired media either way")
    JOB_TTL_S: int = F(7 * 24 * 3600, "How long job records, media and results are kept", ge=1)
    IDEMPOTENCY_TTL_S: int = F(24 * 3600, "How long an `Idempotency-Key` is remembered", ge=1)
    JOB_DEADLINE_S: int = F(600, "A job not settled by then is failed with `job_timeout`",
                            ge=1)
    API_THREADS: int = F(32, "Threads per API process (gunicorn `--threads` of `make run`): "
                             "requests one process serves at once, most of them waiting on an "
                             "upstream (the facade) or on Redis; more than the clients one "
                             "process usually holds, since gunicorn's processes do not share "
                             "keep-alive connections evenly", ge=1)
    JOB_WAITERS_PER_PROCESS: int = F(2, "Long-polling GETs (`?wait=`) one API process lets wait "
                                        "at once; keep it below gunicorn's `--threads` "
                                        "(`0`: off)", ge=0)
    TENANT: str = F("default", "Tenant of every request when `MMS_AUTH=disabled`")
    # Tenants, API keys, limits
    AUTH: str = F("on", "`on`: every API call needs a key (`Authorization: Bearer mms_...`); "
                        "`disabled`: local experiments only, refused unless `MMS_HOST` is "
                        "loopback, and even then only loopback clients go without a key")
    _auth = field_validator("AUTH", mode="before")(lambda cls, v: auth_mode(v))
    OPERATOR_TENANT: str = F("default", "The tenant whose `admin` keys manage every tenant "
                                        "(other tenants' `admin` keys manage their own)")
    RATE_LIMIT: str = F("600/minute", "Requests per API key (`limits` notation, e.g. "
                                      "`600/minute`, `20/second`; `none`: no limit)",
                        tenant=True)
    _rate = field_validator("RATE_LIMIT", mode="before")(lambda cls, v: rate(v))
    MAX_UPLOAD_BYTES_PER_DAY: int = F(10 * 1024 ** 3, "Request bytes a tenant may upload per "
                                                      "UTC day (`0`: no limit)", tenant=True,
                                      ge=0)
    MAX_OPEN_JOBS: int = F(1000, "Unfinished jobs a tenant may have at once (`0`: no limit)",
                           tenant=True, ge=0)
    TENANT_SETTINGS_CACHE_S: float = F(2.0, "How long an API process keeps a tenant's settings "
                                            "before reading them again from Redis", ge=0)
    # Review queue (mmservice/review/)
    REVIEW_LEASE_S: int = F(600, "How long a reviewer holds an item handed out by "
                                 "`/v1/review/queues/<q>/next` (renewable)", tenant=True,
                            ge=5, le=86400)
    REVIEW_APPEAL_WINDOW_S: int = F(30 * 86400, "How long after a decision it may be appealed",
                                    tenant=True, ge=0)
    REVIEW_HIGH_SEVERITY_SCORE: float = F(0.8, "An item whose top score reaches this is "
                                               "high-severity (exposure limits, priority)",
                                          tenant=True, ge=0, le=1)
    REVIEW_EXPOSURE_HIGH_PER_HOUR: int = F(30, "High-severity items one reviewer is handed per "
                                               "hour; past it the queue offers milder items and "
                                               "the page suggests a break (`0`: no cap)",
                                           tenant=True, ge=0)
    REVIEW_SAMPLE_RATE: float = F(0.0, "Share of automatic allow/block verdicts also sent to "
                                       "review (source `sample`, double-reviewed for the "
                                       "agreement metric)", tenant=True, ge=0, le=1)
    REVIEW_SLA_S: int = F(3600, "Oldest-item age a queue should stay under (queues may set "
                                "their own); shown in metrics", tenant=True, ge=1)
    REVIEW_ITEM_TTL_S: int = F(90 * 86400, "How long review items (and their history) are kept",
                               ge=60)
    REVIEW_SESSION_TTL_S: int = F(8 * 3600, "Lifetime of a `/review` page session (a key "
                                            "exchanged for a cookie)", ge=60)
    # Input limits
    MAX_TEXT_CHARS: int = F(100_000, "Text limit (413)", tenant=True, ge=1)
    DECODE_PIXELS_PER_PROCESS: int = F(100_000_000, "Pixels one process decodes at once to "
                                                    "check uploads (memory: ~4 bytes each); "
                                                    "others wait their turn", ge=1)
    MAX_IMAGE_BYTES: int = F(20 * 1024 * 1024, "Image limit in bytes (413)", tenant=True, ge=1)
    MAX_AUDIO_BYTES: int = F(200 * 1024 * 1024, "Audio limit in bytes (413)", tenant=True, ge=1)
    MAX_IMAGE_PIXELS: int = F(50_000_000, "Decompression-bomb guard (422)", tenant=True, ge=1)
    MAX_IMAGE_SIDE_RATIO: float = F(20.0, "Longest/shortest side limit (422)", tenant=True, gt=0)
    MAX_AUDIO_DURATION_S: int = F(4 * 3600, "Audio length limit in seconds (422)", tenant=True,
                                  ge=1)
    MAX_METADATA_BYTES: int = F(8192, "`metadata` size limit in bytes (413)", tenant=True,
                                ge=0)
    MAX_TTS_CHARS: int = F(20_000, "Text-to-speech limit (422)", tenant=True, ge=1)
    ALLOW_IMAGE_URL_FETCH: bool = F(True, "Accept https `image_url`s (fetched by the worker)")
    IMAGE_FETCH_TIMEOUT_S: float = F(10.0, "Timeout per image fetch", gt=0)
    ALLOW_PRIVATE_URLS: str = F("", "Comma-separated CIDRs/hosts image fetches may reach "
                                    "despite the SSRF guard (also allows `http`)")
    # Upstream calls
    UPSTREAM_TIMEOUT_S: float = F(30.0, "Timeout of one upstream call (the client's `timeout`)",
                                  gt=0)
    UPSTREAM_MAX_ATTEMPTS: int = F(30, "Attempts per upstream call, retries included: a "
                                       "backstop, the retry budget is the bound", ge=1)
    UPSTREAM_BACKOFF_BASE_S: float = F(0.5, "Exponential backoff with full jitter: first delay",
                                       ge=0)
    UPSTREAM_BACKOFF_MAX_S: float = F(20.0, "Exponential backoff: longest delay", ge=0)
    UPSTREAM_RETRY_BUDGET_S: float = F(120.0, "Total time one call may spend retrying", ge=0)
    UPSTREAM_BREAKER_FAILURES: int = F(5, "Consecutive failed calls to one upstream (per "
                                          "capability) that open its circuit breaker", ge=1)
    UPSTREAM_BREAKER_COOLDOWN_S: float = F(5.0, "How long an open breaker holds calls back "
                                                "before one half-open probe", ge=0)
    OPENAI_BASE_URL: str = F("", "Upstream for every capability unless overridden per capability",
                             validation_alias=AliasChoices("MMS_OPENAI_BASE_URL",
                                                           "OPENAI_BASE_URL"))
    OPENAI_API_KEY: str = F("", "Key for that upstream", secret=True,
                            validation_alias=AliasChoices("MMS_OPENAI_API_KEY", "OPENAI_API_KEY"))
    OPENROUTER_REFERER: str = F("", "OpenRouter's `HTTP-Referer` header")
    OPENROUTER_TITLE: str = F("", "OpenRouter's `X-Title` header")
    DISCOVERY_TIMEOUT_S: float = F(2.0, "Timeout of the `/v1/models` probe (`/v1/providers`, "
                                        "`/readyz`)", gt=0)
    DISCOVERY_TTL_S: float = F(300.0, "How long a successful probe is kept", ge=0)
    DISCOVERY_RETRY_S: float = F(10.0, "How long a failed probe is kept", ge=0)
    # Moderation policy
    THRESHOLDS_REVIEW: float = F(0.5, "Default per-category review threshold", tenant=True,
                                 ge=0)
    THRESHOLDS_BLOCK: float = F(0.85, "Default per-category block threshold", tenant=True, ge=0)
    THRESHOLDS: str = F("", 'Per-category JSON: `{"category": {"review": x, "block": y}}`',
                        tenant=True)
    MODERATION_MODE: str = F("", "`endpoint` (`/v1/moderations`) or `chat` (a chat model "
                                 "with a guard prompt); empty: chat where the kind has no "
                                 "`/v1/moderations`")
    MODERATION_CHAT_STYLE: str = F("", "`guard` sends the content alone and reads `safe` / "
                                       "`unsafe\\nS1,…`; `json` asks for the 13 scores; empty: "
                                       "`guard` when the model name contains `llama-guard`")
    MODERATION_TEMPERATURE: float | None = F(0.0, "Chat-mode temperature; `none` leaves it "
                                                  "out (reasoning models reject it)")
    MODERATION_MAX_CHARS: int = F(10_000, "Longer texts/transcripts are moderated in pieces", ge=1)
    MODERATION_BATCH_SIZE: int = F(32, "Micro-batching: texts from concurrent jobs share one "
                                            "request up to this size (`1`: off)",
                                   ge=1)
    MODERATION_BATCH_WAIT_MS: float = F(50.0, "Under load, how long a text may wait for company",
                                        ge=0)
    MODERATION_BATCH_HOLD_AT: int = F(8, "With no broker backlog, a text is sent at once "
                                         "unless this many are in flight (`0`: never)", ge=0)
