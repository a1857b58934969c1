"""OpenAI wire-format pieces shared by every endpoint of the stub.

Kept in one place so that ids, error bodies and token counts look the same whichever endpoint
produced them: callers (and their retry/parse code) must not be able to tell the stub from the
real service by shape alone.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import time
from dataclasses import dataclass, field

CATEGORIES = (
    "harassment", "harassment/threatening", "hate", "hate/threatening", "illicit",
    "illicit/violent", "self-harm", "self-harm/intent", "self-harm/instructions", "sexual",
    "sexual/minors", "violence", "violence/graphic",
)
# Only these accept images on omni-moderation; the rest stay text-only, as OpenAI documents.
IMAGE_CATEGORIES = frozenset({
    "self-harm", "self-harm/intent", "self-harm/instructions", "sexual", "violence",
    "violence/graphic",
})
MODELS = ("omni-moderation-latest", "gpt-4o-mini", "whisper-1", "gpt-4o-mini-tts", "tts-1")
MODEL_CREATED = 1715367049  # fixed so that /v1/models is byte-stable across runs

_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 403: "permission_error",
          404: "invalid_request_error", 409: "invalid_request_error", 413: "server_error",
          415: "invalid_request_error", 422: "invalid_request_error", 429: "requests"}
_CODES = {401: "invalid_api_key", 403: "unsupported_country_region_territory",
          404: "not_found", 429: "rate_limit_exceeded"}
_MESSAGES = {
    400: "Invalid request (stub fault injection).",
    401: "Incorrect API key provided: sk-stub***. You can find your API key at "
         "https://platform.openai.com/account/api-keys.",
    403: "Country, region, or territory not supported",
    404: "The model does not exist or you do not have access to it.",
    429: "Rate limit reached for requests. Please try again later.",
    500: "The server had an error while processing your request. Sorry about that!",
    502: "Bad gateway.",
    503: "The engine is currently overloaded, please try again later",
}


class StubError(Exception):
    """Raised anywhere in a handler; the server renders it in OpenAI's error shape."""

    def __init__(self, status: int, message: str | None = None, *, type: str | None = None,
                 param: str | None = None, code: str | None = ...,
                 headers: dict | None = None):
        super().__init__(message or _MESSAGES.get(status, f"Error {status}"))
        self.status = status
        self.message = str(self)
        self.type = type or _TYPES.get(status, "server_error" if status >= 500 else
                                       "invalid_request_error")
        self.param = param
        self.code = _CODES.get(status) if code is ... else code  # None: an explicit null
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param,
                          "code": self.code}}


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict = field(default_factory=dict)
    # A streamed answer (server-sent events): sent with chunked encoding, one piece at a time,
    # `StubServer.stream_chunk_delay_ms` apart, so a caller can watch it arrive (or hang up).
    chunks: list[bytes] | None = None

    @classmethod
    def json(cls, obj, status: int = 200, headers: dict | None = None) -> Reply:
        return cls(status, json.dumps(obj).encode(), "application/json", headers or {})

    @classmethod
    def error(cls, err: StubError) -> Reply:
        return cls.json(err.body(), err.status, err.headers)


def digest(*parts) -> bytes:
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else str(p).encode())
        h.update(b"\x00")
    return h.digest()


_ids = itertools.count()


def make_id(prefix: str) -> str:
    """Unique per call (time + process counter), in OpenAI's `<prefix><random-ish>` shape."""
    return prefix + digest(time.time_ns(), next(_ids)).hex()[:24]


def now() -> int:
    return int(time.time())


_WORD = re.compile(r"\w+|[^\w\s]")


def text_tokens(text: str) -> int:
    """Rough BPE estimate (~4 chars per token, never fewer than the word count)."""
    if not text:
        return 0
    return max(len(_WORD.findall(text)), math.ceil(len(text) / 4))


def model_list(available: tuple[str, ...]) -> dict:
    return {"object": "list", "data": [model_obj(m) for m in available]}


def model_obj(model: str) -> dict:
    return {"id": model, "object": "model", "created": MODEL_CREATED, "owned_by": "system"}
