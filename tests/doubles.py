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
