"""The 13 OpenAI moderation category names, in OpenAI's order.

Why here: thresholds, request validation, the verdict and every provider speak in these names;
they are the moderation domain's vocabulary, not a provider detail. A provider reports only the
categories it assessed.
"""
from __future__ import annotations

CATEGORIES: tuple[str, ...] = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)
