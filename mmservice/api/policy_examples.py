"""Example answers of `/v1/policies` and `/v1/audit` for the OpenAPI document (checked against
their schemas by tests/test_openapi.py, like `examples.py`)."""
from __future__ import annotations

from typing import Any

POLICY_IN: dict[str, Any] = {
    "thresholds": {"harassment": {"review": 0.4, "block": 0.8},
                   "sexual/minors": {"review": 0.05, "block": 0.2}},
    "by_kind": {"image": {"sexual": {"review": 0.3, "block": 0.6}}},
    "lists": [], "halt_on_match": True, "unassessed": "review", "mode": "live", "default": True,
}
POLICY: dict[str, Any] = {
    **{k: v for k, v in POLICY_IN.items()}, "name": "strict", "version": 2, "latest_version": 2,
    "created_at": "2026-12-02T15:00:00.000Z", "actor": "mms_ab12cd34",
}
POLICY_LIST: dict[str, Any] = {"data": [POLICY], "default": "strict"}
BACKTEST: dict[str, Any] = {
    "policy": {"name": "strict", "version": 2}, "candidate": False, "jobs": 200,
    "unchanged": 188, "changes": {"allow->review": 9, "review->block": 3},
    "examples": {"allow->review": ["job_019ad2c4a1f2b3c4d5e6f7a8b9c0d1"],
                 "review->block": ["job_019ad2c4a1f2b3c4d5e6f7a8b9c0d2"]},
    "skipped": 4,
}
AUDIT_ENTRY: dict[str, Any] = {
    "id": "1764687600000-0",
    "event": {"type": "policy.put", "actor": "mms_ab12cd34", "ts": "2026-12-02T15:00:00.000Z",
              "policy": "strict", "version": 2, "before": {"version": 1},
              "after": {"version": 2}},
    "prev": "0" * 64, "hash": "9f" * 32,
}
AUDIT_LIST: dict[str, Any] = {"data": [AUDIT_ENTRY]}
AUDIT_VERIFY: dict[str, Any] = {"ok": True, "first_bad_id": None, "entries": 12}


def error(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    body = {"code": code, "message": message}
    if field:
        body["field"] = field
    return {"error": body}


NOT_FOUND = error("policy_not_found", "no policy 'strict'")
VERSION_NOT_FOUND = error("policy_version_not_found", "policy 'strict' has no version 9")
INVALID = error("validation_error", "thresholds.hate.review: review (0.9) is above block (0.5)",
                "thresholds.hate.review")
