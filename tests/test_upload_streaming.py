"""Large uploads are checked and stored from werkzeug's spool file, never read whole into the
API's memory (issue 20): the job they make is the same job a small upload makes (size, SHA-256,
duration, stored bytes), and the same limits refuse them with the same errors."""
from __future__ import annotations

import hashlib
import io
import os
import wave

import pytest

from mediagen import wav
from mmservice.api.jobs import STREAM_FROM_BYTES


def long_wav(seconds: int) -> bytes:
    """A real 16 kHz mono WAV of `seconds` (a 1 s tone repeated)."""
    with wave.open(io.BytesIO(wav(1.0))) as w:
        second = w.readframes(w.getnframes())
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(second * seconds)
    return buf.getvalue()


@pytest.fixture(scope="module")
def big() -> bytes:
    data = long_wav(300)  # 9.6 MB: over the streaming threshold
    assert len(data) > STREAM_FROM_BYTES
    return data


def test_large_audio_is_checked_hashed_and_stored_from_its_file(client, api, big):
    r = client.submit_file("long.wav", big, "audio/wav", {"tasks": "transcribe"})
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["input"]["bytes"] == len(big)
    assert job["input"]["sha256"] == hashlib.sha256(big).hexdigest()
    assert job["input"]["duration_s"] == 300.0 and job["input"]["mime"] == "audio/wav"
    blobs = api.app.extensions["mms"].blobs
    assert blobs.get(f"default/{job['id']}/input") == big
    done = client.poll(job["id"], timeout=120)
    assert done["status"] == "succeeded", done
    assert len(done["results"]["transcription"]["chunks"]) >= 10  # 30 s chunks in the tests


def test_large_upload_idempotency_uses_the_streamed_hash(client, big):
    h = {"Idempotency-Key": f"stream-{os.getpid()}"}
    first = client.post("/v1/jobs", files={"file": ("a.wav", io.BytesIO(big), "audio/wav")},
                        data={"tasks": "transcribe"}, headers=h)
    again = client.post("/v1/jobs", files={"file": ("a.wav", io.BytesIO(big), "audio/wav")},
                        data={"tasks": "transcribe"}, headers=h)
    assert first.status_code == 202 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    other = big[:-2] + b"\x01\x02"
    clash = client.post("/v1/jobs", files={"file": ("a.wav", io.BytesIO(other), "audio/wav")},
                        data={"tasks": "transcribe"}, headers=h)
    assert clash.status_code == 409


def test_large_uploads_meet_the_same_limits(stack, big):
    s = stack({"MAX_AUDIO_BYTES": len(big) - 1, "MAX_AUDIO_DURATION_S": 3600}, workers=0)
    r = s.client.submit_file("long.wav", big, "audio/wav")
    assert r.status_code == 413 and r.json()["error"]["code"] == "audio_too_large"
    s2 = stack({"MAX_AUDIO_DURATION_S": 120}, workers=0)
    r = s2.client.submit_file("long.wav", big, "audio/wav")
    assert r.status_code == 422 and r.json()["error"]["code"] == "audio_too_long"
    assert s2.client.get("/v1/jobs").json()["data"] == []


def test_large_files_that_are_not_streamable_take_the_bytes_path(client):
    noise = os.urandom(STREAM_FROM_BYTES + 1024)
    r = client.submit_file("x.bin", noise, "application/octet-stream")
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media_type"
    broken = b"RIFF" + b"\xff\xff\xff\xff" + b"WAVE" + os.urandom(STREAM_FROM_BYTES)
    r = client.submit_file("x.wav", broken, "audio/wav")
    assert r.status_code in (415, 422), r.text
    assert r.json()["error"]["code"] in ("undecodable_audio", "unsupported_audio_format",
                                         "empty_audio")
