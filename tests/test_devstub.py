"""The upstream stub, exercised through the official openai client (max_retries=0).

Why through the real client: the stub's only job is to be indistinguishable, by shape, from an
OpenAI-compatible upstream, so the client's own parsing and error mapping is the oracle.
"""
from __future__ import annotations

import base64
import io
import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import wave
from array import array
from pathlib import Path
from typing import Literal

import openai
import pytest
from openai import OpenAI
from PIL import Image
from pydantic import BaseModel

from mmservice.devstub import start_stub
from mmservice.testing.stack import wait_until

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def stub():
    s = start_stub()
    yield s
    s.shutdown()


@pytest.fixture(autouse=True)
def _clean(stub):
    stub.reset()
    stub.configure(latency_ms=0, latency_per_audio_second_ms=0, profile="openai",
                   max_upload_bytes=25 * 1024 * 1024)
    yield


@pytest.fixture
def client(stub):
    return OpenAI(base_url=stub.base_url, api_key="x", max_retries=0, timeout=10)


def png_url(color=(230, 20, 20), size=(40, 30)) -> str:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def wav_bytes(seconds: float, rate: int = 16000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        # A quiet tone, not zeros: the stub answers digital silence the way Whisper does
        # (a "You" marked no_speech_prob 0.95), see test_silence.py.
        period = array("h", (int(2000 * math.sin(2 * math.pi * i / 72)) for i in range(72)))
        n = int(rate * seconds)
        w.writeframes((period.tobytes() * (n // 72 + 1))[: n * 2])
    return buf.getvalue()


def http(stub, method, path, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(stub.url + path, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


# --- endpoints -------------------------------------------------------------------------------

def test_models(client):
    ids = {m.id for m in client.models.list()}
    assert {"omni-moderation-latest", "gpt-4o-mini", "whisper-1", "gpt-4o-mini-tts",
            "tts-1"} <= ids
    assert client.models.retrieve("whisper-1").id == "whisper-1"


def test_moderation_text_keywords_and_benign(client):
    res = client.moderations.create(model="omni-moderation-latest",
                                    input=["I will hurt you", "you idiot", "hate-test",
                                           "nsfw-test", "thinking about suicide",
                                           "a lovely day at the beach"])
    assert res.id.startswith("modr-") and res.model == "omni-moderation-latest"
    hurt, idiot, hate, nsfw, sh, benign = res.results
    assert hurt.flagged and hurt.category_scores.violence > 0.5
    assert hurt.category_scores.harassment_threatening > 0.5
    assert idiot.categories.harassment and idiot.category_scores.harassment > 0.5
    assert hate.categories.hate and nsfw.categories.sexual and sh.categories.self_harm
    assert not benign.flagged
    assert max(benign.category_scores.model_dump(by_alias=True).values()) < 0.05
    assert benign.category_applied_input_types.violence == ["text"]
    assert len(benign.category_scores.model_dump(by_alias=True)) == 13


def test_moderation_is_deterministic(client):
    a = client.moderations.create(input="same input, same scores").results[0]
    b = client.moderations.create(input="same input, same scores").results[0]
    assert a.category_scores == b.category_scores
    # a fault marker does not change what is scored
    c = client.moderations.create(input="same input, same scores [[fault:latency=1]]")
    assert c.results[0].category_scores == a.category_scores


def test_moderation_multimodal_red_image(client):
    res = client.moderations.create(model="omni-moderation-latest", input=[
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": png_url()}}])
    assert len(res.results) == 1
    r = res.results[0]
    assert r.flagged and r.categories.sexual and r.category_scores.sexual >= 0.9
    assert r.category_applied_input_types.sexual == ["text", "image"]
    assert r.category_applied_input_types.hate == ["text"]
    blue = client.moderations.create(input=[
        {"type": "image_url", "image_url": {"url": png_url((20, 40, 220))}}]).results[0]
    assert not blue.flagged and blue.category_applied_input_types.hate == []
    assert blue.category_applied_input_types.violence == ["image"]


def test_chat_describes_image_and_counts_tiles(client):
    res = client.chat.completions.create(model="gpt-4o", messages=[
        {"role": "user", "content": [
            {"type": "text", "text": "What colour is it?"},
            {"type": "image_url", "image_url": {"url": png_url(size=(1024, 1024))}}]}])
    text = res.choices[0].message.content
    assert "1024x1024" in text and "red" in text and "What colour is it?" in text
    assert res.object == "chat.completion" and res.model == "gpt-4o"
    # 1024x1024 -> 768x768 -> 4 tiles -> 85 + 4*170 image tokens, plus the text
    assert res.usage.prompt_tokens > 765
    assert res.usage.total_tokens == res.usage.prompt_tokens + res.usage.completion_tokens


class Item(BaseModel):
    label: str
    confidence: float


class Description(BaseModel):
    description: str
    dominant_color: str
    width: int
    safe: bool
    items: list[Item]
    rating: Literal["g", "pg", "r"]
    note: str | None


def test_chat_structured_outputs(client):
    msgs = [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": png_url((20, 160, 50), (64, 48))}}]}]
    parsed = client.chat.completions.parse(model="gpt-4o-mini", messages=msgs,
                                           response_format=Description)
    d = parsed.choices[0].message.parsed
    assert d.width == 64 and d.dominant_color == "green" and "64x48" in d.description
    assert d.rating == "g" and len(d.items) == 1
    obj = client.chat.completions.create(model="gpt-4o-mini", messages=msgs,
                                         response_format={"type": "json_object"})
    assert json.loads(obj.choices[0].message.content)["dominant_color"] == "green"


def test_transcription_verbose_json(client):
    t = client.audio.transcriptions.create(
        file=("clip.wav", wav_bytes(12.0)), model="whisper-1", language="de",
        prompt="Acme corporation call", response_format="verbose_json",
        timestamp_granularities=["segment", "word"])
    assert t.duration == pytest.approx(12.0) and t.language == "de"
    assert len(t.segments) == 3 and all("Acme" in s.text for s in t.segments)
    assert all(0 <= s.start < s.end <= 12.0 for s in t.segments)
    assert t.words and t.words[-1].end <= 12.0
    plain = client.audio.transcriptions.create(file=("clip.wav", wav_bytes(3)),
                                               model="whisper-1", response_format="text")
    assert plain.strip() == "segment 1 of the clip."
    j = client.audio.transcriptions.create(file=("clip.wav", wav_bytes(3)), model="whisper-1")
    assert j.text == "segment 1 of the clip."


def test_transcription_rejects_corrupt_and_oversized(stub, client):
    with pytest.raises(openai.BadRequestError) as err:
        client.audio.transcriptions.create(file=("clip.mp3", os.urandom(4000)),
                                           model="whisper-1")
    assert err.value.body["param"] == "file"
    stub.configure(max_upload_bytes=10_000)
    with pytest.raises(openai.APIStatusError) as err:
        client.audio.transcriptions.create(file=("big.wav", wav_bytes(2)), model="whisper-1")
    assert err.value.status_code == 413


def test_speech_formats_and_limits(client):
    wav = client.audio.speech.create(model="tts-1", voice="alloy", input="x" * 50,
                                     response_format="wav")
    assert wav.response.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(wav.content)) as w:
        assert w.getnframes() / w.getframerate() == pytest.approx(3.0, abs=0.01)
    fast = client.audio.speech.create(model="tts-1", voice="nova", input="x" * 50,
                                      response_format="pcm", speed=2.0)
    assert len(fast.content) == pytest.approx(1.5 * 24000 * 2, abs=4)
    mp3 = client.audio.speech.create(model="gpt-4o-mini-tts", voice="coral", input="hello")
    assert mp3.response.headers["content-type"] == "audio/mpeg" and len(mp3.content) > 100
    # the stub's own transcription endpoint can read what its TTS produced
    back = client.audio.transcriptions.create(file=("s.mp3", mp3.content), model="whisper-1",
                                              response_format="verbose_json")
    assert 0.2 < back.duration < 0.5
    with pytest.raises(openai.BadRequestError):
        client.audio.speech.create(model="tts-1", voice="alloy", input="x" * 4097)
    with pytest.raises(openai.BadRequestError):
        client.audio.speech.create(model="tts-1", voice="robot", input="hi")


def test_unknown_path_is_openai_404(stub):
    status, body = http(stub, "POST", "/v1/nope", {})
    assert status == 404 and body["error"]["type"] == "invalid_request_error"


# --- faults ----------------------------------------------------------------------------------

def test_marker_faults(client):
    with pytest.raises(openai.RateLimitError) as err:
        client.moderations.create(input="hi [[fault:429:retry_after=1]]")
    assert err.value.response.headers["retry-after"] == "1"
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-4o-mini", messages=[
            {"role": "user", "content": "[[fault:500]]"}])
    with pytest.raises(openai.BadRequestError):
        client.moderations.create(input="[[fault:400]]")
    with pytest.raises(openai.AuthenticationError):
        client.audio.transcriptions.create(file=("a.wav", wav_bytes(1)), model="whisper-1",
                                           prompt="[[fault:401]]")
    with pytest.raises(json.JSONDecodeError):  # 200 with a truncated body
        client.moderations.create(input="[[fault:malformed]]")
    with pytest.raises(openai.APIConnectionError):
        client.moderations.create(input="[[fault:reset]]")
    t0 = time.perf_counter()
    client.moderations.create(input="slow [[fault:latency=300]]")
    assert time.perf_counter() - t0 >= 0.3


def test_hang_is_cut_by_client_timeout(client):
    with pytest.raises(openai.APITimeoutError):  # the client's timeout, not the stub, ended it
        client.with_options(timeout=1).moderations.create(input="[[fault:hang]]")
    assert client.moderations.create(input="still serving").results  # others unaffected


def test_script_queue_in_process_and_over_http(stub, client):
    stub.script("/moderations", [{"status": 429, "retry_after": 2}, {"status": 500}])
    with pytest.raises(openai.RateLimitError) as err:
        client.moderations.create(input="a")
    assert err.value.response.headers["retry-after"] == "2"
    with pytest.raises(openai.InternalServerError):
        client.moderations.create(input="a")
    assert client.moderations.create(input="a").results  # queue drained
    status, _ = http(stub, "POST", "/_stub/script",
                     {"path": "/chat/completions", "faults": [{"reset": True}]})
    assert status == 200
    client.moderations.create(input="other paths are not affected")
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="gpt-4o-mini",
                                       messages=[{"role": "user", "content": "hi"}])


def test_control_endpoints_config_records_reset(stub, client):
    status, cfg = http(stub, "POST", "/_stub/config", {"latency_ms": 50})
    assert status == 200 and cfg["latency_ms"] == 50
    t0 = time.perf_counter()
    client.moderations.create(input=[{"type": "image_url", "image_url": {"url": png_url()}}])
    assert time.perf_counter() - t0 >= 0.05
    _, got = http(stub, "GET", "/_stub/requests")
    rec = got["requests"][-1]
    assert rec["path"] == "/v1/moderations" and rec["headers"]["authorization"] == "Bearer x"
    assert "chars>" in rec["json"]["input"][0]["image_url"]["url"]  # media not echoed back
    client.audio.transcriptions.create(file=("a.wav", wav_bytes(1)), model="whisper-1")
    assert {"file", "model"} <= set(stub.requests[-1]["fields"])
    assert http(stub, "POST", "/_stub/reset", {})[0] == 200
    assert len(stub.requests) == 0


def test_latency_per_audio_second(stub, client):
    stub.configure(latency_per_audio_second_ms=100)
    t0 = time.perf_counter()
    client.audio.transcriptions.create(file=("a.wav", wav_bytes(4)), model="whisper-1")
    assert time.perf_counter() - t0 >= 0.4


def test_shutdown_is_not_blocked_by_a_hang():
    s = start_stub()
    c = OpenAI(base_url=s.base_url, api_key="x", max_retries=0, timeout=60)
    errors = []

    def call():
        try:
            c.moderations.create(input="[[fault:hang]]")
        except openai.APIConnectionError as e:
            errors.append(e)

    t = threading.Thread(target=call)
    t.start()
    wait_until(lambda: bool(s.requests), 10, what="the hanging request to arrive")
    s.shutdown()
    t.join(30)  # the client's own timeout is 60 s: only the shutdown can end the call this soon
    assert not t.is_alive() and errors


# --- profiles --------------------------------------------------------------------------------

def test_profiles(stub, client):
    stub.configure(profile="no-moderations")
    with pytest.raises(openai.NotFoundError):
        client.moderations.create(input="hi")
    assert "omni-moderation-latest" not in {m.id for m in client.models.list()}
    stub.configure(profile="openai")
    guard = client.chat.completions.create(
        model="llama-guard-3-8b", messages=[{"role": "user", "content": "hate-test"}],
        extra_headers={"X-Stub-Profile": "llamaguard"})
    assert guard.choices[0].message.content == "unsafe\nS10"
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="deepseek-chat", messages=[
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": png_url()}}]}],
            extra_headers={"X-Stub-Profile": "deepseek"})
    prose = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "describe"}],
        response_format={"type": "json_object"}, extra_headers={"X-Stub-Profile": "prose"})
    with pytest.raises(ValueError):
        json.loads(prose.choices[0].message.content)


# --- transport -------------------------------------------------------------------------------

def test_keepalive_round_trip_avoids_delayed_ack(stub):
    """One keep-alive connection serves every call and Nagle is off on it, so no call waits for
    a delayed ACK (the round-trip time itself is a bench/ figure, not a test)."""
    with stub._conns_lock:
        before = set(stub._conns)
    c = OpenAI(base_url=stub.base_url, api_key="x", max_retries=0, timeout=10)
    for _ in range(20):
        assert c.moderations.create(input="hello there").results
    with stub._conns_lock:
        ours = stub._conns - before
    assert len(ours) == 1, ours
    (sock,) = ours
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_cli_serves_until_sigterm():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with subprocess.Popen([sys.executable, "-m", "mmservice.devstub", "--port", "0",
                           "--profile", "no-moderations"], stdout=subprocess.PIPE, text=True,
                          env=env, cwd=ROOT) as proc:
        try:
            base = proc.stdout.readline().strip()
            assert base.startswith("http://127.0.0.1:") and base.endswith("/v1")
            c = OpenAI(base_url=base, api_key="x", max_retries=0, timeout=5)
            assert "whisper-1" in {m.id for m in c.models.list()}
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=5) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
