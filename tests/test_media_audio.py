"""Audio sniffing, submission checks, chunk planning, export, stitching and speech encoding.

Media are made here: tones from ffmpeg's lavfi sources (the imageio-ffmpeg binary), encoded to
each upload format by the same binary.
"""
from __future__ import annotations

import io
import os
import wave

import pytest

from mmservice.errors import Invalid, UnsupportedMedia
from mmservice.media import (
    FORMATS,
    Chunk,
    concat_audio,
    convert,
    duration_of,
    export_chunk,
    inspect_audio,
    load_audio,
    plan_chunks,
    probe_duration,
    run_ffmpeg,
    sniff,
    stitch,
)
from mmservice.media.audio import AudioSegment

RATE = 16000


def tone(seconds: float, fmt_args: list[str], freq: int = 440, rate: int = RATE) -> bytes:
    src = f"sine=frequency={freq}:duration={seconds}:sample_rate={rate}"
    return run_ffmpeg(["-f", "lavfi", "-i", src, *fmt_args, "pipe:1"], None, 60)


ENCODINGS = {
    "wav": (["-f", "wav"], "audio/wav"),
    "mp3": (["-acodec", "libmp3lame", "-f", "mp3"], "audio/mpeg"),
    "ogg_opus": (["-acodec", "libopus", "-ar", "48000", "-f", "ogg"], "audio/ogg"),
    "ogg_vorbis": (["-acodec", "libvorbis", "-f", "ogg"], "audio/ogg"),
    "flac": (["-acodec", "flac", "-f", "flac"], "audio/flac"),
    "webm": (["-acodec", "libopus", "-ar", "48000", "-f", "webm"], "audio/webm"),
    "m4a": (["-acodec", "aac", "-f", "ipod"], "audio/mp4"),
    "mp4": (["-acodec", "aac", "-f", "mp4"], "audio/mp4"),
    "aac": (["-acodec", "aac", "-f", "adts"], "audio/aac"),
}


def wav_tone(seconds: float) -> bytes:
    return tone(seconds, ["-f", "wav"])


@pytest.mark.parametrize("name", sorted(ENCODINGS))
def test_sniff_and_inspect_each_format(name):
    args, mime = ENCODINGS[name]
    # MP4 muxers need a seekable output: encode to a temp file via the runner's suffix option.
    data = (run_ffmpeg(["-f", "lavfi", "-i", f"sine=frequency=440:duration=2:sample_rate={RATE}",
                        *args, "pipe:1"], None, 60, output_suffix=".m4a")
            if name in ("m4a", "mp4") else tone(2, args))
    assert sniff(data) == ("audio", mime)
    info = inspect_audio(data, "application/octet-stream", max_duration_s=60)
    assert info["mime"] == mime
    assert abs(info["duration_s"] - 2.0) < 0.15, info
    seg = load_audio(data, sample_rate=RATE, channels=1)
    assert abs(len(seg) / 1000 - 2.0) < 0.15 and seg.frame_rate == RATE


def test_wav_and_mp3_durations():
    wav = wav_tone(5)
    info = inspect_audio(wav, "audio/wav", max_duration_s=60)
    assert info == {"duration_s": 5.0, "mime": "audio/wav", "sample_rate": RATE, "channels": 1}
    mp3 = tone(5, ["-f", "mp3"])
    assert abs(inspect_audio(mp3, "audio/mpeg", max_duration_s=60)["duration_s"] - 5.0) < 0.1
    assert abs(probe_duration(mp3) - 5.0) < 0.1


def test_zero_length_audio():
    header_only = io.BytesIO()
    with wave.open(header_only, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(RATE)
    for data in (b"", header_only.getvalue()):
        with pytest.raises(Invalid) as exc:
            inspect_audio(data, "audio/wav", max_duration_s=60)
        assert exc.value.code == "empty_audio"
    with pytest.raises(Invalid) as exc:
        load_audio(b"", "audio/wav")
    assert exc.value.code == "empty_audio"


def test_undecodable_random_bytes():
    junk = os.urandom(200_000)
    junk = b"\x00" + junk[1:]  # no accidental MPEG frame sync at byte 0
    with pytest.raises(Invalid) as exc:
        inspect_audio(junk, "audio/mpeg", max_duration_s=60)
    assert exc.value.code == "undecodable_audio" and exc.value.status == 422
    assert "/" not in exc.value.message and "ffmpeg" not in exc.value.message.lower()
    with pytest.raises(Invalid) as exc:
        inspect_audio(b"ID3\x04\x00\x00\x00\x00\x00\x00" + junk, None, max_duration_s=60)
    assert exc.value.code == "undecodable_audio"
    with pytest.raises(UnsupportedMedia) as exc:
        inspect_audio(junk, None, max_duration_s=60)
    assert exc.value.code == "unsupported_audio_format"
    assert probe_duration(junk, "audio/mpeg") is None


def test_wav_variants():
    # Float samples: `wave` cannot read them, ffmpeg can.
    flt = tone(2, ["-acodec", "pcm_f32le", "-f", "wav"])
    assert abs(inspect_audio(flt, "audio/wav", max_duration_s=60)["duration_s"] - 2.0) < 0.01
    assert abs(len(load_audio(flt)) - 2000) <= 1
    # A streamed WAV whose writer left the data size at 0: the samples are still there.
    good = wav_tone(2)
    pos = good.find(b"data")
    streamed = good[:pos + 4] + b"\x00\x00\x00\x00" + good[pos + 8:]
    assert inspect_audio(streamed, "audio/wav", max_duration_s=60)["duration_s"] == 2.0
    assert len(load_audio(streamed)) == 2000


def test_too_long():
    for data in (wav_tone(5), tone(5, ["-f", "mp3"])):
        with pytest.raises(Invalid) as exc:
            inspect_audio(data, None, max_duration_s=2)
        assert exc.value.code == "audio_too_long"


@pytest.fixture(scope="module")
def speech_like_30min() -> AudioSegment:
    """30 minutes of 18 s tones separated by 2 s silences (silences at 18-20 s of every 20 s)."""
    beep = load_audio(wav_tone(18))
    period = beep + AudioSegment.silent(2000, frame_rate=RATE)
    return period * 90


def in_silence(t: float) -> bool:
    return 18.0 <= t % 20.0 <= 20.0 or t % 20.0 == 0.0


def test_plan_cuts_in_silences(speech_like_30min):
    seg = speech_like_30min
    assert len(seg) == 1_800_000
    chunks = plan_chunks(seg, max_bytes=25 * 1024 * 1024, max_chunk_s=300)
    assert len(chunks) >= 6
    assert chunks[0].start_s == 0 and chunks[-1].end_s == 1800.0
    assert [c.index for c in chunks] == list(range(len(chunks)))
    for a, b in zip(chunks, chunks[1:]):
        assert a.end_s == b.start_s  # cut in a silence: no overlap needed
        assert in_silence(a.end_s), a
    assert all(c.duration_s <= 300 for c in chunks)


def test_plan_respects_byte_limit(speech_like_30min):
    max_bytes = 5 * 1024 * 1024  # 16 kHz mono s16 WAV: ~163 s per chunk
    chunks = plan_chunks(speech_like_30min, max_bytes=max_bytes, max_chunk_s=1500)
    assert len(chunks) >= 12
    data, name = export_chunk(speech_like_30min, chunks[3])
    assert len(data) <= max_bytes and name == "chunk-0003.wav"
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (RATE, 1, 2)
        assert abs(w.getnframes() / RATE - chunks[3].duration_s) < 0.01


def test_plan_fixed_windows_with_overlap_on_continuous_tone():
    seg = load_audio(wav_tone(200))
    chunks = plan_chunks(seg, max_bytes=25 * 1024 * 1024, max_chunk_s=60, overlap_s=1.0)
    assert len(chunks) == 4
    assert chunks[0].start_s == 0 and chunks[-1].end_s == 200.0
    for a, b in zip(chunks, chunks[1:]):
        assert b.start_s == pytest.approx(a.end_s - 1.0)
    assert all(c.duration_s <= 60 for c in chunks)


def test_plan_single_chunk_when_it_fits():
    seg = load_audio(wav_tone(10))
    assert plan_chunks(seg, max_bytes=1_000_000, max_chunk_s=60) == [Chunk(0.0, 10.0, 0)]
    # The upload itself is what gets sent when it fits, whatever a WAV export would weigh.
    assert len(plan_chunks(seg, max_bytes=100_000, max_chunk_s=60, original_bytes=90_000)) == 1
    assert len(plan_chunks(seg, max_bytes=200_000, max_chunk_s=60)) == 2


def test_export_formats_and_names():
    seg = load_audio(tone(3, ["-f", "mp3"]))
    data, name = export_chunk(seg, Chunk(1.0, 2.5, 12), fmt="flac")
    assert name == "chunk-0012.flac" and sniff(data) == ("audio", "audio/flac")
    assert abs(duration_of(data, "flac") - 1.5) < 0.05
    data, name = export_chunk(seg, Chunk(0, 3, 1), fmt="mp3")
    assert name == "chunk-0001.mp3" and sniff(data) == ("audio", "audio/mpeg")


def test_stitch_shifts_and_dedupes_overlap():
    c0, c1, c2 = Chunk(0.0, 60.0, 0), Chunk(59.0, 120.0, 1), Chunk(120.0, 150.0, 2)
    t0 = {"text": "Hello there. This is the end of one world", "language": "en",
          "segments": [{"id": 0, "start": 0.0, "end": 30.0, "text": " Hello there."},
                       {"id": 1, "start": 30.0, "end": 59.9,
                        "text": " This is the end of one world"}]}
    t1 = {"text": "world and the next part.", "language": "en",
          "segments": [{"id": 0, "start": 0.0, "end": 0.9, "text": " world"},  # in the overlap
                       {"id": 1, "start": 0.6, "end": 5.0, "text": " and the next part."},
                       {"id": 2, "start": 5.0, "end": 61.0, "text": " Goes on."}]}
    t2 = {"text": "Bonjour.", "language": "fr",
          "segments": [{"id": 0, "start": 1.0, "end": 2.5, "text": " Bonjour."}]}
    out = stitch([(c2, t2), (c0, t0), (c1, t1)])  # order of arrival does not matter
    segs = out["segments"]
    assert [s["text"] for s in segs] == ["Hello there.", "This is the end of one world",
                                         "and the next part.", "Goes on.", "Bonjour."]
    assert [s["id"] for s in segs] == list(range(5))
    assert segs[2]["start"] == pytest.approx(59.9) and segs[2]["end"] == pytest.approx(64.0)
    assert segs[3]["start"] == pytest.approx(64.0) and segs[3]["end"] == pytest.approx(120.0)
    assert segs[4]["start"] == pytest.approx(121.0) and segs[4]["end"] == pytest.approx(122.5)
    assert all(a["end"] <= b["start"] + 1e-9 for a, b in zip(segs, segs[1:]))
    assert out["text"] == ("Hello there. This is the end of one world and the next part. "
                           "Goes on. Bonjour.")
    assert out["language"] == "en" and out["duration_s"] == 150.0


def test_stitch_trims_straddling_segment_and_text_only_chunks():
    c0, c1 = Chunk(0.0, 60.0, 0), Chunk(59.0, 100.0, 1)
    t0 = {"segments": [{"start": 50.0, "end": 59.8, "text": "the quick brown fox"}]}
    t1 = {"segments": [{"start": 0.2, "end": 3.0, "text": "brown fox jumps over"}]}
    out = stitch([(c0, t0), (c1, t1)])
    assert out["segments"][1]["start"] == pytest.approx(59.8)
    assert out["text"] == "the quick brown fox jumps over"
    plain = stitch([(c0, {"text": "the quick brown fox"}), (c1, {"text": "Brown fox, jumps."})])
    assert plain["text"] == "the quick brown fox jumps." and plain["segments"] == []
    assert plain["language"] is None


def test_speech_formats_convert_concat_and_duration():
    piece = tone(1.5, ["-f", "wav"], rate=24000)
    expected_sniff = {"mp3": "audio/mpeg", "opus": "audio/ogg", "aac": "audio/aac",
                      "flac": "audio/flac", "wav": "audio/wav"}
    for fmt in FORMATS:
        one = convert(piece, fmt)
        if fmt == "pcm":
            assert len(one) == 2 * 24000 * 1.5 and sniff(one) is None
        else:
            assert sniff(one) == ("audio", expected_sniff[fmt])
        joined = concat_audio([one, one, one], fmt)
        # ADTS has no edit list: each AAC piece keeps its encoder delay and padding.
        assert abs(duration_of(joined, fmt) - 4.5) < (0.35 if fmt == "aac" else 0.15), fmt
    pcm = convert(piece, "pcm")
    mp3 = concat_audio([pcm, pcm], "pcm", out_fmt="mp3")
    assert sniff(mp3) == ("audio", "audio/mpeg") and abs(duration_of(mp3, "mp3") - 3.0) < 0.1
    with pytest.raises(Invalid) as exc:
        convert(piece, "ogg")
    assert exc.value.code == "unsupported_format"
