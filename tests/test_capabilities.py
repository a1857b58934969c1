"""The content-level capabilities, called directly: content in, result out, with no Redis, no
Celery and no job. The providers are the real offline engines; the policy is a plain object.

This is the seam the OpenAI-compatible facade and the video path call, so these tests pin what
a caller gets without the job pipeline around it.
"""
from __future__ import annotations

import pytest

import mediagen
from mmservice import config
from mmservice.capabilities.describe import describe
from mmservice.capabilities.moderate import Content, moderate
from mmservice.capabilities.speak import speak
from mmservice.capabilities.transcribe import formatted, transcribe
from mmservice.moderation.policy import ThresholdPolicy
from mmservice.providers.registry import Registry

pytestmark = pytest.mark.timeout(180)

NO_REDIS = "redis://127.0.0.1:1/0"  # nothing listens there: any Redis use would fail


@pytest.fixture(scope="module")
def cfg() -> dict:
    return config.load({"REDIS_URL": NO_REDIS, **{f"{c.upper()}_PROVIDER": "local"
                                                  for c in config.CAPS}}, environ={})


@pytest.fixture(scope="module")
def providers(cfg) -> Registry:
    return Registry(cfg)


def test_moderate_text_and_image_under_a_policy(cfg, providers):
    policy = ThresholdPolicy(cfg, {"harassment": {"review": 0.1, "block": 0.2}})
    out = moderate(Content(text="you are a worthless idiot"), provider=providers.get("moderation"),
                   policy=policy, max_chars=10_000)
    assert out["inputs"] == ["text"] and "harassment" in out["assessed_categories"]
    assert out["verdict"] == "block" and out["flagged"] is True
    calm = moderate(Content(text="thanks, see you tomorrow"),
                    provider=providers.get("moderation"), policy=ThresholdPolicy(cfg, None),
                    max_chars=10_000)
    assert calm["verdict"] == "allow" and calm["flagged"] is False
    img = moderate(Content(image=mediagen.image(size=(96, 64)), image_mime="image/png"),
                   provider=providers.get("moderation"), policy=ThresholdPolicy(cfg, None),
                   max_chars=10_000)
    assert img["inputs"] == ["image"] and img["verdict"] == "allow"


def test_moderate_long_text_is_judged_in_pieces(cfg, providers):
    text = ("A calm sentence about the weather. " * 40) + "I will kill you."
    out = moderate(Content(text=text), provider=providers.get("moderation"),
                   policy=ThresholdPolicy(cfg, None), max_chars=300)
    assert out["pieces"] > 1 and out["category_scores"]["violence"] > 0.5


def test_empty_transcript_says_nothing_was_judged(cfg, providers):
    out = moderate(Content(transcript="  "), provider=providers.get("moderation"),
                   policy=ThresholdPolicy(cfg, None), max_chars=100)
    assert out["inputs"] == ["transcript"] and out["verdict"] == "allow" and out["note"]


def test_speak_then_transcribe_round_trip(providers):
    audio, meta = speak("Hello world. This is a test.", provider=providers.get("speech"),
                        max_piece_chars=4096, format="wav")
    assert audio[:4] == b"RIFF" and meta["bytes"] == len(audio) and meta["duration_s"] > 0.5
    raw = transcribe(audio, "speech.wav", provider=providers.get("transcription"))
    assert "hello" in raw["text"].lower()
    out = formatted(raw, "srt", meta["duration_s"])
    assert out["srt"].startswith("1\n") and out["usage"]["audio_seconds"] == round(
        meta["duration_s"], 3)


def test_speak_long_text_joins_pieces(providers):
    audio, meta = speak("One sentence here. " * 12, provider=providers.get("speech"),
                        max_piece_chars=80, format="mp3")
    assert meta["pieces"] > 1 and meta["content_type"] == "audio/mpeg" and len(audio) > 1000


def test_describe_an_image(providers):
    out = describe(mediagen.image(size=(120, 80)), provider=providers.get("vision"),
                   max_pixels=50_000_000)
    assert out["image"]["original_width"] == 120 and out["usage"]["images"] == 1
    assert out["provider"] == providers.get("vision").name and out["text"]
