"""The small interfaces every provider implements, one per capability.

Why a Protocol per capability rather than one big class: operators choose a provider per
capability (`MMS_<CAP>_PROVIDER`), so an OpenAI-compatible vision model can sit beside local
moderation. Providers return plain dicts (JSON-ready) so results go straight onto the job record.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from mmservice.moderation.categories import CATEGORIES  # noqa: F401  (old import path)

CAPABILITIES: tuple[str, ...] = ("moderation", "vision", "transcription", "speech")


@dataclass
class RawModeration:
    """What a provider measured for one input, before our policy turns scores into a verdict.

    `category_scores` holds only the categories in `assessed_categories`: a category the engine
    cannot judge is absent, never a fake 0. `upstream_flagged` is the engine's own opinion when it
    has one (OpenAI's `flagged`), kept for transparency; our verdict comes from thresholds.
    """

    category_scores: dict[str, float]
    assessed_categories: list[str]
    model: str
    provider: str
    upstream_flagged: bool | None = None
    details: dict[str, Any] = field(default_factory=dict)  # e.g. NudeNet detections, matched terms
    usage: dict[str, Any] = field(default_factory=dict)
    # The text's language ({"code", "confidence"}) when the engine detected it.
    language: dict[str, Any] | None = None
    # Why nothing was assessed ("language": written in a language no engine reads here).
    unassessed_reason: str | None = None


@dataclass
class Transcript:
    """A transcription on the clip's own timeline (seconds from its start)."""

    text: str
    segments: list[dict[str, Any]]  # [{"start": float, "end": float, "text": str}]
    language: str | None
    duration_s: float | None
    model: str
    provider: str
    usage: dict[str, Any] = field(default_factory=dict)


@dataclass
class Speech:
    """Synthesized audio, already in the requested container/codec."""

    audio: bytes
    format: str  # mp3 | opus | aac | flac | wav | pcm
    model: str
    provider: str
    usage: dict[str, Any] = field(default_factory=dict)


class ModerationProvider(Protocol):
    name: str
    model: str

    def moderate_texts(self, texts: list[str]) -> list[RawModeration]:
        """One RawModeration per input text, in order (providers may batch upstream)."""

    def moderate_image(self, image: bytes, mime: str) -> RawModeration:
        """`image` is a validated, decodable image (PNG/JPEG/WEBP/GIF first frame)."""


class VisionProvider(Protocol):
    name: str
    model: str

    def describe(self, image: bytes, mime: str, *, prompt: str | None, detail: str,
                 json_schema: dict | None) -> dict[str, Any]:
        """Returns {"text"? , "data"?, "model", "provider", "usage"?, ...}. `image` is prepared."""


class TranscriptionProvider(Protocol):
    name: str
    model: str

    def transcribe(self, audio: bytes, filename: str, *, language: str | None,
                   prompt: str | None) -> Transcript:
        """`filename` carries the right extension (the openai client needs it)."""


class SpeechProvider(Protocol):
    name: str
    model: str

    def speak(self, text: str, *, voice: str, format: str, speed: float,
              instructions: str | None) -> Speech:
        """Text is at most one upstream request long (the caller splits longer text)."""
