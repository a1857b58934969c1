"""The offline provider through the whole pipeline: no API key, no upstream, real local engines
(text heads over multilingual-e5-small + term lists, NudeNet, RapidOCR, Whisper tiny.en,
espeak-ng) in a real worker.

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
    assert "violence/graphic" not in mod["assessed_categories"]  # not judged: absent, not 0
    assert mod["language"]["code"] == "en" and "unassessed_reason" not in mod


def _banner(text: str = "HELLO 2026", size: int = 72, width: int = 640) -> bytes:
    img = Image.new("RGB", (width, 200), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    draw.text((20, 50), text, fill=(0, 0, 0), font=ImageFont.load_default(size=size))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def test_local_image_moderation_and_ocr_description(offline):
    r = offline.submit_file("banner.png", _banner(), "image/png", {"tasks": "moderate,describe"})
    job = offline.poll(r.json()["id"], timeout=120)
    assert job["status"] == "succeeded", job
    mod = job["results"]["moderation"]
    # The banner's text was read and judged with the image (harmless here).
    assert mod["inputs"] == ["image", "ocr_text"] and "HELLO" in mod["ocr_text"].upper()
    assert "sexual" in mod["assessed_categories"] and "harassment" in mod["assessed_categories"]
    # issue 17 point 4: the gore model's category is assessed (a plain banner is far below it)
    assert "violence/graphic" in mod["assessed_categories"]
    assert mod["category_scores"]["violence/graphic"] < 0.2
    assert mod["flagged"] is False
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
    # Whisper tiny.en hears this sentence exactly in every voice at speeds 0.8 and 1.0 (checked
    # on two CPUs); the pangram it replaced came back as "quick roundfark stump ... lazy nog"
    # on one of them (the int8 kernels differ by CPU), so the test judged the machine.
    said = "Thank you for your order. Your package will arrive on Monday."
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
    assert len(words & {"thank", "order", "package", "arrive", "monday"}) >= 4, tr["text"]
    assert tr["segments"] and tr["segments"][-1]["end"] <= tr["duration_s"] + 0.5
    assert heard["results"]["moderation"]["inputs"] == ["transcript"]
    mod = heard["results"]["moderation"]
    assert mod["flagged"] is False, (tr["text"], mod.get("details"))


def test_threat_written_in_an_image_is_flagged(offline):
    png = _banner("I WILL KILL YOU, IDIOT", size=48, width=900)
    r = offline.submit_file("threat.png", png, "image/png", {"tasks": "moderate"})
    job = offline.poll(r.json()["id"], timeout=120)
    assert job["status"] == "succeeded", job
    mod = job["results"]["moderation"]
    assert "ocr_text" in mod["inputs"] and "KILL" in mod["ocr_text"].upper()
    assert mod["flagged"] is True and mod["verdict"] in ("review", "block"), mod
    assert mod["categories"]["harassment/threatening"] or mod["categories"]["violence"]
    assert mod["scores_by_kind"]["image"]["harassment"] >= 0.5


@pytest.mark.parametrize("text", ["Te voy a matar, idiota", "Я тебя убью, урод"])
def test_threats_in_other_languages_are_flagged(offline, text):
    mod = offline.run({"text": text}, timeout=120)["results"]["moderation"]
    assert mod["flagged"] is True, mod
    assert mod["language"]["code"] in ("es", "ru")


def test_a_language_no_engine_reads_goes_to_review_not_allow(offline):
    job = offline.run({"text": "お前を殺してやる、絶対に許さない"}, timeout=120)
    mod = job["results"]["moderation"]
    assert mod["unassessed_reason"] == "language"
    assert mod["language"]["code"] == "ja" and mod["language"]["confidence"] >= 0.9
    assert mod["verdict"] == "review" and mod["flagged"] is True
    assert mod["assessed_categories"] == [] and mod["category_scores"] == {}
