"""Upstream personalities: which endpoints exist and how chat behaves.

Real "OpenAI-compatible" servers differ in exactly these ways (no moderation endpoint on NIM,
OpenRouter or Ollama; no vision or audio on DeepSeek; Llama Guard answering `unsafe\\nS1` in chat;
small models ignoring `response_format`), and the provider code has to cope with each one.
"""
from __future__ import annotations

from dataclasses import dataclass

from .wire import MODELS, StubError

ENDPOINTS = ("models", "moderations", "chat", "transcriptions", "speech")


@dataclass(frozen=True)
class Profile:
    name: str
    missing: frozenset = frozenset()
    chat_images: bool = True
    chat_mode: str = "describe"  # describe | llamaguard | prose
    extra_models: tuple = ()

    def models(self) -> tuple[str, ...]:
        owner = {"omni-moderation-latest": "moderations", "whisper-1": "transcriptions",
                 "gpt-4o-mini-tts": "speech", "tts-1": "speech", "gpt-4o-mini": "chat"}
        return tuple(m for m in MODELS if owner[m] not in self.missing) + self.extra_models


PROFILES = {p.name: p for p in (
    Profile("openai"),
    Profile("no-moderations", missing=frozenset({"moderations"})),
    Profile("deepseek", missing=frozenset({"moderations", "transcriptions", "speech"}),
            chat_images=False, extra_models=("deepseek-chat",)),
    Profile("llamaguard", missing=frozenset({"moderations"}), chat_mode="llamaguard",
            extra_models=("llama-guard-3-8b",)),
    Profile("prose", chat_mode="prose"),
)}


def get_profile(name: str | None, default: str = "openai") -> Profile:
    key = (name or default).strip().lower()
    try:
        return PROFILES[key]
    except KeyError:
        raise StubError(400, f"Unknown stub profile {key!r}; known: {sorted(PROFILES)}",
                        param="X-Stub-Profile", code="unknown_stub_profile") from None
