"""Test doubles shared by test modules (each says why a real part is not used where it is)."""
from __future__ import annotations

from typing import Any


class OneProvider:
    """A provider registry that serves one provider for every capability (and as the batched
    text moderator): for tests of the pipeline around a provider, not of a provider."""

    def __init__(self, provider: Any):
        self.provider = provider

    def get(self, cap: str) -> Any:
        return self.provider

    def text_moderation(self, backlog: Any = None) -> Any:
        return self.provider


class CountingModeration:
    """A text moderation provider that scores nothing: it counts the texts it is sent (into
    `calls`) and runs `on_call` first (e.g. to break Redis mid-step)."""

    name, model = "test", "omni-test"

    def __init__(self, calls: list, on_call=None):
        self.calls, self.on_call = calls, on_call

    def moderate_texts(self, texts: list[str]):
        from mmservice.providers.base import RawModeration

        if self.on_call is not None:
            self.on_call()
        self.calls.extend(texts)
        return [RawModeration({"violence": 0.0}, ["violence"], self.model, self.name)
                for _ in texts]
