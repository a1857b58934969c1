"""The content-hash result cache (issue 15, point 7), end to end: real Redis, a real worker, the
stub as upstream, whose request log says whether a job reached it.

A repeat of the same content (same task, model and options) is answered from the cache with
`cached: true` and no upstream request; the current thresholds decide it; another model, another
option, `options.cache: false`, another tenant (unless both opt in) or an expired entry miss.
"""
from __future__ import annotations

import uuid

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from mediagen import image, wav
from mmservice.auth.keystore import SCOPES
from mmservice.testing.stack import WorkerProcess, wait_until


def _uid() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="module")
def s(module_stack):
    # Tenant settings are read afresh for every job, so a PATCH decides the very next one.
    return module_stack(cfg={"TENANT_SETTINGS_CACHE_S": 0}, name="cache")


def moderations(stub) -> int:
    return len(stub.requests.matching("/moderations"))


def cache_keys(r, pattern: str) -> list[bytes]:
    return list(r.scan_iter(match=pattern, count=1000))


def test_identical_text_is_answered_from_the_cache(s, stub):
    text = f"you are an idiot and I will find you {_uid()}"
    first = s.client.run({"text": text})["results"]["moderation"]
    calls = moderations(stub)
    assert first["cached"] is False and first["usage"]
    # The same words: fullwidth letters (NFKC) and other spacing read the same.
    variant = "ｙｏｕ are  an\tidiot and I will\nfind you " + text.rsplit(" ", 1)[1] + "  "
    second = s.client.run({"text": variant})["results"]["moderation"]
    assert moderations(stub) == calls  # no upstream request at all
    assert second["cached"] is True
    assert second["category_scores"] == first["category_scores"]
    assert second["verdict"] == first["verdict"]
    assert "usage" not in second  # nothing was spent upstream, nothing is counted
    # Capitals are not folded (they carry tone that models score): another entry.
    shouted = s.client.run({"text": text.upper()})["results"]["moderation"]
    assert shouted["cached"] is False and moderations(stub) == calls + 1
    # Entries live in the tenant's namespace; nothing went to the shared pool.
    assert cache_keys(s.redis, "mms:t:default:cache:*")
    assert not cache_keys(s.redis, "mms:cache:shared:*")


def test_a_policy_change_after_a_hit_decides_with_the_cached_scores(s, stub):
    text = f"have a lovely afternoon {_uid()}"
    first = s.client.run({"text": text})["results"]["moderation"]
    assert first["verdict"] == "allow"
    calls = moderations(stub)
    strict = {c: {"review": 0.0, "block": 0.0} for c in first["assessed_categories"]}
    by_job = s.client.run({"text": text, "options": {"thresholds": strict}})
    m = by_job["results"]["moderation"]
    assert m["cached"] is True and m["verdict"] == "block"
    assert m["category_scores"] == first["category_scores"]
    # The tenant's own lines change: the next hit is judged by them at once.
    patch = s.client.s.patch(s.api_url + "/v1/admin/tenants/default/settings", timeout=10,
                             json={"THRESHOLDS_REVIEW": 0.0, "THRESHOLDS_BLOCK": 0.0})
    assert patch.status_code == 200, patch.text
    try:
        m = s.client.run({"text": text})["results"]["moderation"]
        assert m["cached"] is True and m["verdict"] == "block"
    finally:
        undo = s.client.s.patch(s.api_url + "/v1/admin/tenants/default/settings", timeout=10,
                                json={"THRESHOLDS_REVIEW": None, "THRESHOLDS_BLOCK": None})
        assert undo.status_code == 200, undo.text
    assert s.client.run({"text": text})["results"]["moderation"]["verdict"] == "allow"
    assert moderations(stub) == calls


def test_options_cache_false_calls_the_upstream_and_stores_nothing(s, stub):
    text = f"keep this one out of the cache {_uid()}"
    before = set(cache_keys(s.redis, "mms:t:default:cache:*"))
    calls = moderations(stub)
    off = s.client.run({"text": text, "options": {"cache": False}})["results"]["moderation"]
    assert off["cached"] is False and moderations(stub) == calls + 1
    assert set(cache_keys(s.redis, "mms:t:default:cache:*")) == before
    again = s.client.run({"text": text})["results"]["moderation"]  # nothing was stored
    assert again["cached"] is False and moderations(stub) == calls + 2
    off = s.client.run({"text": text, "options": {"cache": False}})["results"]["moderation"]
    assert off["cached"] is False and moderations(stub) == calls + 3  # not read either


def test_the_cache_option_is_validated(s):
    r = s.client.submit({"text": "x", "options": {"cache": "false"}})
    assert r.status_code == 422 and r.json()["error"]["field"] == "options.cache", r.text
    r = s.client.submit({"text": "x", "tasks": ["speak"], "options": {"cache": False}})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "option_not_applicable"


def test_image_is_cached_by_its_bytes(s, stub):
    png = image("PNG", (64, 48), (10, 200, 90))
    first = s.client.submit_file("a.png", png, "image/png")
    assert first.status_code == 202, first.text
    m1 = s.client.poll(first.json()["id"])["results"]["moderation"]
    calls = moderations(stub)
    again = s.client.submit_file("same-bytes.png", png, "image/png")
    m2 = s.client.poll(again.json()["id"])["results"]["moderation"]
    assert m2["cached"] is True and moderations(stub) == calls
    assert m2["category_scores"] == m1["category_scores"] and m2["inputs"] == ["image"]
    other = s.client.submit_file("b.png", image("PNG", (64, 48), (10, 200, 91)), "image/png")
    m3 = s.client.poll(other.json()["id"])["results"]["moderation"]
    assert m3["cached"] is False and moderations(stub) == calls + 1


def test_describe_is_cached_per_question(s, stub):
    png = image("PNG", (96, 64), (40, 40, 220))

    def ask(prompt: str) -> dict:
        r = s.client.submit_file("q.png", png, "image/png", {
            "tasks": "describe", "options": f'{{"prompt": "{prompt}"}}'})
        assert r.status_code == 202, r.text
        return s.client.poll(r.json()["id"])["results"]["description"]

    first = ask("What colour is it?")
    calls = len(stub.requests.matching("/chat/completions"))
    second = ask("What colour is it?")
    assert second["cached"] is True and second["text"] == first["text"]
    assert "usage" not in second
    assert len(stub.requests.matching("/chat/completions")) == calls
    third = ask("Is there a person?")
    assert third["cached"] is False
    assert len(stub.requests.matching("/chat/completions")) == calls + 1


def test_transcription_is_cached_per_clip_and_options(s, stub):
    clip = wav(1.5, freq=523.0)

    def run(options: dict) -> dict:
        import json

        r = s.client.submit_file("clip.wav", clip, "audio/wav", {"options": json.dumps(options)})
        assert r.status_code == 202, r.text
        return s.client.poll(r.json()["id"])["results"]

    first = run({"language": "en"})
    sent = len(stub.requests.matching("/audio/transcriptions"))
    mods = moderations(stub)
    second = run({"language": "en"})
    assert second["transcription"]["cached"] is True
    assert second["transcription"]["text"] == first["transcription"]["text"]
    assert len(stub.requests.matching("/audio/transcriptions")) == sent
    if first["transcription"]["text"]:  # the same transcript: its moderation is a hit too
        assert second["moderation"]["cached"] is True and moderations(stub) == mods
    other = run({"language": "fr"})  # another option of the upstream call: another entry
    assert other["transcription"]["cached"] is False
    assert len(stub.requests.matching("/audio/transcriptions")) == sent + 1


def test_tenants_do_not_share_entries_unless_both_opt_in(s, stub):
    keys = s.services.auth.keys
    b_key, _ = keys.create("cache-b", SCOPES)
    c_key, _ = keys.create("cache-c", SCOPES)

    def as_tenant(key: str, text: str) -> dict:
        h = {"Authorization": f"Bearer {key}"}
        r = requests.post(s.api_url + "/v1/jobs", json={"text": text}, headers=h, timeout=10)
        assert r.status_code in (200, 202), r.text  # 200: a hit, answered at intake
        job_id = r.json()["id"]
        for _ in range(600):
            job = requests.get(s.api_url + f"/v1/jobs/{job_id}?wait=5", headers=h,
                               timeout=10).json()
            if job["status"] in ("succeeded", "failed"):
                return job["results"]["moderation"]
        raise AssertionError(f"job {job_id} did not settle")

    def shared(tenant: str, on: bool | None) -> None:
        r = s.client.s.patch(s.api_url + f"/v1/admin/tenants/{tenant}/settings", timeout=10,
                             json={"CACHE_SHARED": on})
        assert r.status_code == 200, r.text

    text = f"the same words from two platforms {_uid()}"
    assert s.client.run({"text": text})["results"]["moderation"]["cached"] is False
    calls = moderations(stub)
    assert as_tenant(b_key, text)["cached"] is False  # A's entry is not B's
    assert moderations(stub) == calls + 1
    assert as_tenant(b_key, text)["cached"] is True  # B's own entry now
    try:
        shared("default", True)
        shared("cache-b", True)
        text2 = text + " shared"
        assert s.client.run({"text": text2})["results"]["moderation"]["cached"] is False
        calls = moderations(stub)
        assert as_tenant(b_key, text2)["cached"] is True  # both opted in: one pool
        assert as_tenant(c_key, text2)["cached"] is False  # C did not opt in
        assert moderations(stub) == calls + 1
        assert cache_keys(s.redis, "mms:cache:shared:*")
    finally:
        shared("default", None)
        shared("cache-b", None)
    # A tenant with the cache off (MMS_CACHE per tenant) neither reads nor stores.
    r = s.client.s.patch(s.api_url + "/v1/admin/tenants/cache-c/settings", timeout=10,
                         json={"CACHE": False})
    assert r.status_code == 200, r.text
    calls, before = moderations(stub), set(cache_keys(s.redis, "mms:t:cache-c:cache:*"))
    assert as_tenant(c_key, text)["cached"] is False
    assert as_tenant(c_key, text)["cached"] is False
    assert moderations(stub) == calls + 2
    assert set(cache_keys(s.redis, "mms:t:cache-c:cache:*")) == before


def test_hits_and_misses_are_counted_per_task(s):
    s.client.run({"text": f"count me {_uid()}"})
    body = s.client.get("/metrics").text
    samples = {(x.name, tuple(sorted(x.labels.items()))): x.value
               for fam in text_string_to_metric_families(body) for x in fam.samples}
    hit = samples.get(("mms_result_cache_lookups_total",
                       (("outcome", "hit"), ("task", "moderate"))), 0)
    miss = samples.get(("mms_result_cache_lookups_total",
                        (("outcome", "miss"), ("task", "moderate"))), 0)
    assert hit >= 1 and miss >= 1, samples


def test_another_model_misses_and_entries_expire(stack, stub):
    """A worker with another moderation model does not reuse the first model's scores; an entry
    is gone after MMS_CACHE_TTL_S (waited for on Redis itself), and the next job misses.
    Hits go through the worker here (`CACHE_AT_INTAKE` off): only the worker's model changes,
    and an API answering at intake names entries by its own provider settings (README)."""
    s2 = stack(cfg={"CACHE_TTL_S": 4.0, "CACHE_AT_INTAKE": False})
    text = f"short lived {_uid()}"
    assert s2.client.run({"text": text})["results"]["moderation"]["cached"] is False
    calls = moderations(stub)
    assert s2.client.run({"text": text})["results"]["moderation"]["cached"] is True
    assert moderations(stub) == calls
    [key] = cache_keys(s2.redis, "mms:t:default:cache:*")
    assert 0 < s2.redis.pttl(key) <= 4000
    wait_until(lambda: not s2.redis.exists(key), 20, 0.1, "the entry's expiry")
    assert s2.client.run({"text": text})["results"]["moderation"]["cached"] is False
    assert moderations(stub) == calls + 1

    s2.worker.stop()
    other = WorkerProcess({**s2.cfg, "MODERATION_MODEL": "omni-moderation-2024-09-26"},
                          s2.log_path, name="other-model").start()
    s2.workers.append(other)
    m = s2.client.run({"text": text})["results"]["moderation"]
    assert m["cached"] is False and m["model"] == "omni-moderation-2024-09-26"
    assert moderations(stub) == calls + 2
    assert s2.client.run({"text": text})["results"]["moderation"]["cached"] is True


def test_normalization_merges_only_what_reads_the_same():
    from mmservice.cache.store import normalize_text, text_hash

    assert normalize_text("  ｈｅｌｌｏ\u00a0 wor\ufb01\tthere\n") == "hello worfi there"
    assert text_hash("a  b") == text_hash("a b") != text_hash("A b") != text_hash("ab")


class _CountingText:
    """A text-moderation double that records what reached it: the wrapper's split of hits and
    misses is under test here (the stub-backed tests above cover the wire)."""
    name, model = "double", "m1"

    def __init__(self):
        self.sent: list[list[str]] = []

    def moderate_texts(self, texts):
        from mmservice.providers.base import RawModeration

        self.sent.append(list(texts))
        return [RawModeration({"hate": len(t) / 100}, ["hate"], "m1", "double",
                              usage={"requests": 1}) for t in texts]


def test_only_missing_pieces_go_to_the_provider_in_order(redis_databases):
    import redis

    from mmservice.cache.store import ResultCache
    from mmservice.cache.wrappers import CachedModeration
    from mmservice.keys import Keys

    r = redis.Redis.from_url(redis_databases.allocate())
    inner = _CountingText()

    def wrapped() -> tuple[CachedModeration, ResultCache]:
        cache = ResultCache(r, Keys("unit"), namespace="t1", ttl_s=60)
        return CachedModeration(inner, inner, cache), cache

    w, _ = wrapped()
    w.moderate_texts(["bb"])
    w, cache = wrapped()
    out = w.moderate_texts(["a", "bb", "cccc"])
    assert inner.sent == [["bb"], ["a", "cccc"]]  # the hit never reached the (batching) provider
    assert [x.category_scores["hate"] for x in out] == [0.01, 0.02, 0.04]
    assert out[1].usage == {} and out[0].usage == {"requests": 1}
    assert (cache.hits, cache.misses, cache.served) == (1, 2, False)
    w, cache = wrapped()
    w.moderate_texts(["cccc", "a"])
    assert len(inner.sent) == 2 and cache.served


def test_a_text_already_in_flight_is_waited_for_not_sent_again(redis_databases):
    """Two jobs of one worker with the same text at once: one upstream call, both answered; a
    job of another tenant sends its own (flights are named by the tenant's key)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import redis

    from mmservice.cache.flights import FLIGHTS
    from mmservice.cache.store import ResultCache
    from mmservice.cache.wrappers import CachedModeration
    from mmservice.keys import Keys
    from mmservice.testing.stack import wait_until

    r = redis.Redis.from_url(redis_databases.allocate())
    gate = threading.Event()

    class Gated(_CountingText):
        def moderate_texts(self, texts):
            out = super().moderate_texts(texts)
            assert gate.wait(30), "never released"
            return out

    inner = Gated()
    caches = [ResultCache(r, Keys("unit"), namespace=ns, ttl_s=60) for ns in ("t1", "t1", "t2")]
    text = f"the same spam wave {_uid()}"
    with ThreadPoolExecutor(3) as pool:
        joined = FLIGHTS.joined
        first = pool.submit(CachedModeration(inner, inner, caches[0]).moderate_texts, [text])
        wait_until(lambda: len(inner.sent) == 1, 10, what="the first call upstream")
        second = pool.submit(CachedModeration(inner, inner, caches[1]).moderate_texts, [text])
        other = pool.submit(CachedModeration(inner, inner, caches[2]).moderate_texts, [text])
        wait_until(lambda: len(inner.sent) == 2, 10, what="the other tenant's own call")
        # The second job of t1 joined the first's flight while that call is held.
        wait_until(lambda: FLIGHTS.joined == joined + 1, 10, what="the second job joining")
        gate.set()
        a, b, c = first.result(10), second.result(10), other.result(10)
    assert len(inner.sent) == 2  # the second job of t1 waited for the first's call
    assert a[0].category_scores == b[0].category_scores == c[0].category_scores
    assert caches[1].served and not caches[0].served and not caches[2].served
