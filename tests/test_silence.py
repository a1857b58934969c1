"""Silence is not speech (issue 12, point 5).

Whisper says "You" over a silent clip and marks the segment `no_speech_prob` ~0.95; that word was
kept and moderated. Segments the engine marks as no speech are dropped, so a silent clip has an
empty transcript and an `allow` verdict whose `inputs` and `note` say there was no speech. Tested
through the whole pipeline with the local Whisper (its own stack, no upstream) and with the stub
(which answers silence the way Whisper does), each beside a clip that does hold sound.
"""
from __future__ import annotations

import io
import wave

import pytest

from mediagen import wav


def silent_wav(seconds: float = 5.0, rate: int = 16000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\0\0" * int(seconds * rate))
    return buf.getvalue()


def _assert_silent(job: dict) -> None:
    assert job["status"] == "succeeded", job
    tr = job["results"]["transcription"]
    assert tr["text"] == "" and tr["segments"] == [], tr
    assert tr["no_speech_dropped"] >= 1 and tr["note"] == "no speech in the audio", tr
    mod = job["results"]["moderation"]
    assert mod["verdict"] == "allow" and mod["flagged"] is False, mod
    assert mod["inputs"] == ["transcript"] and mod["note"] == "no speech in the audio", mod


@pytest.fixture(scope="module")
def offline(module_stack, tmp_root):
    s = module_stack({"BLOB_DIR": str(tmp_root / "silence-blobs")}, drop=("OPENAI_",),
                     queues="audio,moderation", concurrency=2, name="silence")
    return s.client


def test_silent_clip_offline_has_no_transcript_and_is_allowed(offline):
    r = offline.submit_file("quiet.wav", silent_wav(5.0), "audio/wav")
    assert r.status_code == 202, r.text
    _assert_silent(offline.poll(r.json()["id"], timeout=180))


def test_silent_clip_through_the_upstream_stub(client):
    r = client.submit_file("quiet.wav", silent_wav(5.0), "audio/wav")
    assert r.status_code == 202, r.text
    _assert_silent(client.poll(r.json()["id"]))


def test_sound_through_the_upstream_stub_is_kept(client):
    """The control: the stub's segments for sound (no_speech_prob 0.01) are all kept."""
    r = client.submit_file("tone.wav", wav(3.0), "audio/wav")
    job = client.poll(r.json()["id"])
    assert job["status"] == "succeeded", job
    tr = job["results"]["transcription"]
    assert tr["text"] and tr["segments"] and "no_speech_dropped" not in tr, tr
    assert "note" not in tr and "note" not in job["results"]["moderation"]


@pytest.mark.parametrize("segment, dropped", [
    ({"no_speech_prob": 0.95, "avg_logprob": -0.94}, True),   # tiny.en's "You" on silence
    ({"no_speech_prob": 0.95, "avg_logprob": -0.2}, False),   # confidently decoded: kept
    ({"no_speech_prob": 0.3, "avg_logprob": -1.5}, False),    # unclear speech is still speech
    ({}, False),                                              # no mark (plain json): kept
])
def test_no_speech_rule(segment, dropped):
    from mmservice.capabilities.transcribe import transcript_dict
    from mmservice.providers.base import Transcript

    segs = [{"start": 0.0, "end": 2.0, "text": "You", **segment},
            {"start": 2.0, "end": 4.0, "text": "hello there", "no_speech_prob": 0.01,
             "avg_logprob": -0.2}]
    out = transcript_dict(Transcript(text="You hello there", segments=segs, language="en",
                                     duration_s=4.0, model="m", provider="p", usage={}))
    assert out["text"] == ("hello there" if dropped else "You hello there")
    assert len(out["segments"]) == (1 if dropped else 2)
