"""What a /v1 request means: its parsed body, its record, its endpoint.

Separate from the HTTP plumbing in server.py so that the socket-level concerns (keep-alive,
resets, hangs) and the OpenAI semantics can be read on their own.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field

from . import audio, chat, scoring
from .faults import walk_strings
from .multipart import parse_multipart
from .profiles import Profile
from .wire import Reply, StubError, model_list, model_obj

_BAD_JSON = ("We could not parse the JSON body of your request. (HINT: This likely means you "
             "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, "
             "but what was sent was not valid JSON.)")


@dataclass
class Request:
    method: str
    path: str
    headers: dict
    json: object = None
    form: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)

    @classmethod
    def parse(cls, method: str, path: str, headers: dict, body: bytes) -> Request:
        req = cls(method, path, headers)
        ctype = headers.get("content-type", "")
        if ctype.startswith("multipart/form-data"):
            try:
                req.form, req.files = parse_multipart(body, ctype)
            except ValueError as e:
                raise StubError(400, f"Could not parse multipart form: {e}") from None
        elif body:
            try:
                req.json = json.loads(body)
            except (ValueError, UnicodeDecodeError):
                raise StubError(400, _BAD_JSON) from None
        return req

    def texts(self):
        """Where fault markers may hide: every JSON string, every text form field."""
        yield from walk_strings(self.json)
        for values in self.form.values():
            yield from values

    def record(self) -> dict:
        return {"method": self.method, "path": self.path, "headers": dict(self.headers),
                "json": _redact(self.json), "fields": sorted({*self.form, *self.files}),
                "form": {k: v[0] if len(v) == 1 else v for k, v in self.form.items()},
                "files": {k: {"filename": f["filename"], "content_type": f["content_type"],
                              "bytes": len(f["data"])} for k, f in self.files.items()},
                "timestamp": time.time()}


def _redact(obj):
    """Media (data: URLs) replaced by a size note: records are for assertions, not storage."""
    if isinstance(obj, str) and obj.startswith("data:") and len(obj) > 128:
        head = obj.split(",", 1)[0]
        return f"{head},<{len(obj) - len(head) - 1} chars>"
    if isinstance(obj, dict):
        return {k: _redact(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_redact(v) for v in obj]
    return obj


class RequestLog:
    """Thread-safe, list-like record of the requests the stub served (newest last)."""

    def __init__(self):
        self._lock = threading.Condition()
        self._items: list[dict] = []

    def append(self, item: dict) -> None:
        with self._lock:
            self._items.append(item)
            self._lock.notify_all()

    def note(self, item: dict, **fields) -> None:
        """Add `fields` to a logged request's record (waiters are woken)."""
        with self._lock:
            item.update(fields)
            self._lock.notify_all()

    def wait_for(self, predicate, timeout: float) -> list[dict]:
        """The records once `predicate(records)` holds (woken by `append` and `note`); raises
        TimeoutError when it has not by `timeout`."""
        with self._lock:
            if not self._lock.wait_for(lambda: predicate(list(self._items)), timeout):
                raise TimeoutError(f"the stub's requests never matched: {self._items[-3:]!r}")
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def snapshot(self) -> list[dict]:
        with self._lock:
            return list(self._items)

    def matching(self, path_suffix: str) -> list[dict]:
        return [r for r in self.snapshot() if r["path"].endswith(path_suffix)]

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __iter__(self):
        return iter(self.snapshot())

    def __getitem__(self, index):
        with self._lock:
            return self._items[index]

    def __repr__(self) -> str:
        return f"RequestLog({self.snapshot()!r})"


def _require_json(req: Request) -> dict:
    if not isinstance(req.json, dict):
        raise StubError(400, _BAD_JSON if req.json is not None else
                        "Request body must be a JSON object.")
    return req.json


def _models(req, profile, stub):
    if req.path == "/v1/models":
        return Reply.json(model_list(profile.models()))
    model = req.path[len("/v1/models/"):]
    if model not in profile.models():
        raise StubError(404, f"The model '{model}' does not exist", param="model",
                        code="model_not_found")
    return Reply.json(model_obj(model))


def _moderations(req, profile, stub):
    return Reply.json(scoring.moderate(_require_json(req)))


def _chat(req, profile, stub):
    body = _require_json(req)
    completion = chat.complete(body, profile)
    if body.get("stream"):
        return Reply(200, b"", "text/event-stream; charset=utf-8",
                     chunks=chat.stream(body, completion))
    return Reply.json(completion)


def _transcriptions(req, profile, stub):
    if not req.files and not req.form:
        raise StubError(400, "Expected a multipart/form-data body.", param="file")
    reply, duration = audio.transcribe(req.form, req.files, stub.max_upload_bytes)
    if stub.latency_per_audio_second_ms:
        stub.sleep(duration * stub.latency_per_audio_second_ms / 1000)
    return reply


def _translations(req, profile, stub):
    """Speech in any language to English text: the stub's speech is English already, so the
    answer is the transcription's (without `language`, as OpenAI's translations answer)."""
    req.form.pop("language", None)
    return _transcriptions(req, profile, stub)


def _speech(req, profile, stub):
    return audio.speak(_require_json(req))


_ROUTES = {
    ("GET", "/v1/models"): ("models", _models),
    ("POST", "/v1/moderations"): ("moderations", _moderations),
    ("POST", "/v1/chat/completions"): ("chat", _chat),
    ("POST", "/v1/audio/transcriptions"): ("transcriptions", _transcriptions),
    ("POST", "/v1/audio/translations"): ("transcriptions", _translations),
    ("POST", "/v1/audio/speech"): ("speech", _speech),
}


def route(method: str, path: str, profile: Profile):
    """The endpoint function, or a 404 in OpenAI's shape (unknown, or absent in this profile)."""
    key = (method, path)
    if method == "GET" and path.startswith("/v1/models/"):
        key = ("GET", "/v1/models")
    found = _ROUTES.get(key)
    if found is None or found[0] in profile.missing:
        raise StubError(404, f"Invalid URL ({method} {path})", code=None)
    return found[1]
