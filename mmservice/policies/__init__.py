"""Per-tenant moderation policies: versioned records (`store`), the decision (`model`), shadow
evaluation (here) and the backtest (`backtest`).

Why the version is resolved at submission (intake stores `_policy: {name, version}` on the job):
a job is judged by the policy that was current when the client sent it, whatever happens in the
queue after; a retried or recovered step judges the same way again, and an unknown
`options.policy` is refused at once (422) rather than failing in a worker. The builtin policy
(version 0) is the tenant's settings as read when the step runs. Shadow policies are read when
the step runs: they only observe, so the newest version is the one worth measuring.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mmservice.moderation.policy import default_thresholds
from mmservice.policies.model import BUILTIN, Policy
from mmservice.policies.store import PolicyStore, lists_exist

__all__ = ["BUILTIN", "Policy", "PolicyStore", "for_job", "lists_exist", "shadow_verdicts"]


def for_job(store: PolicyStore | None, job: dict, cfg: Mapping[str, Any]) -> Policy:
    """The live policy that judges `job`: the version intake recorded (a job from before
    policies existed: the tenant's default now), with the job's `options.thresholds` on top."""
    base = default_thresholds(cfg)
    overrides = (job.get("options") or {}).get("thresholds")
    if store is None:
        return Policy.builtin(base, overrides)
    ref = job.get("_policy") or store.resolve(job["tenant"],
                                              (job.get("options") or {}).get("policy"))
    if ref["name"] == BUILTIN:
        return Policy.builtin(base, overrides)
    return Policy.from_record(store.get(job["tenant"], ref["name"], int(ref["version"])),
                              base, overrides)


def shadow_verdicts(store: PolicyStore | None, job: dict, cfg: Mapping[str, Any],
                    result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each shadow policy's would-be verdict on the live result's scores (no model call)."""
    if store is None or not result.get("scores_by_kind"):
        return []
    base = default_thresholds(cfg)
    overrides = (job.get("options") or {}).get("thresholds")
    out = []
    for rec in store.shadows(job["tenant"]):
        d = Policy.from_record(rec, base, overrides).judge(result["scores_by_kind"])
        out.append({"policy": {"name": rec["name"], "version": rec["version"]},
                    "verdict": d["verdict"],
                    "flagged_categories": sorted(c for c, hit in d["categories"].items() if hit)})
    return out
