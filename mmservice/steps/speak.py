"""The `speak` step (TTS): the job's text through `capabilities.speak`; the audio goes to the blob
store and `GET /v1/jobs/<id>/speech` serves it."""
from __future__ import annotations

from typing import Any

from mmservice.capabilities.speak import speak


def speech_blob_key(job: dict) -> str:
    return f"{job['tenant']}/{job['id']}/speech"


def run(job: dict, deps: Any) -> dict[str, Any]:
    opts = job.get("options") or {}
    audio, result = speak(job.get("_text") or "", provider=deps.providers.get("speech"),
                          max_piece_chars=int(deps.cfg["TTS_MAX_PIECE_CHARS"]),
                          voice=opts.get("voice") or "alloy", format=opts.get("format") or "mp3",
                          speed=float(opts.get("speed") or 1.0),
                          instructions=opts.get("instructions"))
    deps.blobs.put(speech_blob_key(job), audio)
    return {**result, "url": f"/v1/jobs/{job['id']}/speech"}
