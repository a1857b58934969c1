"""Example answers for the OpenAPI document (`/openapi.json`, `/docs`).

Why in one module: the examples are checked against the output schemas by the tests, so a
field renamed in a schema cannot leave a stale example behind.
"""
from __future__ import annotations

from typing import Any

_BASE: dict[str, Any] = {
    "id": "job_019ad2c4a1f2b3c4d5e6f7a8b9c0d1", "created_at": "2026-12-02T15:00:00.000Z",
    "updated_at": "2026-12-02T15:00:00.000Z", "tasks": ["moderate"],
    "input": {"kind": "text", "mime": "text/plain", "chars": 11, "bytes": 11,
              "sha256": "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"},
    "options": {}, "metadata": {"post_id": "p-123"},
}
JOB_QUEUED: dict[str, Any] = {**_BASE, "status": "queued", "task_status": {"moderate": "pending"},
                              "results": {}}
JOB_SUCCEEDED: dict[str, Any] = {
    **_BASE, "status": "succeeded", "task_status": {"moderate": "succeeded"},
    "started_at": "2026-12-02T15:00:00.010Z", "finished_at": "2026-12-02T15:00:00.180Z",
    "updated_at": "2026-12-02T15:00:00.180Z",
    "results": {"moderation": {
        "flagged": True, "verdict": "review", "categories": {"harassment": True, "violence": False},
        "category_scores": {"harassment": 0.62, "violence": 0.03},
        "assessed_categories": ["harassment", "violence"], "inputs": ["text"],
        "thresholds": {"harassment": {"review": 0.5, "block": 0.85},
                       "violence": {"review": 0.5, "block": 0.85}},
        "model": "omni-moderation-latest", "provider": "openai", "elapsed_ms": 168.2}},
}
JOB_CANCELED: dict[str, Any] = {**_BASE, "status": "canceled",
                                "task_status": {"moderate": "canceled"}, "results": {},
                                "finished_at": "2026-12-02T15:00:01.000Z",
                                "media_deleted": True}

_MESSAGES = {
    "malformed_json": "request body is not valid JSON: Expecting value: line 1 column 1",
    "idempotency_key_reused": "Idempotency-Key was already used with a different request body",
    "text_too_long": "text is 100001 characters; the limit is 100000",
    "unsupported_media_type": "file content is not a supported image or audio format",
    "task_not_applicable": "task 'describe' does not apply to text input",
    "store_unavailable": "the job store or broker is unreachable; retry later",
    "invalid_cursor": "cursor is not valid",
    "job_not_found": "no job 'job_019ad2c4a1f2b3c4d5e6f7a8b9c0d1'",
    "speech_not_found": "this job has no synthesized speech (yet)",
    "frame_not_found": "keyframe 3 is not a flagged frame of this job",
    "video_result_not_found": "this job has no video result (yet)",
    "delivery_not_found": "no delivery 'msg_019ad2c4a1f2b3c4d5e6f7a8b9c0d1'",
    "invalid_day": "day must be a date as YYYY-MM-DD, got '2026-13-01'",
    "unauthorized": "send an API key: Authorization: Bearer mms_...",
    "forbidden": "this API key lacks the 'submit' scope",
    "rate_limited": "over this key's request rate (600 per 1 minute); retry after Retry-After "
                    "seconds",
    "quota_exceeded": "this tenant has 1000 unfinished jobs, its limit (MMS_MAX_OPEN_JOBS)",
    "key_not_found": "no API key 'ab12cd34'",
    "invalid_scopes": "scopes must be a non-empty subset of submit, read, review, admin",
    "invalid_setting": "MAX_TEXT_CHARS: Input should be greater than or equal to 1",
}


def error(code: str) -> dict[str, Any]:
    body = {"code": code, "message": _MESSAGES[code]}
    if code == "forbidden":
        body["scope"] = "submit"
    return {"error": body}

READY: dict[str, Any] = {
    "status": "ready",
    "checks": {"redis": {"ok": True, "ms": 0.21}, "broker": {"ok": True, "ms": 0.35},
               "workers": {"ok": True, "live": 1, "queues": {"moderation": 1, "vision": 1,
                                                            "audio": 1, "webhooks": 1}}},
    "providers": {"moderation": {"provider": "local", "model": "mms-local-text-v2"}},
    "capabilities": {"moderation": {"provider": "local", "queue": "moderation",
                                    "engine": "warm", "warm": True}},
}
USAGE: dict[str, Any] = {
    "object": "usage", "tenant": "default", "day": "2026-12-02",
    "data": [{"capability": "moderation", "upstream": "openai:api.openai.com",
              "model": "omni-moderation-latest", "requests": 120, "total_tokens": 5400}],
    "totals": {"requests": 120, "total_tokens": 5400},
}
DELIVERY: dict[str, Any] = {
    "id": "msg_019ad2c4a1f2b3c4d5e6f7a8b9c0d1", "job_id": _BASE["id"], "type": "job.succeeded",
    "url": "https://hooks.example.com/mmservice", "status": "succeeded",
    "created_at": "2026-12-02T15:00:00.181Z", "updated_at": "2026-12-02T15:00:00.240Z",
    "attempt_count": 1, "next_attempt_at": None, "error": None,
    "attempts": [{"attempt": 1, "started_at": "2026-12-02T15:00:00.182Z",
                  "finished_at": "2026-12-02T15:00:00.240Z", "status_code": 204,
                  "latency_ms": 57.9, "error": None, "response_body": "",
                  "outcome": "succeeded"}],
}
API_KEY: dict[str, Any] = {
    "id": "ab12cd34", "prefix": "mms_ab12cd34", "tenant": "acme", "scopes": ["submit", "read"],
    "name": "uploader", "created_at": "2026-12-02T15:00:00Z", "expires_at": None,
    "revoked_at": None, "active": True,
}
NEW_API_KEY: dict[str, Any] = {**API_KEY, "key": "mms_ab12cd34_" + "x" * 43}
TENANT: dict[str, Any] = {"tenant": "acme", "keys": 2, "active_keys": 1,
                          "settings": {"MAX_OPEN_JOBS": 100}}
