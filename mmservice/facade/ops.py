"""The facade's calls as plain functions: `op(deps, tenant, params, media) -> (result, audio)`.

Why plain functions with JSON parameters and media apart: the same call runs in the API process
(openai provider) or in a worker (local provider, `calls.py`), so its inputs must cross a Redis
hash unchanged, and what it does must not depend on where it runs. Each one calls the code the
job steps call: `steps.moderate.judge`, `capabilities.transcribe`, `capabilities.speak`.
"""
from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mmservice.cache.steps import StepCache, for_step, mark
from mmservice.capabilities.moderate import Content
from mmservice.providers import cancel

Result = tuple[dict[str, Any], bytes | None]


def moderate(deps: Any, tenant: str, params: dict, media: list[bytes],
             caches: list[StepCache] | None = None) -> Result:
    """Each item judged on its own (one OpenAI `results` entry each) under the policy version
    the API resolved (`params["policy"]`). `caches`: each item's result cache, when the caller
    read its entries already (`prefetch.py`); else the step's own, as a job's."""
    from mmservice.steps.image_text import image_text
    from mmservice.steps.moderate import judge

    out = []
    for n, item in enumerate(params["items"]):
        content = Content(text=item.get("text") or None)
        info: dict[str, Any] = {"kind": "text"}
        if item.get("image") is not None:
            content.image, content.image_mime = media[item["image"]], item.get("mime")
            info = {"kind": "image", "sha256": hashlib.sha256(content.image).hexdigest()}
            if getattr(deps, "ocr", True) and deps.cfg_for(tenant).get("MODERATION_OCR", True):
                # The text written in it, judged as the job step judges it (a worker only).
                content.ocr_text = image_text(info, content.image)
        request = {"tenant": tenant, "options": {}, "_policy": params["policy"], "input": info}
        out.append(judge(request, deps, content, batched=False,
                         step_cache=caches[n] if caches else None))
    return {"results": out}, None


def transcribe(deps: Any, tenant: str, params: dict, media: list[bytes]) -> Result:
    """One upstream request when the clip fits (`MMS_TRANSCRIPTION_MAX_UPLOAD_BYTES`,
    `MMS_TRANSCRIPTION_MAX_CHUNK_S`), else chunks cut at silences as in the job path,
    transcribed four at a time and stitched. `task: translate` asks for English text."""
    from mmservice.capabilities.transcribe import formatted, stitch, transcript_dict
    from mmservice.capabilities.transcribe import transcribe as transcribe_one

    cfg, audio = deps.cfg, media[0]
    duration = float(params.get("duration_s") or 0)
    provider = deps.providers.get("transcription")
    cache = for_step({"tenant": tenant, "options": {}}, deps, "transcribe")
    language, prompt = params.get("language"), params.get("prompt")
    translate = params.get("task") == "translate"

    def one(data: bytes, filename: str) -> dict[str, Any]:
        if translate and hasattr(provider, "translate"):
            return transcript_dict(provider.translate(data, filename, prompt=prompt))
        # Local Whisper (tiny.en) hears English only: its transcript is the English text.
        return transcribe_one(data, filename, provider=cache.transcription(provider),
                              language=None if translate else language, prompt=prompt)

    fits = (len(audio) <= int(cfg["TRANSCRIPTION_MAX_UPLOAD_BYTES"])
            and duration <= float(cfg["TRANSCRIPTION_MAX_CHUNK_S"]))
    if fits:
        result = one(audio, params["filename"])
    else:
        from mmservice.media.audio import export_chunk, load_audio, plan_chunks

        segment = load_audio(audio, params.get("mime"), sample_rate=16000, channels=1)
        chunks = plan_chunks(segment, max_bytes=int(cfg["TRANSCRIPTION_MAX_UPLOAD_BYTES"]),
                             max_chunk_s=float(cfg["TRANSCRIPTION_MAX_CHUNK_S"]),
                             overlap_s=float(cfg["TRANSCRIPTION_CHUNK_OVERLAP_S"]))
        with ThreadPoolExecutor(max_workers=min(4, len(chunks))) as pool:
            # The pool's threads carry the request's token: a client that hangs up ends them.
            parts = list(pool.map(cancel.carry(lambda c: one(*export_chunk(segment, c))),
                                  chunks))
        result = stitch(list(zip(chunks, parts)))
    out = formatted(result, "verbose_json", duration or None)
    out["usage"] = {**(result.get("usage") or {}), "audio_seconds": out["duration_s"]}
    return (cache.done(out) if not translate else mark(out, False)), None


def speak(deps: Any, tenant: str, params: dict, media: list[bytes]) -> Result:
    """Text to speech, split at sentences past one upstream request (`capabilities.speak`)."""
    from mmservice.capabilities.speak import speak as speak_text

    audio, meta = speak_text(params["input"], provider=deps.providers.get("speech"),
                             max_piece_chars=int(deps.cfg["TTS_MAX_PIECE_CHARS"]),
                             voice=params.get("voice") or "alloy",
                             format=params.get("format") or "mp3",
                             speed=float(params.get("speed") or 1.0),
                             instructions=params.get("instructions"))
    return meta, audio


OPS = {"moderate": moderate, "transcribe": transcribe, "speak": speak}
# op -> (provider capability, the worker queue that serves it when the provider is local)
ROUTES = {"chat": ("vision", "vision"), "moderate": ("moderation", "moderation"),
          "transcribe": ("transcription", "audio"), "speak": ("speech", "audio")}
