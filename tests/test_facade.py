"""The OpenAI-compatible facade with the openai provider (the stub as upstream): the official
`openai` client pointed at the service parses every answer into its typed models, and raw
`httpx` requests written from OpenAI's API reference get OpenAI's fields, statuses and errors.

Runs on its own stack so the stub settings and the rate-limited key below touch nobody else.
"""
from __future__ import annotations

import base64
import io
import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

from mediagen import image, wav
from mmservice import audit
from mmservice.accounting import read_usage, today
from mmservice.facade.audit_writer import writer_for
from mmservice.testing.stack import make_key


@pytest.fixture(scope="module")
def s(module_stack):
    return module_stack(name="facade")


@pytest.fixture()
def oa(s):
    return openai.OpenAI(base_url=s.api_url + "/v1", api_key=s.api.key, max_retries=0,
                         timeout=30)


@pytest.fixture()
def raw(s):
    with httpx.Client(base_url=s.api_url, timeout=30,
                      headers={"Authorization": f"Bearer {s.api.key}"}) as c:
        yield c


@pytest.fixture()
def stub_(stub):
    stub.reset()
    stub.configure(stream_chunk_delay_ms=0)
    yield stub
    stub.configure(stream_chunk_delay_ms=0)


def _png_url(color=(200, 30, 30)) -> str:
    return "data:image/png;base64," + base64.b64encode(image(color=color)).decode()


def test_moderations_text_array_and_image_through_the_official_client(oa, stub_):
    r = oa.moderations.create(model="omni-moderation-latest",
                              input="I will hurt you, you worthless idiot")
    assert r.results[0].flagged is True
    assert r.results[0].categories.violence is True or r.results[0].categories.harassment
    assert r.results[0].category_scores.harassment_threatening > 0  # typed, aliased fields
    raw_resp = oa.moderations.with_raw_response.create(model="omni-moderation-latest",
                                                       input=["hello there", "you idiot"])
    parsed = raw_resp.parse()
    assert len(parsed.results) == 2 and parsed.results[0].flagged is False
    assert raw_resp.headers["x-mmservice-verdict"] in ("review", "block")
    assert raw_resp.headers["x-mmservice-policy"] == "builtin@0"
    img = oa.moderations.create(model="omni-moderation-latest", input=[
        {"type": "text", "text": "a picture"},
        {"type": "image_url", "image_url": {"url": _png_url()}}])
    assert len(img.results) == 1
    applied = img.results[0].category_applied_input_types.model_dump()
    assert "image" in applied["violence"] and "text" in applied["violence"]
    assert applied["hate"] == ["text"]  # text-only on omni: the image was not judged for it
    sent = [r["json"]["input"] for r in stub_.requests.matching("/moderations")]
    assert any(isinstance(p, dict) and p.get("type") == "image_url"
               for inp in sent if isinstance(inp, list) for p in inp)  # the image went upstream


def test_unassessed_categories_are_marked_not_faked(raw, stub_):
    r = raw.post("/v1/moderations", json={"input": [
        {"type": "image_url", "image_url": {"url": _png_url()}}]})
    assert r.status_code == 200, r.text
    res = r.json()["results"][0]
    assert res["category_applied_input_types"]["hate"] == []
    assert "hate" not in res["mmservice"]["assessed_categories"]
    assert set(res["category_scores"]) == set(res["categories"]) and len(res["categories"]) == 13


def test_cache_hit_is_marked_and_calls_no_upstream(raw, stub_):
    body = {"input": f"a unique sentence for the cache {time.time()}"}
    first = raw.post("/v1/moderations", json=body).json()
    n = len(stub_.requests.matching("/moderations"))
    second = raw.post("/v1/moderations", json=body).json()
    assert first["results"][0]["mmservice"]["cached"] is False
    assert second["results"][0]["mmservice"]["cached"] is True
    assert len(stub_.requests.matching("/moderations")) == n
    assert second["results"][0]["category_scores"] == first["results"][0]["category_scores"]


def test_policy_and_lists_apply_with_verdict_headers(s, raw, stub_):
    c = s.client
    r = c.s.put(c.url("/v1/lists/banned"), json={"kind": "terms", "action": "block",
                                                 "items": ["zorblax"]}, timeout=30)
    assert r.status_code == 200, r.text
    r = raw.post("/v1/moderations", json={"input": "a friendly zorblax greeting"})
    assert r.status_code == 200, r.text
    res = r.json()["results"][0]
    assert r.headers["x-mmservice-verdict"] == "block" and res["flagged"] is True
    assert res["mmservice"]["decided_by"] == "list"
    assert res["mmservice"]["matched_lists"][0]["list"] == "banned"
    p = c.s.put(c.url("/v1/policies/strict"), json={"thresholds": {"harassment": {"review": 0.01,
                                                                          "block": 0.02}}})
    assert p.status_code in (200, 201), p.text
    r = raw.post("/v1/moderations", json={"input": "you idiot"},
                 headers={"x-mmservice-policy": "strict"})
    assert r.headers["x-mmservice-policy"] == "strict@1"
    assert r.headers["x-mmservice-verdict"] == "block"
    bad = raw.post("/v1/moderations", json={"input": "x"}, headers={"x-mmservice-policy": "nope"})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "policy_not_found"


def test_errors_are_openais_shape_and_the_client_raises_typed(oa, raw, s):
    for body, param in (({}, "input"), ({"input": 5}, "input"),
                        ({"input": "x", "colour": 1}, "colour"),
                        ({"input": [{"type": "image_url", "image_url": {"url": "ftp://x"}}]},
                         "input[0].image_url.url")):
        r = raw.post("/v1/moderations", json=body)
        assert r.status_code == 400, (body, r.text)
        err = r.json()["error"]
        assert set(err) == {"message", "type", "param", "code"}
        assert err["type"] == "invalid_request_error" and err["param"] == param
    r = raw.post("/v1/moderations", content=b"{not json", headers={"Content-Type":
                                                                     "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    with pytest.raises(openai.BadRequestError) as e:
        oa.moderations.create(input=[])
    assert e.value.code == "invalid_type"
    nokey = httpx.post(s.api_url + "/v1/moderations", json={"input": "x"})
    assert nokey.status_code == 401
    assert set(nokey.json()["error"]) == {"message", "type", "param", "code"}
    doc = httpx.get(s.api_url + "/openapi.json").json()  # the document says this shape too
    ref = doc["paths"]["/v1/moderations"]["post"]["responses"]["401"]["content"][
        "application/json"]["schema"]["$ref"]
    props = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"]["error"]
    body = doc["components"]["schemas"][props["$ref"].rsplit("/", 1)[1]]
    assert set(body["properties"]) == {"message", "type", "param", "code"}
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=s.api_url + "/v1", api_key="mms_nope", max_retries=0) \
            .moderations.create(input="x")


def test_upstream_errors_map_to_openai_status_and_type(raw, stub_):
    stub_.script("/moderations", [{"status": 400}])
    r = raw.post("/v1/moderations", json={"input": "fine"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    stub_.script("/moderations", [{"status": 429, "retry_after": 7}] * 10)
    r = raw.post("/v1/moderations", json={"input": "rate limited upstream " + str(time.time())})
    assert r.status_code in (429, 503), r.text
    assert r.headers.get("Retry-After")
    stub_.reset()
    stub_.script("/moderations", [{"status": 401}])
    r = raw.post("/v1/moderations", json={"input": "bad upstream key " + str(time.time())})
    assert r.status_code == 502 and r.json()["error"]["type"] == "server_error"
    assert "sk-test" not in r.text


def test_chat_completion_and_stream_chunk_by_chunk(oa, stub_):
    r = oa.chat.completions.create(model="gpt-4o-mini",
                                   messages=[{"role": "user", "content": "Say hello"}])
    assert r.choices[0].message.content and r.usage.total_tokens > 0
    img = oa.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": [
        {"type": "text", "text": "what colour?"},
        {"type": "image_url", "image_url": {"url": _png_url()}}]}])
    assert "64x48" in img.choices[0].message.content
    stub_.configure(stream_chunk_delay_ms=100)
    t0 = time.monotonic()
    arrivals, text = [], []
    for chunk in oa.chat.completions.create(model="gpt-4o-mini", stream=True,
                                            messages=[{"role": "user", "content": "Say hi"}]):
        arrivals.append(time.monotonic() - t0)
        if chunk.choices and chunk.choices[0].delta.content:
            text.append(chunk.choices[0].delta.content)
    assert "Say hi" in "".join(text)
    assert len(arrivals) > 5
    assert arrivals[1] < arrivals[-1] - 0.3  # chunks arrived as sent, not all at the end


def test_a_client_that_hangs_up_closes_the_upstream_stream(s, stub_):
    stub_.configure(stream_chunk_delay_ms=300)
    body = {"model": "gpt-4o-mini", "stream": True, "messages": [
        {"role": "user", "content": "one two three four five six seven eight nine ten"}]}
    with httpx.Client(timeout=30) as c:
        with c.stream("POST", s.api_url + "/v1/chat/completions", json=body,
                      headers={"Authorization": f"Bearer {s.api.key}"}) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            next(r.iter_raw())
    deadline = time.monotonic() + 10
    rec: dict = {}
    while time.monotonic() < deadline:
        rec = stub_.requests.matching("/chat/completions")[-1]
        if rec.get("stream"):
            break
        time.sleep(0.1)
    assert rec.get("stream") == "client_gone", rec
    assert rec["chunks_sent"] < 14


def test_speech_streams_and_transcription_formats(oa, raw, stub_):
    speech = oa.audio.speech.create(model="gpt-4o-mini-tts", voice="alloy",
                                    input="The quick brown fox.", response_format="wav")
    audio = speech.read()
    assert audio[:4] == b"RIFF" and len(audio) > 1000
    f = io.BytesIO(audio)
    f.name = "s.wav"
    t = oa.audio.transcriptions.create(model="whisper-1", file=f)
    assert t.text.strip()
    f.seek(0)
    v = oa.audio.transcriptions.create(model="whisper-1", file=f, response_format="verbose_json")
    assert v.duration > 0 and v.segments and v.segments[0].end > 0
    for fmt, probe in (("text", None), ("srt", "-->"), ("vtt", "WEBVTT")):
        r = raw.post("/v1/audio/transcriptions", files={"file": ("a.wav", wav(2.0), "audio/wav")},
                     data={"model": "whisper-1", "response_format": fmt})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        assert probe is None or probe in r.text
    f.seek(0)
    tr = oa.audio.translations.create(model="whisper-1", file=f)
    assert tr.text.strip()
    assert stub_.requests.matching("/audio/translations")
    bad = raw.post("/v1/audio/transcriptions", files={"file": ("a.txt", b"hello", "text/plain")},
                   data={"model": "whisper-1"})
    assert bad.status_code in (400, 415) and bad.json()["error"]["param"] == "file"
    r = raw.post("/v1/audio/speech", json={"model": "tts-1", "voice": "alloy", "input": "x",
                                           "response_format": "ogg"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "response_format"


def test_long_audio_is_chunked_as_in_the_job_path(raw, stub_):
    from mediagen import bursts_wav

    r = raw.post("/v1/audio/transcriptions",
                 files={"file": ("long.wav", bursts_wav(70.0), "audio/wav")},
                 data={"model": "whisper-1", "response_format": "verbose_json"})
    assert r.status_code == 200, r.text
    assert len(stub_.requests.matching("/audio/transcriptions")) >= 3  # 30 s chunks (base_cfg)
    assert r.json()["duration"] == pytest.approx(70.0, abs=0.5)


def test_models_lists_what_the_providers_serve(oa):
    ids = {m.id for m in oa.models.list()}
    assert {"omni-moderation-latest", "whisper-1"} <= ids
    assert oa.models.retrieve("whisper-1").id == "whisper-1"
    with pytest.raises(openai.NotFoundError):
        oa.models.retrieve("nope")


def test_calls_are_audited_counted_and_rate_limited(s, raw, stub_):
    svc = s.services
    writer = writer_for(svc)
    writer.drain()
    before = audit.read(svc.redis, svc.store.keys, "default", types=("facade",), limit=10000)
    raw.post("/v1/moderations", json={"input": f"count me {time.time()}"})
    with ThreadPoolExecutor(8) as pool:  # concurrent calls: one chain, no entry lost
        list(pool.map(lambda i: raw.post("/v1/moderations", json={"input": f"many {i}"}),
                      range(20)))
    assert writer.drain()
    after = audit.read(svc.redis, svc.store.keys, "default", types=("facade",), limit=10000)
    assert len(after) == len(before) + 21
    after = after[:len(before) + 1]
    ev = after[-1]["event"]
    assert ev["type"] == "facade.create_moderation" and ev["status"] == 200
    assert ev["verdict"] in ("allow", "review", "block") and "count me" not in json.dumps(ev)
    assert audit.verify(svc.redis, svc.store.keys, "default") == (True, None)
    usage = read_usage(svc.redis, "default", today(), svc.store.keys)
    rows = {(r["capability"], r["model"]) for r in usage["data"]}
    assert ("moderation", "omni-moderation-latest") in rows and ("vision", "gpt-4o-mini") in rows
    assert usage["totals"]["audio_seconds"] > 0
    # A tenant key with a small rate: OpenAI's 429 with Retry-After.
    key = make_key(s.cfg["REDIS_URL"], tenant="limited")
    svc.auth.settings.update("limited", {"RATE_LIMIT": "2/minute"})
    c = openai.OpenAI(base_url=s.api_url + "/v1", api_key=key, max_retries=0)
    codes = []
    for _ in range(3):
        try:
            c.moderations.create(input="hello")
            codes.append(200)
        except openai.RateLimitError as e:
            codes.append(429)
            assert int(e.response.headers["Retry-After"]) >= 1
            assert e.body["code"] == "rate_limited"
    assert codes[-1] == 429, codes
    assert writer.drain()
    other = audit.read(svc.redis, svc.store.keys, "limited", types=("facade",), limit=100)
    assert [e["event"]["status"] for e in other][-1] == 429


def test_a_review_verdict_opens_a_review_item(s, raw, stub_):
    """The facade's `review` verdicts go to the review queue through the job path's hook."""
    c = s.client
    p = c.s.put(c.url("/v1/policies/to-review"), json={
        "thresholds": {"harassment": {"review": 0.01, "block": 1.0}}}, timeout=30)
    assert p.status_code in (200, 201), p.text
    text = "you idiot, facade review " + str(time.time())
    r = raw.post("/v1/moderations", json={"input": text},
                 headers={"x-mmservice-policy": "to-review"})
    assert r.status_code == 200 and r.headers["x-mmservice-verdict"] == "review", r.text
    got = None
    for _ in range(50):  # other tests' items may be ahead in the queue: take until it is ours
        n = raw.post("/v1/review/queues/default/next", json={})
        if n.status_code != 200:
            break
        item = n.json().get("item") or n.json()
        if (item.get("content") or {}).get("text") == text:
            got = item
            break
    assert got is not None, "no review item holds the facade's text"
    assert got["verdict"] == "review" and got["policy"]["name"] == "to-review"
    assert got["jobs"][0].startswith(r.headers["x-request-id"])
