"""The offline provider through the whole pipeline: no API key, no upstream, real local engines
(profanity model + term lists, NudeNet, RapidOCR, Whisper tiny.en, espeak-ng) in a real worker.

Runs on its own stack (worker + API on a fresh Redis database) so the session worker (which talks
to the stub) cannot take these jobs.
"""
from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw, ImageFont

from mediagen import image


@pytest.fixture(scope="module")
def offline(module_stack, tmp_root):
    s = module_stack({"BLOB_DIR": str(tmp_root / "offline-blobs")}, drop=("OPENAI_",),
                     concurrency=4, name="offline")
    return s.client


def test_providers_report_local(offline):
    data = offline.get("/v1/providers").json()["data"]
    assert {c["provider"] for c in data.values()} == {"local"}
    assert "whisper" in data["transcription"]["model"]


@pytest.mark.parametrize("text,flagged", [
    ("shut up you worthless idiot, I will hurt you", True),
    ("thanks for sharing this lovely recipe", False),
    ("kill the process and restart the server", False),
])
def test_local_text_moderation(offline, text, flagged):
    job = offline.run({"text": text}, timeout=120)
    mod = job["results"]["moderation"]
    assert job["status"] == "succeeded", job
    assert mod["flagged"] is flagged, mod
    assert mod["provider"] == "local"
    assert set(mod["category_scores"]) == set(mod["assessed_categories"])
    assert "sexual/minors" not in mod["assessed_categories"]  # not judged: absent, not 0


def _banner() -> bytes:
    img = Image.new("RGB", (640, 200), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    draw.text((20, 50), "HELLO 2026", fill=(0, 0, 0), font=ImageFont.load_default(size=72))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def test_local_image_moderation_and_ocr_description(offline):
    r = offline.submit_file("banner.png", _banner(), "image/png", {"tasks": "moderate,describe"})
    job = offline.poll(r.json()["id"], timeout=120)
    assert job["status"] == "succeeded", job
    mod = job["results"]["moderation"]
    assert mod["assessed_categories"] == ["sexual"] and mod["flagged"] is False
    desc = job["results"]["description"]
    ocr_text = desc["data"]["ocr_text"].upper()
    assert desc["data"]["text_lines"][0]["box"]
    assert "HELLO" in ocr_text and "2026" in ocr_text
    assert desc["data"]["width"] == desc["image"]["sent_width"]


def test_local_free_form_question_is_refused_clearly(offline):
    """Refused at submission (422), naming the setting, not accepted and failed later."""
    r = offline.submit_file("x.png", image("PNG", (64, 64)), "image/png",
                            {"tasks": "describe", "options": '{"prompt": "Who is this?"}'})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "capability_unavailable" and error["field"] == "options.prompt"
    assert "vision model" in error["message"].lower() and "MMS_VISION_BASE_URL" in error["message"]


def test_local_speech_round_trip(offline):
    said = "The quick brown fox jumps over the lazy dog."
    job = offline.run({"text": said, "tasks": ["speak"], "options": {"format": "wav"}},
                      timeout=120)
    assert job["status"] == "succeeded", job
    audio = offline.get(job["results"]["speech"]["url"])
    assert audio.status_code == 200 and audio.content[:4] == b"RIFF"
    r = offline.submit_file("speech.wav", audio.content, "audio/wav")
    heard = offline.poll(r.json()["id"], timeout=180)
    assert heard["status"] == "succeeded", heard
    tr = heard["results"]["transcription"]
    words = set(tr["text"].lower().replace(".", "").replace(",", "").split())
    assert len(words & {"quick", "brown", "fox", "jumps", "lazy", "dog"}) >= 4, tr["text"]
    assert tr["segments"] and tr["segments"][-1]["end"] <= tr["duration_s"] + 0.5
    assert heard["results"]["moderation"]["inputs"] == ["transcript"]
    assert heard["results"]["moderation"]["flagged"] is False
