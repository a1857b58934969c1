"""Audio and vision through the job pipeline: transcription (with chunking), audio moderation,
vision describe, TTS artifacts, multi-task jobs and bad media. Real worker, stub over HTTP."""
from __future__ import annotations

import io

import pytest
from PIL import Image

from mediagen import bursts_wav, empty_wav, image, wav


def submit_audio(client, data: bytes, fields: dict | None = None, name="clip.wav",
                 mime="audio/wav"):
    r = client.submit_file(name, data, mime, fields)
    assert r.status_code == 202, r.text
    return r.json()


def test_audio_defaults_to_transcribe_then_moderate(client, stub):
    job = submit_audio(client, wav(6.0))
    assert job["tasks"] == ["transcribe", "moderate"]
    assert job["input"]["kind"] == "audio" and abs(job["input"]["duration_s"] - 6.0) < 0.05
    done = client.poll(job["id"])
    assert done["status"] == "succeeded", done
    tr = done["results"]["transcription"]
    assert tr["text"] and tr["language"] and tr["model"] == "whisper-1"
    assert abs(tr["duration_s"] - 6.0) < 0.05
    assert tr["segments"] and all(s["end"] <= 6.01 for s in tr["segments"])
    mod = done["results"]["moderation"]
    assert mod["inputs"] == ["transcript"]
    sent = stub.requests.matching("/audio/transcriptions")[0]
    assert sent["files"]["file"]["filename"].endswith(".wav")  # the client needs the extension
    assert sent["form"]["response_format"] == "verbose_json"


def test_transcript_options_pass_through_and_formats(client, stub):
    job = submit_audio(client, wav(3.0), {"tasks": "transcribe", "options":
                                          '{"language": "de", "prompt": "Glossary", '
                                          '"response_format": "srt"}'})
    done = client.poll(job["id"])
    tr = done["results"]["transcription"]
    assert tr["language"] in ("de", "german")
    assert tr["srt"].startswith("1\n00:00:00,000 --> ")
    form = stub.requests.matching("/audio/transcriptions")[0]["form"]
    assert form["language"] == "de" and form["prompt"] == "Glossary"
    vtt = client.poll(submit_audio(client, wav(2.0), {
        "tasks": "transcribe", "options": '{"response_format": "vtt"}'})["id"])
    assert vtt["results"]["transcription"]["vtt"].startswith("WEBVTT")
    plain = client.poll(submit_audio(client, wav(2.0), {
        "tasks": "transcribe", "options": '{"response_format": "json"}'})["id"])
    assert "segments" not in plain["results"]["transcription"]


def test_long_audio_is_chunked_in_parallel_and_stitched(client, stub):
    data = bursts_wav(95.0)  # 30 s chunk limit in the test config -> 4 chunks
    job = submit_audio(client, data, {"tasks": "transcribe"}, name="long.wav")
    done = client.poll(job["id"], timeout=90)
    assert done["status"] == "succeeded", done
    tr = done["results"]["transcription"]
    chunks = tr["chunks"]
    assert len(chunks) >= 4
    assert chunks[0]["start_s"] == 0 and abs(chunks[-1]["end_s"] - 95.0) < 0.05
    calls = stub.requests.matching("/audio/transcriptions")
    assert len(calls) == len(chunks)
    assert sorted(c["files"]["file"]["filename"] for c in calls) == \
        [f"chunk-{i:04d}.wav" for i in range(len(chunks))]
    segs = tr["segments"]
    starts = [s["start"] for s in segs]
    assert starts == sorted(starts), "segments are not on one timeline"
    assert segs[-1]["end"] > 90 and segs[-1]["end"] <= 95.01
    # Each chunk's segments were shifted by its start: some segment begins in every chunk.
    for c in chunks:
        assert any(c["start_s"] - 0.01 <= s["start"] < c["end_s"] for s in segs), c
    # Chunk cuts landed in the silences between bursts (4 s tone, 1 s silence).
    for c in chunks[1:]:
        assert 4.0 <= c["start_s"] % 5.0 <= 5.0, c
    assert abs(tr["duration_s"] - 95.0) < 0.05


def test_speak_stores_audio_and_serves_it(client):
    job = client.run({"text": "Welcome to the service.", "tasks": ["speak"],
                      "options": {"voice": "nova", "format": "wav", "speed": 1.5}})
    assert job["status"] == "succeeded", job
    sp = job["results"]["speech"]
    assert sp["format"] == "wav" and sp["voice"] == "nova" and sp["duration_s"] > 0
    r = client.get(sp["url"])
    assert r.status_code == 200 and r.headers["Content-Type"] == "audio/wav"
    assert int(r.headers["Content-Length"]) == len(r.content) == sp["bytes"]
    assert r.content[:4] == b"RIFF"


@pytest.mark.parametrize("fmt,ctype,magic", [("mp3", "audio/mpeg", None),
                                             ("flac", "audio/flac", b"fLaC"),
                                             ("opus", "audio/ogg", b"OggS")])
def test_speak_formats(client, fmt, ctype, magic):
    job = client.run({"text": "Format check.", "tasks": ["speak"], "options": {"format": fmt}})
    r = client.get(f"/v1/jobs/{job['id']}/speech")
    assert r.status_code == 200 and r.headers["Content-Type"] == ctype
    if magic:
        assert r.content.startswith(magic)


def test_long_text_is_split_at_sentences_and_joined(client, stub):
    sentence = "This is a sentence that will be repeated to build a long text. "
    text = sentence * 80  # ~5,000 characters -> two pieces
    job = client.run({"text": text, "tasks": ["speak"], "options": {"format": "mp3"}},
                     timeout=60)
    sp = job["results"]["speech"]
    assert job["status"] == "succeeded", job
    assert sp["pieces"] == 2
    calls = stub.requests.matching("/audio/speech")
    assert len(calls) == 2 and all(len(c["json"]["input"]) <= 4096 for c in calls)
    assert all(c["json"]["input"].rstrip().endswith(".") for c in calls)
    assert sp["duration_s"] > 200  # both pieces are in the joined file


def test_describe_image(client, stub):
    r = client.submit_file("scene.png", image("PNG", (800, 600), (30, 120, 200)), "image/png",
                           {"tasks": "describe"})
    job = client.poll(r.json()["id"])
    assert job["status"] == "succeeded", job
    d = job["results"]["description"]
    assert d["text"] and d["model"] == "gpt-4o-mini"
    assert d["image"]["sent_width"] <= 2048 and d["image_tokens_estimate"] > 0
    sent = stub.requests.matching("/chat/completions")[0]["json"]
    parts = sent["messages"][0]["content"]
    assert parts[1]["image_url"]["detail"] == "high"


def test_describe_prompt_json_schema_and_low_detail(client, stub):
    schema = {"type": "object", "properties": {"colour": {"type": "string"},
                                               "people": {"type": "integer"}},
              "required": ["colour", "people"]}
    r = client.submit_file("a.jpg", image("JPEG", (4000, 3000), (200, 200, 20)), "image/jpeg",
                           {"tasks": "describe", "options":
                            f'{{"prompt": "What colour dominates?", "detail": "low", '
                            f'"json_schema": {__import__("json").dumps(schema)}}}'})
    job = client.poll(r.json()["id"])
    d = job["results"]["description"]
    assert job["status"] == "succeeded", job
    assert set(d["data"]) >= {"colour", "people"}
    assert (d["image"]["sent_width"], d["image"]["sent_height"]) == (512, 384)
    assert d["image_tokens_estimate"] == 85
    sent = stub.requests.matching("/chat/completions")[0]["json"]
    assert sent["messages"][0]["content"][0]["text"] == "What colour dominates?"
    assert sent["response_format"]["type"] == "json_schema"


def test_one_failed_task_keeps_the_others(client):
    r = client.submit_file("x.png", image("PNG", (64, 64), (220, 20, 20)), "image/png",
                           {"tasks": "moderate,describe",
                            "options": '{"prompt": "fail please [[fault:400]]"}'})
    job = client.poll(r.json()["id"])
    assert job["status"] == "failed"
    assert job["task_status"] == {"moderate": "succeeded", "describe": "failed"}
    assert job["error"]["failed_tasks"] == ["describe"]
    assert job["error"]["code"] == "upstream_rejected_input"
    assert job["results"]["moderation"]["categories"]["sexual"] is True


def test_bad_audio_is_refused_at_submission(client):
    r = client.submit_file("noise.mp3", b"ID3" + b"\x00" * 7 + bytes(range(256)) * 16,
                           "audio/mpeg")
    assert r.status_code == 422 and r.json()["error"]["code"] == "undecodable_audio"
    r = client.submit_file("empty.wav", empty_wav(), "audio/wav")
    assert r.status_code == 422 and r.json()["error"]["code"] == "empty_audio"


def test_audio_limits_and_tts_limits(base_cfg, tmp_path):
    from mmservice import create_app
    from mmservice.testing.procs import keyed_client

    app = create_app({**base_cfg, "BLOB_DIR": str(tmp_path), "MAX_AUDIO_DURATION_S": 2,
                      "MAX_TTS_CHARS": 50})
    c = keyed_client(app)
    r = c.post("/v1/jobs", data={"file": (io.BytesIO(wav(3.0)), "a.wav")})
    assert r.status_code == 422 and r.json["error"]["code"] == "audio_too_long"
    r = c.post("/v1/jobs", json={"text": "x" * 51, "tasks": ["speak"]})
    assert r.status_code == 422 and r.json["error"]["code"] == "tts_text_too_long"
    r = c.post("/v1/jobs", json={"text": "hi", "tasks": ["speak"], "options": {"voice": "bob"}})
    assert r.status_code == 422 and r.json["error"]["field"] == "options.voice"
    r = c.post("/v1/jobs", json={"text": "hi", "tasks": ["speak"], "options": {"format": "mid"}})
    assert r.status_code == 422 and r.json["error"]["field"] == "options.format"
    r = c.post("/v1/jobs", json={"text": "hi", "tasks": ["speak"], "options": {"speed": 9}})
    assert r.status_code == 422 and r.json["error"]["field"] == "options.speed"
    r = c.post("/v1/jobs", data={"file": (io.BytesIO(wav(1.0)), "a.wav"), "tasks": "describe"})
    assert r.status_code == 422 and r.json["error"]["code"] == "task_not_applicable"


def test_exif_rotated_photo_is_sent_upright(client, stub):
    img = Image.new("RGB", (400, 200), (10, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    r = client.submit_file("r.jpg", buf.getvalue(), "image/jpeg", {"tasks": "describe"})
    d = client.poll(r.json()["id"])["results"]["description"]
    assert (d["image"]["original_width"], d["image"]["original_height"]) == (200, 400)


def test_multi_picture_jpeg_from_a_phone_is_a_jpeg(client, stub):
    """An MPO (a JPEG with extra pictures after the first, as phone cameras write) used to be a
    500 (`KeyError: 'MPO'`); it is a JPEG, judged and described on its first picture."""
    first = Image.new("RGB", (640, 480), (200, 30, 30))
    buf = io.BytesIO()
    noise = Image.effect_noise((640, 480), 120).convert("RGB")  # a big second picture
    first.save(buf, "MPO", save_all=True, append_images=[noise])
    assert Image.open(io.BytesIO(buf.getvalue())).format == "MPO"
    r = client.submit_file("phone.jpg", buf.getvalue(), "image/jpeg",
                           {"tasks": "moderate,describe"})
    assert r.status_code == 202, r.text
    assert r.json()["input"]["mime"] == "image/jpeg"
    job = client.poll(r.json()["id"])
    assert job["status"] == "succeeded", job
    assert job["results"]["description"]["image"]["sent_width"] == 640
    # What went upstream is the first (flat red) picture alone, not the whole MPO with its big
    # second picture (the stub records a data URL's length, not its bytes).
    url = stub.requests.matching("/moderations")[0]["json"]["input"][0]["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,"), url
    sent_chars = int(url.split(",<", 1)[1].split(" ")[0])
    assert sent_chars * 3 / 4 < len(buf.getvalue()) / 4, (sent_chars, len(buf.getvalue()))
