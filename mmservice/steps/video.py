"""The `moderate` step of a video job, as a fan-out (`mmservice.jobs.fanout`).

`split_stream` decodes once: the keyframes (`video.keyframes`) and the soundtrack (16 kHz mono,
cut into chunks as audio jobs are) are extracted at the same time, in two bounded ffmpeg runs,
and stored as blobs. Each keyframe is a part on the `vision` queue, each audio chunk a part on
the `audio` queue. Keyframes are handed to the fan-out as ffmpeg writes them, so the first ones
are judged while the rest of the video is still being decoded: the job takes about as long as
the longer of decoding and judging, not their sum (the parts also overlap each other).
`stitch` (run by whichever part lands last once the decode has ended) makes the timeline, the
verdict and the contact sheet; `cleanup` drops the keyframes and chunks, keeping the flagged
thumbnails.
"""
from __future__ import annotations

import tempfile
import threading
from collections.abc import Generator
from typing import Any

from mmservice import policies
from mmservice.errors import MMSError
from mmservice.jobs.fanout import Batch
from mmservice.jobs.media_source import job_media
from mmservice.video import parts, sheet, timeline
from mmservice.video.keyframes import interval_for, stream


def _soundtrack(data: bytes, job: dict, cfg: dict) -> list[dict[str, Any]]:
    """The audio track as chunk parts (blob, times), planned like an audio job's."""
    from mmservice.media.audio import export_chunk, load_audio, plan_chunks

    segment = load_audio(data, None, sample_rate=16000, channels=1,
                         timeout=float(cfg["VIDEO_DECODE_TIMEOUT_S"]))
    chunks = plan_chunks(segment, max_bytes=int(cfg["TRANSCRIPTION_MAX_UPLOAD_BYTES"]),
                         max_chunk_s=float(cfg["TRANSCRIPTION_MAX_CHUNK_S"]),
                         overlap_s=float(cfg["TRANSCRIPTION_CHUNK_OVERLAP_S"]))
    out = []
    for chunk in chunks:
        audio, filename = export_chunk(segment, chunk)
        out.append({**chunk.as_dict(), "audio": audio, "filename": filename})
    return out


def split_stream(job: dict, deps: Any) -> Generator[Batch, None, dict]:
    """The keyframes in batches as ffmpeg finds them (`keyframes.stream`), and the soundtrack's
    chunks in the first batch after its own decode (a thread) ends; returns the plan's meta."""
    cfg = deps.cfg_for(job["tenant"])
    data = job_media(job, deps)
    info = job["input"]
    mime = "image/gif" if info["mime"] == "video/gif" else info["mime"]
    duration = float(info.get("duration_s") or 0.0)
    sound: dict[str, Any] = {}

    def audio() -> None:
        try:
            sound["chunks"] = _soundtrack(data, job, cfg)
        except MMSError as e:  # the pictures are still judged; the result says why no audio
            sound["error"] = e.to_dict()

    worker = threading.Thread(target=audio, name="video-audio") if info.get("has_audio") else None
    if worker:
        worker.start()
    frames = 0
    try:
        with tempfile.NamedTemporaryFile(prefix="mms-video-") as fh:
            fh.write(data)
            fh.flush()
            found_batches = stream(fh.name, mime, duration, cfg)
            if not cfg["VIDEO_STREAM_KEYFRAMES"]:  # the serial order: every frame, then publish
                found_batches = iter([[f for b in found_batches for f in b]])
            for found in found_batches:
                batch: Batch = {}
                for f in found:
                    key = sheet.keyframe_key(job, f.index)
                    deps.blobs.put(key, f.jpeg)
                    batch[f"frame-{f.index}"] = {"kind": "frame", "queue": "vision",
                                                 "index": f.index, "t": f.t, "blob": key}
                frames += len(found)
                if worker and not worker.is_alive() and "chunks" in sound:
                    batch.update(_audio_parts(job, deps, sound.pop("chunks")))
                yield batch
    finally:
        if worker:
            worker.join()
    if "chunks" in sound:
        yield _audio_parts(job, deps, sound.pop("chunks"))
    return {"duration_s": duration, "keyframes": frames,
            "sample_interval_s": round(interval_for(duration, cfg), 3),
            "audio_error": sound.get("error")}


def _audio_parts(job: dict, deps: Any, chunks: list[dict[str, Any]]) -> Batch:
    batch: Batch = {}
    for c in chunks:
        key = f"{job['tenant']}/{job['id']}/chunks/{c['filename']}"
        deps.blobs.put(key, c.pop("audio"))
        batch[f"audio-{c['index']}"] = {**c, "kind": "audio", "queue": "audio", "blob": key}
    return batch


def run_part(job: dict, part: dict, deps: Any) -> dict[str, Any]:
    if part["kind"] == "frame":
        return parts.judge_frame(job, part, deps)
    return parts.judge_audio(job, part, deps)


def _scores(items: list[dict[str, Any]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for i in items:
        for c, s in i["category_scores"].items():
            out[c] = max(out.get(c, 0.0), float(s))
    return out


def stitch(job: dict, plan: dict, results: list[dict], deps: Any) -> dict[str, Any]:
    meta = plan["meta"]
    duration = float(meta["duration_s"])
    frames = sorted((r for r in results if r["kind"] == "frame"), key=lambda f: f["t"])
    chunks = [r for r in results if r["kind"] == "audio"]
    live = policies.for_job(getattr(deps, "policies", None), job, deps.cfg_for(job["tenant"]))
    frames_url = f"/v1/jobs/{job['id']}/frames"
    segments = timeline.frame_segments(frames, duration, frames_url)
    spoken = timeline.audio_segments(chunks)
    segments = sorted(segments + spoken, key=lambda s: (s["start_s"], s["source"]))
    rule = dict(getattr(live, "video", None) or {"rule": "worst"})
    verdict = timeline.whole_verdict(frames + spoken, rule)
    scores = _scores(frames + spoken)
    flagged_cats = {c for i in frames + spoken for c in i["categories"]}
    result: dict[str, Any] = {
        "flagged": verdict != "allow", "verdict": verdict,
        "categories": {c: c in flagged_cats for c in scores},
        "category_scores": {c: round(s, 6) for c, s in scores.items()},
        "assessed_categories": sorted(scores), "inputs": ["video"] + (
            ["transcript"] if chunks else []),
        "model": ",".join(sorted({str(f.get("model")) for f in frames if f.get("model")})),
        "provider": ",".join(sorted({str(f.get("provider")) for f in frames
                                     if f.get("provider")})),
        "policy": live.ref(), "decided_by": "policy", "verdict_rule": rule,
        "segments": segments,
        "frames": {"total": len(frames), "flagged": sum(1 for f in frames if f["flagged"]),
                   "sample_interval_s": meta.get("sample_interval_s")},
        "duration_s": duration,
        "contact_sheet_url": f"/v1/jobs/{job['id']}/contact-sheet",
    }
    if chunks:
        result["transcript"] = {"text": " ".join(c["text"].strip() for c in sorted(
            chunks, key=lambda c: c["start_s"]) if c["text"].strip()),
            "language": chunks[0].get("language"), "model": chunks[0].get("model")}
    if meta.get("audio_error"):
        result["audio_error"] = meta["audio_error"]
    _apply_lists(job, deps, live, frames, duration, result)
    _contact_sheet(job, deps, frames)
    return result


def _apply_lists(job: dict, deps: Any, live: Any, frames: list[dict[str, Any]],
                 duration: float, result: dict[str, Any]) -> None:
    hits = timeline.list_matches(frames, duration)
    matcher = getattr(deps, "lists", None)
    if matcher is not None and result.get("transcript", {}).get("text"):
        recs = [r for r in matcher.lists(job["tenant"], live.lists) if r["kind"] == "terms"]
        if recs:
            hits += matcher.match(job["tenant"], recs,
                                  texts={"transcript": result["transcript"]["text"]})
    if not hits:
        return
    if matcher is not None:
        matcher.flood_guard(job["tenant"], hits, matcher.lists(job["tenant"], live.lists))
    decided = timeline.list_decision(hits)
    if decided and timeline.SEVERITY[decided] > timeline.SEVERITY[result["verdict"]]:
        result.update(policy_verdict=result["verdict"], verdict=decided, decided_by="list",
                      flagged=True)
    result["matched_lists"] = hits[:50]


def _contact_sheet(job: dict, deps: Any, frames: list[dict[str, Any]]) -> None:
    tiles = [(f, deps.blobs.get(sheet.keyframe_key(job, f["index"])))
             for f in sheet.pick(frames)]
    if tiles:
        deps.blobs.put(sheet.sheet_key(job), sheet.contact_sheet(tiles))


def cleanup(job: dict, plan: dict, deps: Any) -> None:
    deps.blobs.delete_prefix(f"{job['tenant']}/{job['id']}/keyframes")
    deps.blobs.delete_prefix(f"{job['tenant']}/{job['id']}/chunks")
