"""The `transcribe` step: one upstream call for a clip that fits, a parallel fan-out otherwise.

Why fan out through Celery: a one-hour recording is six 10-minute chunks; sent one after another
the job takes the sum of their latencies, sent as a group to the `audio` queue it takes about the
longest one. Each chunk task stores its transcript in a Redis hash; the task that stores the last
one stitches (a lock makes that exactly one) and records the step, so no task ever waits on
another (Celery's own advice) and no result backend is needed.
"""
from __future__ import annotations

import json
import logging
from typing import Any

from mmservice import logs
from mmservice.jobs.media_source import job_media
from mmservice.jobs.pipeline import FANOUT_PENDING, live_job, record_step
from mmservice.providers.base import Transcript

log = logging.getLogger("mmservice.transcribe")


def _keys(job: dict) -> tuple[str, str]:
    base = f"mms:t:{job['tenant']}:chunks:{job['id']}"
    return base, base + ":stitch"


def _transcript_dict(t: Transcript) -> dict[str, Any]:
    return {"text": t.text, "segments": t.segments, "language": t.language,
            "duration": t.duration_s, "model": t.model, "provider": t.provider,
            "usage": t.usage}


def finish(result: dict, job: dict, duration_s: float | None) -> dict[str, Any]:
    """The job's transcription result in the requested `response_format`."""
    from mmservice.media.subtitles import to_srt, to_vtt

    fmt = (job.get("options") or {}).get("response_format") or "verbose_json"
    out = {"text": result["text"], "language": result.get("language"),
           "duration_s": round(duration_s if duration_s is not None
                               else float(result.get("duration_s") or 0), 3),
           "model": result.get("model"), "provider": result.get("provider"),
           "response_format": fmt, "segments": result.get("segments") or []}
    if fmt == "srt":
        out["srt"] = to_srt(out["segments"])
    elif fmt == "vtt":
        out["vtt"] = to_vtt(out["segments"])
    elif fmt in ("json", "text"):
        out.pop("segments")
    if result.get("chunks"):
        out["chunks"] = result["chunks"]
    usage = result.get("usage") or {}
    out["usage"] = {"audio_seconds": out["duration_s"], **{k: v for k, v in usage.items()
                                                           if k != "audio_seconds"}}
    return out


def run(job: dict, deps) -> Any:
    from mmservice.media.audio import export_chunk, load_audio, plan_chunks
    from mmservice.media.sniff import extension_for

    cfg = deps.cfg
    opts = job.get("options") or {}
    data = job_media(job, deps)
    mime = job["input"]["mime"]
    duration = job["input"].get("duration_s")
    max_bytes = int(cfg["TRANSCRIPTION_MAX_UPLOAD_BYTES"])
    max_chunk_s = float(cfg["TRANSCRIPTION_MAX_CHUNK_S"])
    provider = deps.providers.get("transcription")
    if len(data) <= max_bytes and (duration or 0) <= max_chunk_s:
        # Fits one request: send the upload unchanged, named with its real extension.
        t = provider.transcribe(data, f"audio.{extension_for(mime)}",
                                language=opts.get("language"), prompt=opts.get("prompt"))
        return finish(_transcript_dict(t), job, duration)

    results_key, _ = _keys(job)
    r = deps.store.r
    if not r.hexists(results_key, "_plan"):
        segment = load_audio(data, mime, sample_rate=16000, channels=1)
        chunks = plan_chunks(segment, max_bytes=max_bytes, max_chunk_s=max_chunk_s,
                             overlap_s=float(cfg["TRANSCRIPTION_CHUNK_OVERLAP_S"]))
        plan = []
        for chunk in chunks:
            audio, filename = export_chunk(segment, chunk)
            key = f"{job['tenant']}/{job['id']}/chunks/{filename}"
            deps.blobs.put(key, audio)
            plan.append({**chunk.as_dict(), "blob": key, "filename": filename})
        r.hset(results_key, "_plan", json.dumps({"chunks": plan, "duration_s": duration}))
        r.expire(results_key, int(cfg["JOB_TTL_S"]))
    elif r.hexists(results_key, "_sent"):
        return FANOUT_PENDING  # a re-delivered message: the chunks are already under way
    plan = json.loads(r.hget(results_key, "_plan"))["chunks"]
    celery = deps.extra["celery"]
    for item in plan:  # a group: every chunk on the audio queue at once
        celery.send_task("mms.transcribe_chunk", args=[job["tenant"], job["id"], item["index"]],
                         task_id=f"{job['id']}.chunk{item['index']}", queue="audio")
    r.hset(results_key, "_sent", 1)
    log.info("transcription fanned out", extra={"job_id": job["id"], "chunks": len(plan)})
    return FANOUT_PENDING


def run_chunk(tenant: str, job_id: str, index: int, deps) -> str:
    """Transcribe one chunk; the last chunk to land stitches and records the step."""
    from mmservice.errors import MMSError
    from mmservice.media.audio import Chunk
    from mmservice.media.subtitles import stitch

    logs.start(job_id=job_id, tenant=tenant, step="transcribe", chunk=index)
    job, outcome = live_job(deps, tenant, job_id)
    if job is None:
        return outcome
    results_key, lock_key = _keys(job)
    raw_plan = deps.store.r.hget(results_key, "_plan")
    if raw_plan is None:
        return "no-plan"
    plan = json.loads(raw_plan)
    item = plan["chunks"][index]
    if not deps.store.r.hexists(results_key, str(index)):
        opts = job.get("options") or {}
        try:
            t = deps.providers.get("transcription").transcribe(
                deps.blobs.get(item["blob"]), item["filename"], language=opts.get("language"),
                prompt=opts.get("prompt"))
            value = {"ok": _transcript_dict(t)}
        except MMSError as e:
            value = {"error": e.to_dict()}
        deps.store.r.hsetnx(results_key, str(index), json.dumps(value))
    done = [k for k in deps.store.r.hkeys(results_key) if not k.startswith(b"_")]
    if len(done) < len(plan["chunks"]):
        return "chunk-done"
    if not deps.store.r.set(lock_key, 1, nx=True, ex=300):
        return "chunk-done"  # another chunk task is stitching
    got = {int(k): json.loads(v) for k, v in deps.store.r.hgetall(results_key).items()
           if not k.startswith(b"_")}
    errors = [got[i]["error"] for i in sorted(got) if "error" in got[i]]
    if errors:
        record_step(deps, job, "transcribe", error={**errors[0], "failed_chunks": len(errors)})
        return "stitched-failed"
    pairs = [(Chunk.from_dict(c), got[c["index"]]["ok"]) for c in plan["chunks"]]
    stitched = stitch(pairs)
    first = pairs[0][1]
    merged = {**stitched, "model": first.get("model"), "provider": first.get("provider"),
              "chunks": [{"start_s": c.start_s, "end_s": c.end_s} for c, _ in pairs]}
    record_step(deps, job, "transcribe", result=finish(merged, job, plan.get("duration_s")))
    deps.blobs.delete_prefix(f"{tenant}/{job_id}/chunks")
    return "stitched"
