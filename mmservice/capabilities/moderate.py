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
    # Text written in the image (offline OCR), moderated as text and judged with the image.
    ocr_text: str | None = None


OCR_SHOWN_CHARS = 1000  # the OCR text a result shows (what decided), at most


def moderate(content: Content, *, provider: Any, policy: Policy, max_chars: int,
             text_provider: Any = None, unread_verdict: str = "review") -> dict[str, Any]:
    """`text_provider` may wrap `provider` (micro-batching); images go to `provider` itself.
    Long text is judged in pieces of at most `max_chars`; the policy sees every piece. Text read
    in the image (`content.ocr_text`) is judged as text with the image's lines (kind `image`),
    so a picture of a threat is judged as the threat; `inputs` then lists `ocr_text`."""
    from mmservice.media.text_split import split_for_moderation
    from mmservice.moderation.policy import apply_unassessed_reason

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
        inputs.append("image")
        raws.append(_judge_image(content.image, content.image_mime, provider))
        kinds.append("image")
    ocr = (content.ocr_text or "").strip() if content.image is not None else ""
    if ocr:
        inputs.append("ocr_text")
        pieces = split_for_moderation(ocr, max_chars)
        texts += pieces
        text_kinds += ["image"] * len(pieces)
    if texts:
        raws.extend((text_provider or provider).moderate_texts(texts))
        kinds += text_kinds
    result = policy.decide(raws, inputs, kinds)
    if ocr:
        result["ocr_text"] = ocr[:OCR_SHOWN_CHARS]
    apply_unassessed_reason(result, unread_verdict)
    if len(texts) > 1:
        result["pieces"] = len(texts)
    if not raws:
        # Only a transcript, and it is empty: silence (or no-speech segments dropped), so
        # there is nothing anyone said to judge; `inputs` still says the transcript was read.
        result["note"] = "no speech in the audio" if content.transcript is not None \
            else "nothing to judge"
    return result


def _judge_image(image: bytes, mime: str | None, provider: Any) -> RawModeration:
    """A provider that already knows these bytes (the result cache: `known_image`) answers
    before the image is decoded and prepared again; otherwise it is prepared and sent."""
    from mmservice.media.images import prepare_for_moderation

    known = getattr(provider, "known_image", None)
    raw = known(image) if known is not None else None
    if raw is not None:
        return raw
    prepared, prepared_mime = prepare_for_moderation(image, mime)
    return provider.moderate_image(prepared, prepared_mime)
