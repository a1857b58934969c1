"""Calls passed to the upstream as they are: chat completions (streamed or not) and speech
audio, answered to the client as the upstream's bytes arrive.

Why through the provider's own client and retry policy: the upstream address, key, timeout,
circuit breaker and retry rules are the ones the workers use (`providers.retry`). Retries happen
only before the first byte (opening the call); once bytes flow, a failure ends the stream.

Why a generator that closes the upstream response in `finally`: when the client hangs up, the
WSGI server stops iterating and closes the generator, which closes the upstream connection, so
the upstream stops generating (tests watch the stub see it).
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx

CHUNK = 64 * 1024


def open_call(provider: Any, path: str, body: dict, *, stream: bool) -> Any:
    """The upstream's response (unread when `stream`), after the retry layer's attempts."""
    return provider.retry.call(
        lambda: provider.client.post(path, body=body, cast_to=httpx.Response, stream=stream),
        what=path.strip("/").replace("/", "."))


def relay(resp: Any, on_end: Callable[[bytes], None]) -> Iterator[bytes]:
    """The upstream's body chunk by chunk; `on_end(tail)` gets the last bytes seen (where an
    SSE stream's usage chunk is) once the stream ended or the client left."""
    tail = b""
    try:
        for chunk in resp.iter_bytes():
            if chunk:
                tail = (tail + chunk)[-8192:]
                yield chunk
    finally:
        resp.close()
        on_end(tail)


def sse_usage(tail: bytes) -> dict[str, Any]:
    """The `usage` of a chat stream (sent when the client asked with `stream_options`)."""
    for line in reversed(tail.split(b"\n")):
        if line.startswith(b"data: {") and b'"usage"' in line:
            try:
                usage = json.loads(line[6:]).get("usage")
            except ValueError:
                return {}
            if isinstance(usage, dict):
                return usage
    return {}


def pieces(data: bytes) -> Iterator[bytes]:
    for i in range(0, len(data), CHUNK):
        yield data[i:i + CHUNK]
