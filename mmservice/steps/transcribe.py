"""The `transcribe` step: one upstream call for a clip that fits, chunks fanned out otherwise
(`mmservice.jobs.fanout`): `split` plans and stores the chunks, `run_part` transcribes one,
`stitch` joins them on the clip's timeline. A clip or chunk transcribed before with the same
options comes from the result cache (`mmservice.cache`)."""
from __future__ import annotations

from typing import Any

from mmservice.cache.steps import for_step, mark
from mmservice.capabilities.transcribe import formatted, transcribe
from mmservice.capabilities.transcribe import stitch as stitch_chunks
from mmservice.jobs.fanout import Plan
from mmservice.jobs.media_source import job_media


def _options(job: dict) -> dict:
    return job.get("options") or {}


def _fits(job: dict, size: int, cfg: dict) -> bool:
    duration = job["input"].get("duration_s") or 0
    return (size <= int(cfg["TRANSCRIPTION_MAX_UPLOAD_BYTES"])
            and duration <= float(cfg["TRANSCRIPTION_MAX_CHUNK_S"]))


def run(job: dict, deps: Any) -> dict[str, Any]:
    """The clip fits one request: send the upload unchanged, named with its real extension."""
    from mmservice.media.sniff import extension_for

    opts = _options(job)
    cache = for_step(job, deps, "transcribe")
    result = transcribe(job_media(job, deps), f"audio.{extension_for(job['input']['mime'])}",
                        provider=cache.transcription(deps.providers.get("transcription")),
                        language=opts.get("language"), prompt=opts.get("prompt"))
    return cache.done(formatted(result, opts.get("response_format"),
                                job["input"].get("duration_s")))


def split(job: dict, deps: Any) -> Plan | None:
    from mmservice.media.audio import export_chunk, load_audio, plan_chunks

    cfg = deps.cfg
    if _fits(job, int(job["input"].get("bytes") or 0), cfg):
        return None
    segment = load_audio(job_media(job, deps), job["input"]["mime"], sample_rate=16000, channels=1)
    chunks = plan_chunks(segment, max_bytes=int(cfg["TRANSCRIPTION_MAX_UPLOAD_BYTES"]),
                         max_chunk_s=float(cfg["TRANSCRIPTION_MAX_CHUNK_S"]),
                         overlap_s=float(cfg["TRANSCRIPTION_CHUNK_OVERLAP_S"]))
    parts = []
    for chunk in chunks:
        audio, filename = export_chunk(segment, chunk)
        key = f"{job['tenant']}/{job['id']}/chunks/{filename}"
        deps.blobs.put(key, audio)
        parts.append({**chunk.as_dict(), "blob": key, "filename": filename})
    return Plan(parts=parts, meta={"duration_s": job["input"].get("duration_s")})


def run_part(job: dict, part: dict, deps: Any) -> dict[str, Any]:
    opts = _options(job)
    cache = for_step(job, deps, "transcribe")
    return cache.done(transcribe(deps.blobs.get(part["blob"]), part["filename"],
                                 provider=cache.transcription(deps.providers.get("transcription")),
                                 language=opts.get("language"), prompt=opts.get("prompt")))


def stitch(job: dict, plan: dict, results: list[dict], deps: Any) -> dict[str, Any]:
    from mmservice.media.audio import Chunk

    merged = stitch_chunks([(Chunk.from_dict(p), r) for p, r in zip(plan["parts"], results)])
    return mark(formatted(merged, _options(job).get("response_format"),
                          plan["meta"].get("duration_s")),
                bool(results) and all(r.get("cached") for r in results))


def cleanup(job: dict, plan: dict, deps: Any) -> None:
    deps.blobs.delete_prefix(f"{job['tenant']}/{job['id']}/chunks")
