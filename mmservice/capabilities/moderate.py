"""Moderation of content: judge text, a transcript and/or an image, then apply the policy.

Why the policy is passed in: scores are measurements, the verdict is the caller's rule (job
options, a tenant's policy, a facade request), so the same measurement code serves them all.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from mmservice.providers.base import RawModeration


class Policy(Protocol):
    def decide(self, raws: list[RawModeration], inputs: list[str],
               kinds: list[str] | None = None) -> dict[str, Any]:
        """The moderation result (verdict, flags, scores) for the measured pieces; `kinds[i]`
        is the input kind (text, image, transcript) of `raws[i]`, for per-kind lines."""


@dataclass
class Content:
    """What one moderation judges. `transcript` is text heard in audio (reported apart)."""

    text: str | None = None
    transcript: str | None = None
    image: bytes | None = None
    image_mime: str | None = None


def moderate(content: Content, *, provider: Any, policy: Policy, max_chars: int,
             text_provider: Any = None) -> dict[str, Any]:
    """`text_provider` may wrap `provider` (micro-batching); images go to `provider` itself.
    Long text is judged in pieces of at most `max_chars`; the policy sees every piece."""
    from mmservice.media.text_split import split_for_moderation

    raws: list[RawModeration] = []
    inputs: list[str] = []
    texts: list[str] = []
    kinds: list[str] = []  # the input kind of each raw, in order
    if content.transcript is not None:
        inputs.append("transcript")
        if content.transcript.strip():
            texts += split_for_moderation(content.transcript, max_chars)
    text_kinds = ["transcript"] * len(texts)
    if content.text:
        inputs.append("text")
        texts += split_for_moderation(content.text, max_chars)
    text_kinds += ["text"] * (len(texts) - len(text_kinds))
    if content.image is not None:
        from mmservice.media.images import prepare_for_moderation

        image, mime = prepare_for_moderation(content.image, content.image_mime)
        inputs.append("image")
        raws.append(provider.moderate_image(image, mime))
        kinds.append("image")
    if texts:
        raws.extend((text_provider or provider).moderate_texts(texts))
        kinds += text_kinds
    result = policy.decide(raws, inputs, kinds)
    if len(texts) > 1:
        result["pieces"] = len(texts)
    if not raws:
        # Only a transcript, and it is empty: silence (or no-speech segments dropped), so
        # there is nothing anyone said to judge; `inputs` still says the transcript was read.
        result["note"] = "no speech in the audio" if content.transcript is not None \
            else "nothing to judge"
    return result
