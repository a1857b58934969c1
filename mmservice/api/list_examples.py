"""Example requests and answers of `/v1/lists` for the OpenAPI document (checked against their
schemas by tests/test_openapi.py)."""
from __future__ import annotations

from typing import Any

LIST_IN: dict[str, Any] = {"kind": "terms", "action": "block", "flood_per_minute": 100,
                           "items": [{"value": "idiot", "kind": "word"}, "free crypto"]}
LIST: dict[str, Any] = {
    "name": "insults", "kind": "terms", "action": "block", "flood_per_minute": 100, "items": 2,
    "created_at": "2026-12-02T15:00:00.000Z", "updated_at": "2026-12-02T15:00:00.000Z",
    "actor": "mms_ab12cd34"}
PDQ_LIST: dict[str, Any] = {**LIST, "name": "known-bad", "kind": "pdq", "max_distance": 31,
                            "min_quality": 50, "items": 1200}
LIST_LIST: dict[str, Any] = {"data": [LIST, PDQ_LIST]}
TERM_ITEM: dict[str, Any] = {"id": "it_3f2a9c0d1b2e4f56", "kind": "word", "value": "idiot",
                             "note": None, "source": None, "disabled_until": None,
                             "created_at": "2026-12-02T15:00:00.000Z"}
HASH_ITEM: dict[str, Any] = {
    "id": "it_8d1e0c7a6b5f4e3d", "kind": "pdq", "hash": "f8f8f0cee0f4a84f06370a22038f63f0b36e"
    "2ed596621e1d33e6b39c4e9c9b22", "quality": 100, "note": "ticket 4411", "source": "upload",
    "disabled_until": None, "created_at": "2026-12-02T15:00:00.000Z"}
ITEMS_IN: dict[str, Any] = {"items": [{"value": "idiot", "kind": "word", "note": "insult"},
                                      {"value": "fr[e3]{2} crypto", "kind": "regex"}]}
ITEMS_ADDED: dict[str, Any] = {"data": [TERM_ITEM]}
ITEMS_PAGE: dict[str, Any] = {"data": [TERM_ITEM], "next_cursor": 0}
PATCH_IN: dict[str, Any] = {"disabled_until": 1764720000, "note": "false positives, paused"}
