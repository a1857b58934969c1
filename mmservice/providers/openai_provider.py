"""The `openai` provider: the official client against any OpenAI-compatible base URL.

Why raw responses: OpenAI-compatible servers differ in what they omit (a category, `usage`,
`category_applied_input_types`). We call through the official client (`with_raw_response`) so
transport, auth and errors are the client's, then read the JSON ourselves so a missing field is
"not assessed", never a crash or a fake 0. The request id goes into logs, never the key.
"""
from __future__ import annotations

import base64
import io
import json
import logging
from typing import Any

import openai

from mmservice import logs
from mmservice.errors import UpstreamError
from mmservice.providers import kinds
from mmservice.providers.base import CATEGORIES, RawModeration, Speech, Transcript
from mmservice.providers.retry import RetryPolicy

log = logging.getLogger("mmservice.upstream")
_IMAGE_INPUT_TYPE = "image"


def upstream_settings(cfg: dict, cap: str) -> dict[str, Any]:
    """Per-capability base URL / key / model, falling back to the kind's fixed address (see
    kinds.py), then OPENAI_BASE_URL / OPENAI_API_KEY."""
    from mmservice.config import CAP_DEFAULT_MODELS

    up = cap.upper()
    return {
        "base_url": kinds.base_url(cfg, cap),
        "api_key": cfg.get(f"{up}_API_KEY") or cfg.get("OPENAI_API_KEY") or "",
        "model": cfg.get(f"{up}_MODEL") or CAP_DEFAULT_MODELS[cap],
    }


def make_client(cfg: dict, cap: str, *, timeout: float | None = None) -> openai.OpenAI:
    """The official client, on an HTTP client whose calls a hung-up client cancels
    (`cancel.py`; only a call made inside `cancel.watching` ever is)."""
    from mmservice.providers import cancel

    s = upstream_settings(cfg, cap)
    return openai.OpenAI(base_url=s["base_url"], api_key=s["api_key"] or "not-needed",
                         timeout=float(cfg["UPSTREAM_TIMEOUT_S"] if timeout is None else timeout),
                         max_retries=0, default_headers=kinds.default_headers(cfg, cap) or None,
                         http_client=cancel.http_client())


def _data_url(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def _raw_json(raw) -> dict:
    data = json.loads(raw.text)
    if not isinstance(data, dict):
        raise ValueError("upstream body is not a JSON object")
    return data


def _chat_json(raw) -> dict:
    data = _raw_json(raw)
    if not data.get("choices") or "message" not in data["choices"][0]:
        raise ValueError("chat completion has no choices")
    return data


class _Base:
    cap = ""

    def __init__(self, cfg: dict):
        self.cfg = cfg
        self.settings = upstream_settings(cfg, self.cap)
        self.model = self.settings["model"]
        self.client = make_client(cfg, self.cap)
        self.retry = RetryPolicy(cfg, self.cap, upstream=self.settings["base_url"])

    name = "openai"

    def _call(self, what: str, fn, parse=_raw_json, job_id: str | None = None):
        """Call and parse inside the retry layer, so a malformed body is retried like a 5xx."""
        def once():
            raw = fn()
            logs.add(upstream_request_id=raw.headers.get("x-request-id"))
            log.debug("upstream call ok", extra={"call": what,
                                                 "request_id": raw.headers.get("x-request-id")})
            return parse(raw)
        return self.retry.call(once, what=what, job_id=job_id)


class OpenAIModeration(_Base):
    cap = "moderation"

    def _call(self, what, fn, parse=_raw_json, job_id=None):
        try:
            return super()._call(what, fn, parse, job_id)
        except UpstreamError as e:
            if e.code == "upstream_not_found":  # NIM, OpenRouter, Ollama... have no endpoint
                e.message = f"{e.message} (if this upstream has no /v1/moderations, set " \
                            "MMS_MODERATION_MODE=chat)"
                e.args = (e.message,)
            raise

    def _parse(self, result: dict, input_types: set[str], usage: dict) -> RawModeration:
        scores = result.get("category_scores")
        if not isinstance(scores, dict):
            raise ValueError("moderation result has no category_scores")
        applied = result.get("category_applied_input_types")
        assessed = []
        for cat in CATEGORIES:
            if not isinstance(scores.get(cat), (int, float)):
                continue
            if isinstance(applied, dict) and cat in applied:
                # omni-moderation says which input types each category was judged on: a
                # category not applied to any of our inputs was not assessed.
                if not set(applied.get(cat) or []) & input_types:
                    continue
            assessed.append(cat)
        return RawModeration(
            category_scores={c: float(scores[c]) for c in assessed},
            assessed_categories=assessed, model=self.model, provider=self.name,
            upstream_flagged=bool(result.get("flagged")) if "flagged" in result else None,
            usage=usage)

    def moderate_texts(self, texts: list[str], job_id: str | None = None) -> list[RawModeration]:
        def parse(raw):
            results = _raw_json(raw).get("results")
            if not isinstance(results, list) or len(results) != len(texts):
                raise ValueError("moderation answered a different number of results")
            # The endpoint reports no tokens: requests and characters measure what was sent.
            return [self._parse(r, {"text"}, {"requests": int(i == 0), "characters": len(t)})
                    for i, (r, t) in enumerate(zip(results, texts))]

        return self._call("moderations.create", lambda: self.client.moderations
                          .with_raw_response.create(model=self.model, input=texts), parse,
                          job_id)

    def moderate_image(self, image: bytes, mime: str, text: str | None = None,
                       job_id: str | None = None) -> RawModeration:
        parts: list[dict] = [{"type": "image_url", "image_url": {"url": _data_url(image, mime)}}]
        if text:
            parts.insert(0, {"type": "text", "text": text})
        types = {_IMAGE_INPUT_TYPE} | ({"text"} if text else set())

        def parse(raw):
            results = _raw_json(raw).get("results") or []
            if not results:
                raise ValueError("moderation answered no result")
            return self._parse(results[0], types, {"requests": 1, "images": 1})

        return self._call("moderations.create", lambda: self.client.moderations
                          .with_raw_response.create(model=self.model, input=parts), parse,  # type: ignore[arg-type]
                          job_id)


class OpenAIVision(_Base):
    cap = "vision"

    def describe(self, image: bytes, mime: str, *, prompt: str | None, detail: str,
                 json_schema: dict | None, job_id: str | None = None) -> dict[str, Any]:
        question = prompt or ("Describe this image neutrally and factually: what it shows, any "
                              "visible text, and anything a content moderator should know.")
        messages = [{"role": "user", "content": [
            {"type": "text", "text": question},
            {"type": "image_url", "image_url": {"url": _data_url(image, mime), "detail": detail}},
        ]}]
        kwargs: dict[str, Any] = {"model": self.model, "messages": messages}
        if json_schema:
            kwargs["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "answer", "schema": json_schema, "strict": False}}
        data = self._call("chat.completions.create", lambda: self.client.chat.completions
                          .with_raw_response.create(**kwargs), _chat_json, job_id=job_id)
        content = data["choices"][0]["message"].get("content") or ""
        out: dict[str, Any] = {"model": data.get("model") or self.model, "provider": self.name,
                               "usage": data.get("usage") or {}}
        if json_schema:
            try:
                out["data"] = json.loads(content)
            except ValueError:
                out["text"] = content
                out["warning"] = "the model did not answer valid JSON"
        else:
            out["text"] = content
        return out


class OpenAITranscription(_Base):
    cap = "transcription"

    def transcribe(self, audio: bytes, filename: str, *, language: str | None,
                   prompt: str | None, job_id: str | None = None) -> Transcript:
        kwargs: dict[str, Any] = {"model": self.model, "response_format": "verbose_json",
                                  "timestamp_granularities": ["segment"]}
        if language:
            kwargs["language"] = language
        if prompt:
            kwargs["prompt"] = prompt
        return self._heard("audio.transcriptions.create",
                           self.client.audio.transcriptions.with_raw_response.create,
                           audio, filename, kwargs, job_id)

    def translate(self, audio: bytes, filename: str, *, prompt: str | None,
                  job_id: str | None = None) -> Transcript:
        """Speech in any language as English text (`/v1/audio/translations`)."""
        kwargs: dict[str, Any] = {"model": self.model, "response_format": "verbose_json"}
        if prompt:
            kwargs["prompt"] = prompt
        return self._heard("audio.translations.create",
                           self.client.audio.translations.with_raw_response.create,
                           audio, filename, kwargs, job_id)

    def _heard(self, what: str, create: Any, audio: bytes, filename: str,
               kwargs: dict[str, Any], job_id: str | None) -> Transcript:
        def call():
            f = io.BytesIO(audio)
            f.name = filename  # the client (and the server) take the format from the name
            return create(file=f, **kwargs)

        data = self._call(what, call, job_id=job_id)
        segs = [{"start": float(s["start"]), "end": float(s["end"]),
                 "text": str(s.get("text", "")).strip(),
                 # kept so silence can be told from speech (capabilities.transcribe)
                 **{k: float(s[k]) for k in ("avg_logprob", "no_speech_prob")
                    if s.get(k) is not None}}
                for s in data.get("segments") or []]
        duration = data.get("duration")
        return Transcript(text=str(data.get("text", "")).strip(), segments=segs,
                          language=data.get("language"),
                          duration_s=float(duration) if duration is not None else None,
                          model=self.model, provider=self.name,
                          usage={"audio_seconds": float(duration)} if duration else {})


class OpenAISpeech(_Base):
    cap = "speech"

    def speak(self, text: str, *, voice: str, format: str, speed: float,
              instructions: str | None, job_id: str | None = None) -> Speech:
        kwargs: dict[str, Any] = {"model": self.model, "input": text, "voice": voice,
                                  "response_format": format, "speed": speed}
        if instructions:
            kwargs["instructions"] = instructions
        def parse(raw):
            if not raw.content or raw.headers.get("content-type", "").startswith(
                    "application/json"):
                raise ValueError("speech answered no audio")
            return raw.content

        audio = self._call("audio.speech.create", lambda: self.client.audio.speech
                           .with_raw_response.create(**kwargs), parse, job_id=job_id)
        return Speech(audio=audio, format=format, model=self.model, provider=self.name,
                      usage={"characters": len(text)})
