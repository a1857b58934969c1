"""Per-request fault selection: in-band markers and per-path script queues.

Two ways exist because they serve different callers: a marker travels with the content, so a test
that only controls the input (an end-to-end job through the API and a worker) can still make one
upstream call fail; a script queue lets a test that owns the stub make the *next N* calls fail
without touching the content (retry schedules, circuit breakers, benchmarks).
"""
from __future__ import annotations

import re
import threading
from collections import deque
from dataclasses import dataclass

from .wire import StubError

DEFAULT_HANG_S = 300.0
MARKER = re.compile(r"\[\[fault:([^\]]*)\]\]")
_ANY_MARKER = re.compile(r"\[\[(?:fault|score):[^\]]*\]\]")


@dataclass
class Fault:
    status: int | None = None
    retry_after: float | None = None
    latency_ms: float = 0.0
    hang_s: float | None = None
    malformed: bool = False
    reset: bool = False
    message: str | None = None

    @classmethod
    def from_dict(cls, d: dict) -> Fault:
        """Script entries: {"status": 429, "retry_after": 1}, {"latency_ms": 300}, {"hang": true}
        (or {"hang": 5} seconds), {"malformed": true}, {"reset": true}, {} = answer normally."""
        unknown = set(d) - {"status", "retry_after", "latency_ms", "hang", "malformed", "reset",
                            "message"}
        if unknown:
            raise ValueError(f"unknown fault keys: {sorted(unknown)}")
        hang = d.get("hang")
        hang_s = None
        if hang is True:
            hang_s = DEFAULT_HANG_S
        elif hang not in (None, False):
            hang_s = float(hang)
        return cls(status=int(d["status"]) if d.get("status") is not None else None,
                   retry_after=float(d["retry_after"]) if d.get("retry_after") is not None
                   else None,
                   latency_ms=float(d.get("latency_ms") or 0), hang_s=hang_s,
                   malformed=bool(d.get("malformed")), reset=bool(d.get("reset")),
                   message=d.get("message"))

    @classmethod
    def from_marker(cls, spec: str) -> Fault:
        """`429:retry_after=1`, `500`, `hang`, `hang=5`, `malformed`, `reset`, `latency=300`;
        tokens combine with ':' (e.g. `latency=200:503`)."""
        f = cls()
        for tok in filter(None, (t.strip() for t in spec.split(":"))):
            key, _, val = tok.partition("=")
            key = key.lower()
            if key.isdigit():
                f.status = int(key)
            elif key in ("retry_after", "retry-after"):
                f.retry_after = float(val)
            elif key in ("latency", "latency_ms"):
                f.latency_ms = float(val)
            elif key == "hang":
                f.hang_s = float(val) if val else DEFAULT_HANG_S
            elif key == "malformed":
                f.malformed = True
            elif key == "reset":
                f.reset = True
            else:
                raise ValueError(f"unknown fault marker token {tok!r}")
        return f

    def merge(self, other: Fault) -> Fault:
        return Fault(status=other.status or self.status,
                     retry_after=other.retry_after if other.retry_after is not None
                     else self.retry_after,
                     latency_ms=self.latency_ms + other.latency_ms,
                     hang_s=other.hang_s or self.hang_s,
                     malformed=self.malformed or other.malformed,
                     reset=self.reset or other.reset, message=other.message or self.message)

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v not in (None, False, 0.0)}


def find_markers(texts) -> Fault | None:
    """All markers in the given strings merged into one fault; None when there is none."""
    found = None
    for text in texts:
        for m in MARKER.finditer(text):
            try:
                f = Fault.from_marker(m.group(1))
            except ValueError as e:
                raise StubError(400, f"bad stub fault marker: {e}") from None
            found = f if found is None else found.merge(f)
    return found


def strip_markers(text: str) -> str:
    """Content seen by the fake model: markers removed so a faulted-then-retried request scores
    exactly like the same content without the marker."""
    return _ANY_MARKER.sub("", text).strip() if "[[" in text else text


def walk_strings(obj, skip_data_urls: bool = True):
    """Every string inside a JSON value (data: URLs skipped: large, and never carry markers)."""
    if isinstance(obj, str):
        if not (skip_data_urls and obj.startswith("data:")):
            yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from walk_strings(v, skip_data_urls)
    elif isinstance(obj, list):
        for v in obj:
            yield from walk_strings(v, skip_data_urls)


class ScriptBook:
    """Fault queues keyed by path suffix; consumed one entry per matching request, in order."""

    def __init__(self):
        self._lock = threading.Lock()
        self._queues: dict[str, deque[Fault]] = {}

    def add(self, suffix: str, faults: list[dict]) -> None:
        parsed = [Fault.from_dict(f) for f in faults]  # validate all before queueing any
        suffix = suffix if suffix.startswith("/") else "/" + suffix
        with self._lock:
            self._queues.setdefault(suffix, deque()).extend(parsed)

    def pop(self, path: str) -> Fault | None:
        with self._lock:
            # Longest suffix first, so "/audio/speech" wins over "/speech" when both are scripted.
            for suffix in sorted(self._queues, key=len, reverse=True):
                q = self._queues[suffix]
                if q and path.endswith(suffix):
                    return q.popleft()
        return None

    def pending(self) -> dict:
        with self._lock:
            return {k: [f.as_dict() for f in q] for k, q in self._queues.items() if q}

    def clear(self) -> None:
        with self._lock:
            self._queues.clear()
