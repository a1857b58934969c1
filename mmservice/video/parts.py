"""One part of a video job, judged on its own worker: a keyframe (image moderation, the text
read in it, the tenant's lists) or a chunk of the soundtrack (transcribed, then each spoken
segment moderated).

Why each part is decided by the policy where it runs: a segment's verdict is what the timeline
shows, and the whole-video verdict is made from the segments' (the worst one, or a share rule),
so the stitch never calls a model. A frame is judged as input kind `video` (policies can set
`by_kind.video` lines), the text read in it as `text`, speech as `transcript`.
"""
from __future__ import annotations

from typing import Any

from mmservice import policies
from mmservice.capabilities.transcribe import transcribe
from mmservice.media.images import prepare_for_moderation
from mmservice.video import sheet

OCR_MAX_CHARS = 2000


def _policy(job: dict, deps: Any) -> Any:
    return policies.for_job(getattr(deps, "policies", None), job, deps.cfg_for(job["tenant"]))


def _ocr(jpeg: bytes) -> str:
    """The text written in the frame (captions, a sign, a threat typed on screen); empty where
    the offline OCR engine is not installed (`requirements-local.txt`)."""
    try:
        from mmservice.providers.local import image_moderation, ocr
    except ImportError:
        return ""
    rgb = image_moderation.to_rgb(image_moderation.open_image(jpeg))
    return " ".join(line["text"] for line in ocr.read_text(rgb, "low"))[:OCR_MAX_CHARS]


def _summary(decided: dict[str, Any]) -> dict[str, Any]:
    """The fields a segment keeps of a policy decision."""
    return {"verdict": decided["verdict"], "flagged": decided["flagged"],
            "categories": sorted(c for c, hit in decided["categories"].items() if hit),
            "category_scores": decided["category_scores"],
            "scores_by_kind": decided.get("scores_by_kind") or {},
            "model": decided.get("model"), "provider": decided.get("provider")}


def judge_frame(job: dict, part: dict, deps: Any) -> dict[str, Any]:
    """A keyframe through the image moderation path (plus its OCR text, batched with other
    texts by the micro-batcher) and the tenant's lists; a flagged frame's thumbnail is kept."""
    tenant, cfg = job["tenant"], deps.cfg_for(job["tenant"])
    jpeg = deps.blobs.get(part["blob"])
    live = _policy(job, deps)
    provider = deps.providers.get("moderation")
    prepared, mime = prepare_for_moderation(jpeg, "image/jpeg")
    raws, kinds, inputs = [provider.moderate_image(prepared, mime)], ["video"], ["video"]
    text = _ocr(jpeg) if cfg.get("VIDEO_OCR", True) else ""
    if text.strip():
        raws += deps.providers.text_moderation(deps.moderation_backlog).moderate_texts([text])
        kinds.append("text")
        inputs.append("ocr")
    out: dict[str, Any] = {"kind": "frame", "index": part["index"], "t": part["t"],
                           **_summary(live.decide(raws, inputs, kinds))}
    if text.strip():
        out["ocr"] = text
    matcher = getattr(deps, "lists", None)
    if matcher is not None:
        recs = matcher.lists(tenant, live.lists)
        if recs:
            out["hits"] = matcher.match(tenant, recs, texts={"ocr": text} if text else {},
                                        image=jpeg,
                                        max_pixels=int(cfg.get("MAX_IMAGE_PIXELS", 50_000_000)))
    if out["flagged"] or any(h["action"] != "allow" for h in out.get("hits", ())):
        deps.blobs.put(sheet.thumb_key(job, part["index"]), sheet.thumbnail(jpeg))
    return out


def judge_audio(job: dict, part: dict, deps: Any) -> dict[str, Any]:
    """A chunk of the soundtrack transcribed (as audio jobs are), then each spoken segment
    moderated in one batched call, with its time on the video's timeline."""
    got = transcribe(deps.blobs.get(part["blob"]), part["filename"],
                     provider=deps.providers.get("transcription"),
                     language=(job.get("options") or {}).get("language"))
    offset, end = float(part["start_s"]), float(part["end_s"])
    spoken = [s for s in got.get("segments") or [] if str(s.get("text", "")).strip()]
    if not spoken and got["text"].strip():
        spoken = [{"start": 0.0, "end": end - offset, "text": got["text"]}]
    segments: list[dict[str, Any]] = []
    if spoken:
        live = _policy(job, deps)
        raws = deps.providers.text_moderation(deps.moderation_backlog).moderate_texts(
            [str(s["text"]).strip() for s in spoken])
        for s, raw in zip(spoken, raws):
            start = round(offset + float(s.get("start") or 0.0), 3)
            segments.append({"start_s": start, "end_s": round(max(start, min(
                end, offset + float(s.get("end") or 0.0))), 3), "text": str(s["text"]).strip(),
                **_summary(live.decide([raw], ["transcript"], ["transcript"]))})
    return {"kind": "audio", "index": part["index"], "start_s": offset, "end_s": end,
            "text": got["text"], "language": got.get("language"), "model": got.get("model"),
            "provider": got.get("provider"), "segments": segments}
