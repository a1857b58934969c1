"""List hits and their precedence in the moderate step (issue 15 points 3-6).

The rules (README "Block and allow lists"):
- Which lists: the policy's `lists`; a policy that names none (and the builtin policy) applies
  every list of the tenant; `lists: []` applies none.
- The list decision: block > review > allow among the hits (a known-bad item inside otherwise
  known-good content is still bad; flood-guarded block hits count as review).
- `halt_on_match` (default true) and a block or allow decision: the answer is made without a
  model call (`decided_by: list`, no scores). Otherwise the model runs and its scores are
  recorded; a block or allow list decision still decides (`decided_by: list`, the policy's own
  verdict kept as `policy_verdict`); a review decision raises an allow to review (a policy
  block stays block, `decided_by: policy`).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mmservice.jobs.media_source import job_media
from mmservice.lists.apply import MAX_HITS
from mmservice.steps.image_text import image_text

SEVERITY = {"allow": 0, "review": 1, "block": 2}


def _texts(content: Any) -> dict[str, str]:
    out = {}
    if content.text:
        out["text"] = content.text
    if content.transcript:
        out["transcript"] = content.transcript
    return out


def _inputs(content: Any) -> list[str]:
    return ([k for k, v in (("transcript", content.transcript is not None),
                            ("text", bool(content.text)),
                            ("image", content.image is not None)) if v])


def find(job: dict, deps: Any, live: Any, content: Any) -> tuple[list[dict], list[dict]]:
    """(hits after the flood guard, the list records that applied)."""
    matcher = getattr(deps, "lists", None)
    if matcher is None:
        return [], []
    tenant = job["tenant"]
    recs = matcher.lists(tenant, live.lists)
    if not recs:
        return [], []
    image = content.image
    wants_media = any(r["kind"] in ("sha256", "pdq") for r in recs)
    wants_ocr = (any(r["kind"] == "terms" for r in recs) and job["input"]["kind"] == "image"
                 and getattr(deps, "ocr", True))
    if image is None and (wants_media or wants_ocr) and job["input"]["kind"] == "image":
        image = job_media(job, deps)
    texts = _texts(content)
    if wants_ocr and image is not None:
        seen = image_text(job, image)
        if seen:
            texts["ocr"] = seen
    sha = (job.get("input") or {}).get("sha256")
    hits = matcher.match(tenant, recs, texts=texts, image=image, sha256=sha,
                         max_pixels=int(deps.cfg_for(tenant).get("MAX_IMAGE_PIXELS",
                                                                 50_000_000)))
    matcher.flood_guard(tenant, hits, recs)
    return hits, recs


def decision(hits: list[dict]) -> str | None:
    if not hits:
        return None
    return max((h["action"] for h in hits), key=lambda a: SEVERITY[a])


def moderate(job: dict, deps: Any, live: Any, content: Any,
             call_model: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The moderation result with the lists applied (`call_model()` runs the model+policy)."""
    hits, _ = find(job, deps, live, content)
    verdict = decision(hits)
    if verdict is None:
        return call_model()
    if verdict in ("block", "allow") and live.halt_on_match:
        result: dict[str, Any] = {
            "flagged": verdict != "allow", "verdict": verdict, "categories": {},
            "category_scores": {}, "assessed_categories": [], "inputs": _inputs(content),
            "policy": live.ref(), "decided_by": "list"}
    else:
        result = call_model()
        policy_verdict = result["verdict"]
        if verdict in ("block", "allow"):
            result.update(verdict=verdict, decided_by="list", policy_verdict=policy_verdict)
        elif SEVERITY[policy_verdict] < SEVERITY["review"]:
            result.update(verdict="review", decided_by="list", policy_verdict=policy_verdict)
        result["flagged"] = result["verdict"] != "allow"
    if any(h.get("flood") for h in hits):
        result["flood"] = True
    result["matched_lists"] = hits[:MAX_HITS]
    return result
