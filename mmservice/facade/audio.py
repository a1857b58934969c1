"""`/v1/audio/transcriptions`, `/v1/audio/translations` and `/v1/audio/speech`: OpenAI's request
fields read and checked, and the answers written in the `response_format` asked for.

Transcription formats: `json` (`{"text", "usage"}`), `text`, `srt`, `vtt` (plain text) and
`verbose_json` (`task`, `language`, `duration`, `text`, `segments`, `usage`), as OpenAI answers
them. Speech: `mp3`, `opus`, `aac`, `flac`, `wav`, `pcm`.
"""
from __future__ import annotations

import math
from typing import Any

from mmservice.errors import BadRequest, PayloadTooLarge

TRANSCRIPT_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
_TRANSCRIBE_FIELDS = {"model", "language", "prompt", "response_format", "temperature",
                      "timestamp_granularities[]", "timestamp_granularities", "chunking_strategy",
                      "include[]", "stream"}
_SPEECH_FIELDS = {"model", "input", "voice", "response_format", "speed", "instructions",
                  "stream_format"}


def parse_transcription(form: Any, files: Any, cfg: dict, task: str) -> tuple[dict, bytes]:
    """-> (params for `ops.transcribe`, the audio). The file is checked like a job's upload."""
    from mmservice.media.inspect import inspect_media

    unknown = sorted(set(form) - _TRANSCRIBE_FIELDS)
    if unknown:
        raise BadRequest(f"Unrecognized request argument supplied: {unknown[0]}",
                         code="unknown_parameter", field=unknown[0])
    upload = files.get("file")
    if upload is None:
        raise BadRequest("Missing required parameter: 'file'.",
                         code="missing_required_parameter", field="file")
    if not form.get("model"):
        raise BadRequest("you must provide a model parameter",
                         code="missing_required_parameter", field="model")
    if form.get("stream") in ("true", "True", "1"):
        raise BadRequest("streamed transcription is not offered here: leave stream unset",
                         code="unsupported_parameter", field="stream")
    fmt = form.get("response_format") or "json"
    if fmt not in TRANSCRIPT_FORMATS:
        raise BadRequest(f"Invalid value: '{fmt}'. Supported values are: "
                         f"{', '.join(TRANSCRIPT_FORMATS)}.", code="invalid_value",
                         field="response_format")
    data = upload.read()
    info = inspect_media(data, cfg, "file")
    if info["kind"] != "audio":
        raise BadRequest("file is not audio", code="unsupported_media_type", field="file")
    ext = (upload.filename or "").rpartition(".")[2].lower()
    from mmservice.media.sniff import extension_for

    params = {"task": task, "filename": f"audio.{ext or extension_for(info['mime'])}",
              "mime": info["mime"], "duration_s": info.get("duration_s"),
              "language": (form.get("language") or None) if task == "transcribe" else None,
              "prompt": form.get("prompt") or None, "response_format": fmt,
              "requested_model": form.get("model")}
    return params, data


def render_transcript(result: dict, params: dict) -> tuple[Any, str]:
    """-> (the body, its MIME type) in the request's `response_format`."""
    from mmservice.media.subtitles import to_srt, to_vtt

    fmt, text = params["response_format"], result.get("text") or ""
    segments = result.get("segments") or []
    duration = float(result.get("duration_s") or 0)
    usage = {"type": "duration", "seconds": math.ceil(duration)}
    if fmt == "text":
        return text + "\n", "text/plain"
    if fmt == "srt":
        return to_srt(segments), "text/plain"
    if fmt == "vtt":
        return to_vtt(segments), "text/plain"
    if fmt == "json":
        return {"text": text, "usage": usage}, "application/json"
    return {"task": "translate" if params["task"] == "translate" else "transcribe",
            "language": result.get("language") or "english", "duration": round(duration, 3),
            "text": text, "usage": usage,
            "segments": [{"id": i, "seek": 0, "start": float(s.get("start", 0)),
                          "end": float(s.get("end", 0)), "text": s.get("text", ""),
                          "tokens": [], "temperature": 0.0,
                          "avg_logprob": float(s.get("avg_logprob", 0.0)),
                          "compression_ratio": 1.0,
                          "no_speech_prob": float(s.get("no_speech_prob", 0.0))}
                         for i, s in enumerate(segments)]}, "application/json"


def parse_speech(body: Any, cfg: dict) -> dict:
    from mmservice.media.audio import FORMAT_MIME

    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", code="invalid_json")
    unknown = sorted(set(body) - _SPEECH_FIELDS)
    if unknown:
        raise BadRequest(f"Unrecognized request argument supplied: {unknown[0]}",
                         code="unknown_parameter", field=unknown[0])
    for name in ("model", "input", "voice"):
        if not isinstance(body.get(name), str) or not body[name]:
            raise BadRequest(f"Missing required parameter: '{name}'.",
                             code="missing_required_parameter", field=name)
    if len(body["input"]) > int(cfg["MAX_TTS_CHARS"]):
        raise PayloadTooLarge(f"input is {len(body['input'])} characters; the limit is "
                              f"{cfg['MAX_TTS_CHARS']}", code="text_too_long", field="input")
    fmt = body.get("response_format") or "mp3"
    if fmt not in FORMAT_MIME:
        raise BadRequest(f"Invalid value: '{fmt}'. Supported values are: "
                         f"{', '.join(FORMAT_MIME)}.", code="invalid_value",
                         field="response_format")
    speed = body.get("speed", 1.0)
    if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not 0.25 <= speed <= 4:
        raise BadRequest("speed must be a number from 0.25 to 4.0", code="invalid_value",
                         field="speed")
    if body.get("stream_format") not in (None, "audio"):
        raise BadRequest("stream_format must be 'audio' (server-sent events are not offered)",
                         code="invalid_value", field="stream_format")
    return {"input": body["input"], "voice": body["voice"], "format": fmt,
            "speed": float(speed), "instructions": body.get("instructions") or None,
            "content_type": FORMAT_MIME[fmt]}
