"""Fake speech endpoints: transcripts derived from the clip's real duration, tones for TTS.

Durations are read from the actual file (wave, else the imageio-ffmpeg binary) because the code
under test chunks, bills and times out by duration; a clip that cannot be decoded is refused with
OpenAI's 400 so that the caller's "corrupt upload" path is exercised too.
"""
from __future__ import annotations

import functools
import io
import math
import os
import re
import subprocess
import tempfile
import wave
from array import array

from .faults import strip_markers
from .wire import Reply, StubError, digest

SEGMENT_S = 5.0
MAX_SPEECH_CHARS = 4096
SAMPLE_RATE = 24000
VOICES = frozenset({"alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage",
                    "shimmer", "verse", "marin", "cedar"})
AUDIO_EXTENSIONS = ("flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm")
SPEECH_FORMATS = {  # format -> (content type, ffmpeg output args or None for built-in)
    "mp3": ("audio/mpeg", ["-c:a", "libmp3lame", "-b:a", "64k", "-f", "mp3"]),
    "opus": ("audio/ogg", ["-c:a", "libopus", "-b:a", "32k", "-f", "ogg"]),
    "aac": ("audio/aac", ["-c:a", "aac", "-b:a", "64k", "-f", "adts"]),
    "flac": ("audio/flac", ["-c:a", "flac", "-f", "flac"]),
    "wav": ("audio/wav", None),
    "pcm": ("audio/pcm", None),
}
_DURATION = re.compile(r"Duration:\s*(\d+):(\d+):(\d+(?:\.\d+)?)")
_TIME = re.compile(r"time=\s*(\d+):(\d+):(\d+(?:\.\d+)?)")
_CORRUPT = "Audio file might be corrupted or unsupported"


@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    import imageio_ffmpeg  # deferred: only audio paths need it
    return imageio_ffmpeg.get_ffmpeg_exe()


def _hms(m: re.Match) -> float:
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))


def audio_duration(data: bytes, filename: str = "") -> float:
    try:
        with wave.open(io.BytesIO(data)) as w:
            if w.getframerate() > 0:
                return w.getnframes() / w.getframerate()
    except (wave.Error, EOFError, ValueError):
        pass
    suffix = "." + filename.rsplit(".", 1)[-1] if "." in filename else ""
    fd, path = tempfile.mkstemp(prefix="devstub-", suffix=suffix[:8])
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        probe = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", path],
                               capture_output=True, text=True, timeout=30).stderr
        if "Audio:" not in probe:
            raise StubError(400, _CORRUPT, param="file")
        m = _DURATION.search(probe)
        if m:
            return _hms(m)
        # Streams without a container duration (raw ADTS, some webm): decode to find the end.
        full = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", path, "-f",
                               "null", "-"], capture_output=True, text=True, timeout=60).stderr
        times = _TIME.findall(full)
        if not times:
            raise StubError(400, _CORRUPT, param="file")
        h, mnt, s = times[-1]
        return int(h) * 3600 + int(mnt) * 60 + float(s)
    except subprocess.TimeoutExpired:
        raise StubError(400, _CORRUPT, param="file") from None
    finally:
        os.unlink(path)


def _stamp(t: float, sep: str) -> str:
    ms = int(round(t * 1000))
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}{sep}{ms % 1000:03d}"


def _silent_wav(data: bytes) -> bool:
    """A 16-bit WAV whose peak stays under ~-54 dBFS. Other formats count as speech."""
    try:
        with wave.open(io.BytesIO(data)) as w:
            if w.getsampwidth() != 2:
                return False
            samples = array("h", w.readframes(w.getnframes()))
    except (wave.Error, EOFError, ValueError):
        return False
    return max((abs(v) for v in samples), default=0) < 64


def _silence_segments(duration: float) -> list[dict]:
    """What Whisper answers for silence: a made-up "You", marked as probably no speech."""
    end = round(min(duration, 2.0), 3)
    return [{"id": 0, "seek": 0, "start": 0.0, "end": end, "text": " You", "tokens": [50364],
             "temperature": 0.0, "avg_logprob": -0.94, "compression_ratio": 0.27,
             "no_speech_prob": 0.95}]


def _segments(duration: float, prompt: str) -> list[dict]:
    lead = strip_markers(prompt).split()
    prefix = f"{lead[0]} " if lead else ""
    count = max(1, math.ceil(round(duration, 3) / SEGMENT_S))
    out = []
    for i in range(count):
        start, end = i * SEGMENT_S, min((i + 1) * SEGMENT_S, duration)
        text = f" {prefix}segment {i + 1} of the clip."
        tokens = [50364 + int.from_bytes(digest(w)[:2], "big") % 1000 for w in text.split()]
        out.append({"id": i, "seek": int(start * 100), "start": round(start, 3),
                    "end": round(end, 3), "text": text, "tokens": tokens, "temperature": 0.0,
                    "avg_logprob": -0.2, "compression_ratio": 1.1, "no_speech_prob": 0.01})
    return out


def _words(segments: list[dict]) -> list[dict]:
    words = []
    for seg in segments:
        parts = seg["text"].split()
        step = (seg["end"] - seg["start"]) / len(parts)
        for k, w in enumerate(parts):
            words.append({"word": w.strip(".,"), "start": round(seg["start"] + k * step, 3),
                          "end": round(seg["start"] + (k + 1) * step, 3)})
    return words


def transcribe(form: dict[str, list[str]], files: dict, max_bytes: int) -> tuple[Reply, float]:
    """Returns the reply and the clip duration (the server turns it into optional latency)."""
    upload = files.get("file")
    if upload is None:
        raise StubError(400, "Missing required parameter: 'file'.", param="file")
    if not (form.get("model") or [""])[0]:
        raise StubError(400, "you must provide a model parameter", param="model")
    filename, data = upload["filename"] or "", upload["data"]
    if len(data) > max_bytes:
        raise StubError(413, f"Maximum content size limit ({max_bytes}) exceeded "
                        f"({len(data)} bytes read)", type="server_error")
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if ext and ext not in AUDIO_EXTENSIONS:
        raise StubError(400, f"Invalid file format. Supported formats: {list(AUDIO_EXTENSIONS)}",
                        param="file")
    fmt = (form.get("response_format") or ["json"])[0]
    granularities = form.get("timestamp_granularities[]") or form.get(
        "timestamp_granularities") or []
    if fmt not in ("json", "verbose_json", "text", "srt", "vtt"):
        raise StubError(400, f"Invalid value: '{fmt}'. Supported values are: 'json', 'text', "
                        "'srt', 'verbose_json', and 'vtt'.", param="response_format")
    if granularities and fmt != "verbose_json":
        raise StubError(400, "timestamp_granularities requires response_format=verbose_json",
                        param="timestamp_granularities")
    duration = audio_duration(data, filename)
    segments = (_silence_segments(duration) if _silent_wav(data)
                else _segments(duration, (form.get("prompt") or [""])[0]))
    text = " ".join(s["text"].strip() for s in segments)
    usage = {"type": "duration", "seconds": math.ceil(duration)}
    if fmt == "json":
        return Reply.json({"text": text, "usage": usage}), duration
    if fmt == "verbose_json":
        body = {"task": "transcribe", "language": (form.get("language") or ["english"])[0],
                "duration": round(duration, 3), "text": text, "usage": usage}
        if not granularities or "segment" in granularities:
            body["segments"] = segments
        if "word" in granularities:
            body["words"] = _words(segments)
        return Reply.json(body), duration
    if fmt == "text":
        return Reply(200, (text + "\n").encode(), "text/plain; charset=utf-8"), duration
    sep = "," if fmt == "srt" else "."
    cues = [f"{_stamp(s['start'], sep)} --> {_stamp(s['end'], sep)}\n{s['text'].strip()}\n"
            for s in segments]
    if fmt == "srt":
        out = "\n".join(f"{i}\n{c}" for i, c in enumerate(cues, 1))
    else:
        out = "WEBVTT\n\n" + "\n".join(cues)
    return Reply(200, out.encode(), "text/plain; charset=utf-8"), duration


@functools.lru_cache(maxsize=64)
def synthesize(text: str, voice: str, fmt: str, speed: float) -> bytes:
    """A sine tone lasting ~0.06 s per character / speed; pitch depends on the voice."""
    period = 60 + digest(voice)[0] % 8 * 10  # whole samples per cycle: tile instead of loop
    cycle = array("h", (int(9000 * math.sin(2 * math.pi * k / period)) for k in range(period)))
    n = max(1, int(SAMPLE_RATE * max(0.05, 0.06 * len(text) / speed)))
    pcm = (cycle.tobytes() * (n // period + 1))[: n * 2]
    if fmt == "pcm":
        return pcm
    if fmt == "wav":
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(SAMPLE_RATE)
            w.writeframes(pcm)
        return buf.getvalue()
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "s16le", "-ar",
           str(SAMPLE_RATE), "-ac", "1", "-i", "pipe:0", *SPEECH_FORMATS[fmt][1], "pipe:1"]
    proc = subprocess.run(cmd, input=pcm, capture_output=True, timeout=120)
    if proc.returncode != 0 or not proc.stdout:
        raise StubError(500, f"stub encoder failed: {proc.stderr.decode(errors='replace')[:200]}")
    return proc.stdout


def speak(body: dict) -> Reply:
    text, voice = body.get("input"), body.get("voice")
    if not isinstance(text, str) or not text:
        raise StubError(400, "Missing required parameter: 'input'.", param="input")
    if len(text) > MAX_SPEECH_CHARS:
        raise StubError(400, f"[{{'type': 'string_too_long', 'loc': ('body', 'input'), 'msg': "
                        f"'String should have at most {MAX_SPEECH_CHARS} characters'}}]",
                        param="input", code="string_too_long")
    if isinstance(voice, dict) and isinstance(voice.get("id"), str):
        voice = voice["id"]
    elif voice not in VOICES:
        raise StubError(400, f"Invalid value: '{voice}'. Supported values are: "
                        f"{', '.join(sorted(VOICES))}.", param="voice")
    if not body.get("model"):
        raise StubError(400, "Missing required parameter: 'model'.", param="model")
    fmt = body.get("response_format") or "mp3"
    if fmt not in SPEECH_FORMATS:
        raise StubError(400, f"Invalid value: '{fmt}'. Supported values are: "
                        f"{', '.join(SPEECH_FORMATS)}.", param="response_format")
    speed = body.get("speed", 1.0)
    if not isinstance(speed, (int, float)) or not 0.25 <= speed <= 4.0:
        raise StubError(400, f"Invalid value for 'speed': {speed!r}; expected 0.25 to 4.0.",
                        param="speed")
    audio = synthesize(strip_markers(text), voice, fmt, float(speed))
    return Reply(200, audio, SPEECH_FORMATS[fmt][0])
