"""Backtest: how a policy would have decided the tenant's recent moderation results.

Why from stored scores: the model already measured every recent item; re-deciding its scores
(`scores_by_kind`, kept on every result for this) costs no model call and no media, so a policy
change can be judged on thousands of real jobs in a second, before it goes live. Each job is
re-decided with its own `options.thresholds` on top, as the live path would.
"""
from __future__ import annotations

from collections import Counter
from typing import Any

from mmservice.jobs.store import JobStore
from mmservice.policies.model import Policy, stored_scores

EXAMPLES_PER_CHANGE = 5


def recent_moderations(store: JobStore, tenant: str, limit: int) -> list[dict]:
    """The tenant's newest succeeded jobs with a moderation result, newest first (at most
    `limit` jobs looked at: the window is "the last N jobs")."""
    jobs, _ = store.list(tenant, status=None, cursor=None, limit=limit)
    return jobs


def run(jobs: list[dict], make_policy: Any) -> dict[str, Any]:
    """`make_policy(job)` -> the candidate Policy for that job (its overrides applied).
    -> {"jobs", "unchanged", "changes": {"allow->review": n}, "examples", "skipped"}."""
    changes: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}
    unchanged = skipped = 0
    for job in jobs:
        result = (job.get("results") or {}).get("moderation") or {}
        scores = stored_scores(result)
        if not result or not scores or result.get("decided_by", "policy") != "policy":
            skipped += 1
            continue
        policy: Policy = make_policy(job)
        new = policy.judge(scores)["verdict"]
        old = result.get("verdict")
        if new == old:
            unchanged += 1
            continue
        change = f"{old}->{new}"
        changes[change] += 1
        ids = examples.setdefault(change, [])
        if len(ids) < EXAMPLES_PER_CHANGE:
            ids.append(job["id"])
    return {"jobs": unchanged + sum(changes.values()), "unchanged": unchanged,
            "changes": dict(changes), "examples": examples, "skipped": skipped}
