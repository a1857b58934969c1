"""Audio checks at submission, chunking and stitching for transcription, encoding for speech.

Why pydub only for PCM work: its decoders call `ffprobe`, which the imageio-ffmpeg wheel does not
ship. Every decode and encode goes through `ffmpeg.run_ffmpeg` (forced demuxer, timeout, fixed
error messages); pydub holds the samples, slices them and finds silences.
"""
from __future__ import annotations

import io
import math
import warnings
import wave
from dataclasses import asdict, dataclass
from typing import BinaryIO

from ..errors import Invalid, MMSError, UnsupportedMedia
from . import ffmpeg as ff
from .sniff import sniff
from .subtitles import stitch  # noqa: F401  (re-exported: transcripts of chunks)

with warnings.catch_warnings():  # pydub warns about a missing PATH ffmpeg and imports audioop
    warnings.simplefilter("ignore")
    from pydub import AudioSegment
    from pydub.audio_segment import fix_wav_headers
    from pydub.silence import detect_silence

try:  # for any code that still uses pydub's own export
    AudioSegment.converter = ff.ffmpeg_exe()
except MMSError:
    pass

# Speech output formats (OpenAI's names) -> ffmpeg encoder args, seekable-output suffix, mime.
_ENCODERS = {
    "mp3": (["-acodec", "libmp3lame", "-b:a", "128k", "-f", "mp3"], ".mp3"),
    "opus": (["-acodec", "libopus", "-b:a", "64k", "-ar", "48000", "-f", "ogg"], None),
    "aac": (["-acodec", "aac", "-b:a", "128k", "-f", "adts"], None),
    "flac": (["-acodec", "flac", "-f", "flac"], ".flac"),
    "pcm": (["-acodec", "pcm_s16le", "-ar", "24000", "-ac", "1", "-f", "s16le"], None),
}
FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
FORMAT_MIME = {"mp3": "audio/mpeg", "opus": "audio/ogg", "aac": "audio/aac",
               "flac": "audio/flac", "wav": "audio/wav", "pcm": "audio/pcm"}
PCM_RATE = 24000  # OpenAI's raw `pcm`: 24 kHz, mono, signed 16-bit little-endian
_ALIASES = {"audio/mp3": "audio/mpeg", "audio/mpga": "audio/mpeg", "audio/x-wav": "audio/wav",
            "audio/wave": "audio/wav", "audio/vnd.wave": "audio/wav", "audio/x-flac": "audio/flac",
            "audio/opus": "audio/ogg", "audio/x-m4a": "audio/mp4", "audio/m4a": "audio/mp4",
            "video/mp4": "audio/mp4", "video/webm": "audio/webm", "audio/x-aac": "audio/aac"}
EXPORT_RATE = 16000  # what ASR models work at; 16 kHz mono s16 WAV = 32 kB/s, 25 MB = 13 min
EXPORT_BYTES_PER_S = EXPORT_RATE * 2


def _empty() -> Invalid:
    return Invalid("the audio is empty", code="empty_audio", field="file")


def audio_mime(data: bytes, mime: str | None = None) -> str:
    """Our mime for the bytes: the magic bytes win; the declared type only when they say nothing."""
    found = sniff(data)
    if found and found[0] == "audio":
        return found[1]
    declared = (mime or "").split(";")[0].strip().lower()
    declared = _ALIASES.get(declared, declared)
    if found is None and declared in ff.DEMUXERS:
        return declared  # let ffmpeg try; it will say `undecodable_audio` if it cannot
    raise UnsupportedMedia("audio must be WAV, MP3, M4A/MP4, OGG/Opus, FLAC or WebM",
                           code="unsupported_audio_format", field="file")


def _wav_info(data: bytes) -> dict | None:
    """Header facts of a PCM WAV without a subprocess; None when `wave` cannot read it."""
    return _wav_header(io.BytesIO(data), len(data))


def _wav_header(f: BinaryIO, total: int) -> dict | None:
    """`_wav_info` of a file of `total` bytes, reading only its header."""
    try:
        with wave.open(f) as w:
            rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
            # A writer that cannot seek back leaves 0 or 0xFFFFFFFF as the data size.
            available = (total - f.tell()) // max(1, channels * width)
            declared = w.getnframes()
    except (wave.Error, EOFError, ValueError):
        return None
    if not rate or not channels:
        return None
    frames = available if declared == 0 or declared > available else declared
    return {"duration_s": frames / rate, "sample_rate": rate, "channels": channels,
            "sample_width": width, "exact_header": frames == declared}


def inspect_audio(data: bytes, mime: str | None = None, *, max_duration_s: float | None = None,
                  timeout: float = 120.0) -> dict:
    """Validate an upload at submission: it decodes, is not empty and is not too long.

    Raises Invalid `empty_audio`, `undecodable_audio`, `audio_too_long`, or UnsupportedMedia
    `unsupported_audio_format`. Decoding stops just past `max_duration_s`.
    """
    if not data:
        raise _empty()
    mime = audio_mime(data, mime)
    info = _wav_info(data) if mime == "audio/wav" else None
    if info is None:
        info = ff.probe(data, mime, timeout=timeout,
                        limit_s=max_duration_s + 1 if max_duration_s else None)
    return _checked(info, mime, max_duration_s)


def _checked(info: dict, mime: str, max_duration_s: float | None) -> dict:
    """What `inspect_audio` and `inspect_audio_file` answer from a probe: the same rules for
    bytes in memory and a spool file (empty, too long)."""
    duration = info.get("duration_s") or 0.0
    if duration <= 0:
        raise _empty()
    if max_duration_s and duration > max_duration_s:
        raise Invalid(f"the audio is longer than {max_duration_s:g} seconds",
                      code="audio_too_long", field="file")
    out = {"duration_s": round(duration, 3), "mime": mime}
    out.update({k: info[k] for k in ("sample_rate", "channels") if info.get(k)})
    return out


def inspect_audio_file(f: BinaryIO, size: int, mime: str | None = None, *,
                       max_duration_s: float | None = None, timeout: float = 120.0) -> dict:
    """`inspect_audio` of a large upload in a spool file: the WAV header is read, anything else
    is decoded by ffmpeg reading the file itself; the bytes never enter this process whole."""
    f.seek(0)
    head = f.read(64 * 1024)
    f.seek(0)
    if not size or not head:
        raise _empty()
    mime = audio_mime(head, mime)
    info = _wav_header(f, size) if mime == "audio/wav" else None
    if info is None:
        f.seek(0)
        info = ff.probe(None, mime, timeout=timeout, input_file=f,
                        limit_s=max_duration_s + 1 if max_duration_s else None)
    f.seek(0)
    return _checked(info, mime, max_duration_s)


def load_audio(data: bytes, mime: str | None = None, *, sample_rate: int | None = None,
               channels: int | None = None, timeout: float = 300.0) -> AudioSegment:
    """Decode to a pydub segment, resampled by ffmpeg when `sample_rate`/`channels` are given.

    Why resample while decoding: an hour at 44.1 kHz stereo is 635 MB of samples; at the 16 kHz
    mono that transcription needs it is 115 MB.
    """
    if not data:
        raise _empty()
    mime = audio_mime(data, mime)
    if mime == "audio/wav":
        info = _wav_info(data)
        if (info and info["sample_width"] == 2 and sample_rate in (None, info["sample_rate"])
                and channels in (None, info["channels"])):
            if not info["exact_header"]:
                data = bytearray(data)  # type: ignore[assignment]
                fix_wav_headers(data)  # pydub believes the header's size
            seg = AudioSegment(data=bytes(data))
            if len(seg) == 0:
                raise _empty()
            return seg
    args = [*ff.input_args(mime), "-map", "0:a:0", "-vn", "-acodec", "pcm_s16le"]
    if sample_rate:
        args += ["-ar", str(sample_rate)]
    if channels:
        args += ["-ac", str(channels)]
    out = bytearray(ff.run_ffmpeg([*args, "-f", "wav", "pipe:1"], data, timeout, mime=mime))
    fix_wav_headers(out)  # a WAV written to a pipe cannot go back to fill in its sizes
    seg = AudioSegment(data=bytes(out))
    if len(seg) == 0:
        raise _empty()
    return seg


@dataclass(frozen=True)
class Chunk:
    """A span of the original clip, in seconds. Plain data so it travels in Celery messages."""

    start_s: float
    end_s: float
    index: int = 0

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Chunk:
        return cls(float(d["start_s"]), float(d["end_s"]), int(d.get("index", 0)))


def _silence_cut(segment: AudioSegment, lo_s: float, hi_s: float, min_silence_ms: int,
                 thresh_db: float) -> float | None:
    """Middle of the latest silence in [lo_s, hi_s], searched on a downsampled mono copy.

    Why only a window: pydub's detector slices once per step, so the whole hour would take
    minutes; a window of a fifth of each chunk, 8 kHz mono, 10 ms steps, takes a fraction of a
    second (a 60-minute clip plans in about one second).
    """
    window = segment[int(lo_s * 1000):int(hi_s * 1000)].set_channels(1).set_frame_rate(8000)
    quiet = detect_silence(window, min_silence_len=min_silence_ms, silence_thresh=thresh_db,
                           seek_step=10)
    if not quiet:
        return None
    start, end = max(quiet, key=lambda r: r[0] + r[1])
    return round(lo_s + (start + end) / 2000, 3)


def plan_chunks(segment: AudioSegment, *, max_bytes: int, max_chunk_s: float,
                overlap_s: float = 1.0, min_silence_ms: int = 400, silence_thresh_db: float = -40,
                bytes_per_s: float = EXPORT_BYTES_PER_S, original_bytes: int | None = None,
                search_fraction: float = 0.2) -> list[Chunk]:
    """Spans each within `max_chunk_s` and (as exported, `bytes_per_s`) within `max_bytes`.

    One chunk when the clip fits (`original_bytes`, the upload's size, lets the worker send the
    upload unchanged). Otherwise cut in the quietest moment near each boundary; where the window
    holds no silence, cut at the boundary and overlap the next chunk by `overlap_s` so the words
    on the cut are heard whole by one side (`stitch` removes the repeat).
    """
    duration = len(segment) / 1000
    size = original_bytes if original_bytes is not None else duration * bytes_per_s + 44
    if duration <= max_chunk_s and size <= max_bytes:
        return [Chunk(0.0, round(duration, 3), 0)]
    limit = min(max_chunk_s, (max_bytes - 1024) / bytes_per_s)
    if limit <= 4 * overlap_s or limit < 2:
        raise ValueError("chunk limits too small for the overlap")
    chunks: list[Chunk] = []
    start = 0.0
    while duration - start > limit:
        remaining = duration - start
        target = start + remaining / math.ceil(remaining / limit)  # even: no sliver at the end
        lo = start + (target - start) * (1 - search_fraction)
        cut = _silence_cut(segment, lo, target, min_silence_ms, silence_thresh_db)
        if cut is not None and cut > start:
            chunks.append(Chunk(round(start, 3), cut, len(chunks)))
            start = cut
        else:
            end = round(target, 3)
            chunks.append(Chunk(round(start, 3), end, len(chunks)))
            start = end - overlap_s
    chunks.append(Chunk(round(start, 3), round(duration, 3), len(chunks)))
    return chunks


def pcm_to_wav(pcm: bytes, rate: int, *, channels: int = 1, sample_width: int = 2) -> bytes:
    """Raw PCM in a WAV container written by `wave`, so the header carries the true sizes."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(sample_width)
        w.setframerate(rate)
        w.writeframes(pcm)
    return buf.getvalue()


def _wav_bytes(seg: AudioSegment) -> bytes:
    return pcm_to_wav(seg.raw_data, seg.frame_rate, channels=seg.channels,
                      sample_width=seg.sample_width)


def export_chunk(segment: AudioSegment, chunk: Chunk, *, fmt: str = "wav",
                 sample_rate: int = EXPORT_RATE) -> tuple[bytes, str]:
    """One chunk as 16 kHz mono s16 `fmt`, with a file name whose extension the upstream trusts."""
    if fmt not in ("wav", "flac", "mp3"):
        raise ValueError(f"unsupported chunk format {fmt!r}")
    piece = segment[int(round(chunk.start_s * 1000)):int(round(chunk.end_s * 1000))]
    piece = piece.set_channels(1).set_frame_rate(sample_rate).set_sample_width(2)
    data = _wav_bytes(piece) if fmt == "wav" else convert(piece, fmt)
    return data, f"chunk-{chunk.index:04d}.{fmt}"


def convert(src: AudioSegment | bytes, fmt: str, *, mime: str | None = None,
            timeout: float = 300.0) -> bytes:
    """Encode to a speech format (mp3, opus in Ogg, aac in ADTS, flac, wav, raw pcm 24 kHz)."""
    if fmt not in FORMATS:
        raise Invalid(f"format must be one of {', '.join(FORMATS)}", code="unsupported_format",
                      field="format")
    if fmt == "wav":  # written by `wave`, so the header carries true sizes
        seg = src if isinstance(src, AudioSegment) else load_audio(src, mime, timeout=timeout)
        return _wav_bytes(seg.set_sample_width(2) if seg.sample_width != 2 else seg)
    if isinstance(src, AudioSegment):
        data, in_mime, code = _wav_bytes(src), "audio/wav", "audio_encode_failed"
    else:
        data, in_mime, code = src, audio_mime(src, mime), "undecodable_audio"
    enc, suffix = _ENCODERS[fmt]
    args = [*ff.input_args(in_mime), "-map", "0:a:0", "-vn", *enc, "pipe:1"]
    return ff.run_ffmpeg(args, data, timeout, mime=in_mime, output_suffix=suffix, error_code=code)


def _piece(data: bytes, fmt: str) -> AudioSegment:
    if fmt == "pcm":
        data = data[: len(data) - len(data) % 2]  # a torn last sample would be refused
        return AudioSegment(data=data, sample_width=2, frame_rate=PCM_RATE, channels=1)
    return load_audio(data, FORMAT_MIME[fmt])


def concat_audio(pieces: list[bytes], fmt: str, *, out_fmt: str | None = None) -> bytes:
    """Join synthesized pieces (all in `fmt`) into one file of `out_fmt` (default `fmt`).

    Lossy pieces carry encoder delay (AAC adds ~40 ms each); asking the upstream for `pcm` or
    `wav` pieces and encoding once with `out_fmt` gives seamless joins.
    """
    out_fmt = out_fmt or fmt
    if not pieces:
        raise ValueError("nothing to join")
    if fmt == out_fmt and (len(pieces) == 1 or fmt == "pcm"):
        return b"".join(pieces)  # raw PCM has no header: bytes simply follow each other
    segs = [_piece(p, fmt) for p in pieces]
    return convert(sum(segs[1:], segs[0]), out_fmt)


def duration_of(data: bytes, fmt: str) -> float:
    """Length in seconds of encoded audio in `fmt` (one of FORMATS)."""
    if fmt == "pcm":
        return round(len(data) / (2 * PCM_RATE), 3)
    info = _wav_info(data) if fmt == "wav" else None
    if info is None:
        info = ff.probe(data, audio_mime(data, FORMAT_MIME.get(fmt)))
    return round(info.get("duration_s") or 0.0, 3)
