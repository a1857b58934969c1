"""Which named queue an item goes to: the tenant's rules, first match wins.

A rule names any of `category` (one of the item's flagged categories, or its top one),
`severity` (`low|medium|high`), `kind` (`text|image|audio`), `source` (`verdict|report|sample|
appeal`) and the `queue` it sends to. Queues have settings of their own: `reason_required`
(a decision must give a reason) and `sla_s` (the oldest-item age it should stay under).

Why the rules are one JSON document per tenant: they are read whole for every new item and
changed rarely, as one unit (and audited as one `before`/`after`).
"""
from __future__ import annotations

import json
from typing import Any

DEFAULT_QUEUE = "default"
APPEALS_QUEUE = "appeals"
ESCALATIONS_QUEUE = "escalations"
DEFAULT: dict[str, Any] = {
    "rules": [{"source": "appeal", "queue": APPEALS_QUEUE}],
    "default_queue": DEFAULT_QUEUE,
    "queues": {},
}
MATCH_FIELDS = ("category", "severity", "kind", "source")


def load(ctx: Any) -> dict[str, Any]:
    raw = ctx.r.get(ctx.k("routing"))
    return json.loads(raw) if raw else json.loads(json.dumps(DEFAULT))


def save(ctx: Any, doc: dict[str, Any]) -> dict[str, Any]:
    ctx.r.set(ctx.k("routing"), json.dumps(doc))
    return doc


def _matches(rule: dict[str, Any], item: dict[str, Any]) -> bool:
    for f in MATCH_FIELDS:
        want = rule.get(f)
        if want is None:
            continue
        if f == "category":
            have = set(item.get("flagged_categories") or []) | {item.get("top_category")}
            if want not in have:
                return False
        elif f == "kind":
            if (item.get("content") or {}).get("kind") != want:
                return False
        elif item.get(f) != want:
            return False
    return True


def route(doc: dict[str, Any], item: dict[str, Any]) -> str:
    for rule in doc.get("rules") or []:
        if _matches(rule, item):
            return str(rule["queue"])
    if item.get("source") == "appeal":
        return APPEALS_QUEUE  # an appeal never lands among first reviews by accident
    return str(doc.get("default_queue") or DEFAULT_QUEUE)


def queue_settings(doc: dict[str, Any], name: str, cfg: dict) -> dict[str, Any]:
    own = (doc.get("queues") or {}).get(name) or {}
    return {"reason_required": bool(own.get("reason_required", False)),
            "sla_s": int(own.get("sla_s") or cfg["REVIEW_SLA_S"])}


def queue_names(doc: dict[str, Any]) -> list[str]:
    """Every queue the rules and settings name, the default and appeals queues first."""
    names = [str(doc.get("default_queue") or DEFAULT_QUEUE), APPEALS_QUEUE]
    names += [str(r["queue"]) for r in doc.get("rules") or []]
    names += list((doc.get("queues") or {}).keys())
    return list(dict.fromkeys(names))
