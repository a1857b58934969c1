"""Local text-to-speech: libespeak-ng from the `espeakng-loader` wheel, driven through ctypes.

Why ctypes and not the `espeak-ng` program: no program is installed on a fresh machine (and none
is needed); the wheel ships the shared library and its data. The library's compiled-in data path
points at its build machine, so the wheel's data directory is passed to `espeak_Initialize`.

espeak-ng keeps global state (voice, rate, the synth callback), so synthesis is serialized by a
process-wide lock; a sentence takes a few milliseconds, so this is not a bottleneck.

Output is 22 050 Hz 16-bit mono WAV built in memory; other formats (mp3, opus, aac, flac, pcm)
go through the same ffmpeg runner as the rest of the service. `pcm` follows OpenAI's contract:
raw signed 16-bit little-endian mono at 24 kHz.
"""
from __future__ import annotations

import ctypes
import logging
import threading

from mmservice.errors import Invalid, Unavailable
from mmservice.providers.base import Speech

log = logging.getLogger("mmservice.providers.local")

PROVIDER = "local"
MODEL = "espeak-ng"

# OpenAI voice -> espeak-ng voice+variant. Variants change pitch and formants (male m1-m8,
# female f1-f5); British voices stand in for OpenAI's more "narrator" voices.
VOICES = {
    "alloy": "en-us",
    "ash": "en-us+m3",
    "ballad": "en-gb-x-rp+m2",
    "cedar": "en-us+m6",
    "coral": "en-us+f3",
    "echo": "en-us+m1",
    "fable": "en-gb-x-rp",
    "marin": "en-us+f1",
    "nova": "en-us+f2",
    "onyx": "en-us+m8",
    # sage was "en+f4" (British): 35-40 % WER in local ASR against 6-20 % for the others; the
    # US f5 variant was the most intelligible of 20 variants tried (16 % on the same clips).
    "sage": "en-us+f5",
    "shimmer": "en-us+f4",
    "verse": "en-us+m4",
}
FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
NORMAL_WPM = 175
MIN_WPM, MAX_WPM = 80, 450  # espeak-ng's accepted rate range
PCM_RATE = 24000

# espeak_ng API constants (speak_lib.h)
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_RATE, _VOLUME = 1, 2

_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                                   ctypes.c_void_p)


class EspeakEngine:
    """The loaded library. One per process (espeak-ng cannot be initialized twice)."""

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError:
            raise Unavailable("offline text-to-speech is not installed (pip install "
                              "espeakng-loader, see requirements-local.txt)",
                              code="model_missing") from None
        self.data_path = espeakng_loader.get_data_path()
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p,
                                          ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint,
                                     ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
                                     ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Info.argtypes = [ctypes.c_void_p]
        lib.espeak_Info.restype = ctypes.c_char_p
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, self.data_path.encode(),
                                     _INITIALIZE_DONT_EXIT)
        if rate <= 0:
            raise Unavailable(f"espeak-ng failed to initialize with data at {self.data_path}",
                              code="tts_unavailable")
        self.lib = lib
        self.sample_rate = int(rate)
        self.version = (lib.espeak_Info(None) or b"").decode("ascii", "replace")
        self._lock = threading.Lock()
        self._chunks: list[bytes] = []
        self._callback = _SYNTH_CALLBACK(self._on_audio)  # keep a reference: C holds it
        lib.espeak_SetSynthCallback(self._callback)

    def _on_audio(self, wav, n, _events) -> int:
        if wav and n > 0:
            self._chunks.append(ctypes.string_at(wav, n * 2))
        return 0  # 0 = continue

    def synthesize(self, text: str, voice: str, wpm: int) -> bytes:
        """Raw s16le mono samples at `self.sample_rate`."""
        data = text.encode("utf-8")
        with self._lock:
            if self.lib.espeak_SetVoiceByName(voice.encode("ascii")) != 0:
                raise Unavailable(f"espeak-ng has no voice {voice!r}", code="tts_unavailable")
            self.lib.espeak_SetParameter(_RATE, int(wpm), 0)
            self.lib.espeak_SetParameter(_VOLUME, 100, 0)
            self._chunks = []
            err = self.lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8,
                                        None, None)
            pcm, self._chunks = b"".join(self._chunks), []
        if err != 0:
            raise Unavailable(f"espeak-ng synthesis failed (error {err})", code="tts_failed")
        return pcm


def _clean(text: str) -> str:
    # Control characters other than line breaks/tabs mean nothing to a listener.
    return "".join(c if c.isprintable() or c in "\n\t" else " " for c in text).strip()


def _convert(wav: bytes, fmt: str, tempo: float) -> bytes:
    """WAV -> `fmt` (and tempo change) through the service's ffmpeg runner."""
    from mmservice.media.ffmpeg import input_args, run_ffmpeg

    args = input_args("audio/wav")
    if abs(tempo - 1.0) > 0.005:
        args += ["-filter:a", f"atempo={tempo:.4f}"]
    suffix = None
    if fmt == "wav":
        args += ["-c:a", "pcm_s16le", "-f", "wav"]
        suffix = ".wav"
    elif fmt == "pcm":
        args += ["-ar", str(PCM_RATE), "-ac", "1", "-c:a", "pcm_s16le", "-f", "s16le"]
    elif fmt == "mp3":
        args += ["-c:a", "libmp3lame", "-b:a", "64k", "-f", "mp3"]
        suffix = ".mp3"
    elif fmt == "opus":
        args += ["-ar", "24000", "-c:a", "libopus", "-b:a", "32k", "-f", "ogg"]
    elif fmt == "aac":
        args += ["-c:a", "aac", "-b:a", "64k", "-f", "adts"]
    elif fmt == "flac":
        args += ["-c:a", "flac", "-f", "flac"]
        suffix = ".flac"
    args.append("pipe:1")
    return run_ffmpeg(args, wav, timeout=120.0, mime="audio/wav", output_suffix=suffix,
                      error_code="audio_encode_failed")


class LocalSpeech:
    name = PROVIDER
    model = MODEL

    @classmethod
    def refused_option(cls, options: dict, cfg: dict) -> tuple[str, str] | None:
        """Declared for the API (no engine load): espeak-ng cannot follow style instructions."""
        if options.get("instructions"):
            return "instructions", "the offline voice (espeak-ng) cannot follow style instructions"
        return None

    def speak(self, text: str, *, voice: str, format: str, speed: float,
              instructions: str | None) -> Speech:
        from mmservice.providers.local import models

        fmt = (format or "mp3").lower()
        if fmt not in FORMATS:
            raise Invalid(f"unsupported speech format {format!r} (one of {', '.join(FORMATS)})",
                          code="invalid_format", field="response_format")
        espeak_voice = VOICES.get((voice or "").lower())
        if espeak_voice is None:
            raise Invalid(f"unknown voice {voice!r} (one of {', '.join(sorted(VOICES))})",
                          code="invalid_voice", field="voice")
        speed = float(1.0 if speed is None else speed)
        if not 0.25 <= speed <= 4.0:
            raise Invalid("speed must be between 0.25 and 4.0", code="invalid_speed",
                          field="speed")
        clean = _clean(text or "")
        if not clean:
            raise Invalid("there is no text to speak", code="empty_input", field="input")
        wanted = NORMAL_WPM * speed
        wpm = int(round(min(MAX_WPM, max(MIN_WPM, wanted))))
        tempo = wanted / wpm  # beyond espeak's range, ffmpeg's atempo does the rest (0.55-1.56)
        engine: EspeakEngine = models.get("espeak")
        pcm = engine.synthesize(clean, espeak_voice, wpm)
        if not pcm:
            raise Unavailable("espeak-ng produced no audio", code="tts_failed")
        rate = engine.sample_rate
        from mmservice.media.audio import pcm_to_wav

        wav = pcm_to_wav(pcm, rate)
        if fmt == "wav" and abs(tempo - 1.0) <= 0.005:
            audio = wav
        else:
            audio = _convert(wav, fmt, tempo)
        usage = {
            "characters": len(text or ""),
            "duration_s": round(len(pcm) / 2 / rate / tempo, 3),
            "sample_rate": PCM_RATE if fmt in ("pcm", "opus") else rate,
            "voice": espeak_voice,
            "words_per_minute": round(wanted),
        }
        if instructions:
            usage["instructions_ignored"] = True  # espeak-ng cannot follow style instructions
        return Speech(audio=audio, format=fmt, model=self.model, provider=PROVIDER, usage=usage)
