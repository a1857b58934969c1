"""`/metrics` end to end: a real worker runs jobs, the API's collector reports what it counted.

Runs its own worker and API on Redis database 13 (flushed first), so every counter starts at zero
and the expected values are exact: jobs created per kind and task, finished per status, one step
histogram observation per step that returned, an upstream error per failed upstream call, one
webhook attempt per outcome, the moderation batch sizes summing to the texts sent. A scrape must
read fixed keys only: Redis' own command statistics show no SCAN and no KEYS.
"""
from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mediagen import image
from mmservice.api.metrics import oldest_age_s
from mmservice.webhooks import signing
from webhook_receiver import Receiver

SECRET = signing.new_secret()


@pytest.fixture(scope="module")
def env(module_stack, stub):
    stub.reset()
    s = module_stack(cfg={"WEBHOOK_SECRETS": SECRET, "WEBHOOK_ALLOWLIST": "127.0.0.1",
                          "WEBHOOK_RETRY_SCHEDULE_S": "0.2,0.4,0.8",
                          "WEBHOOK_LOCAL_FIRST_ATTEMPT": "off"}, name="metrics")
    receiver = Receiver([SECRET], script=[{"status": 500}]).start()
    yield SimpleNamespace(cfg=s.cfg, r=s.redis, worker=s.worker, api=s.api, client=s.client,
                          receiver=receiver)
    receiver.stop()


def scrape(env) -> dict[str, dict[tuple, float]]:
    """{sample name: {sorted label items: value}} from one scrape, parsed by prometheus_client."""
    resp = env.client.get("/metrics")
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"].startswith("text/plain")
    out: dict[str, dict[tuple, float]] = {}
    for fam in text_string_to_metric_families(resp.text):
        for s in fam.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def value(samples: dict, name: str, **labels) -> float:
    return samples.get(name, {}).get(tuple(sorted(labels.items())), 0)


def total(samples: dict, name: str, **labels) -> float:
    """Sum over the series of `name` whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for k, v in samples.get(name, {}).items() if want <= set(k))


def wait_for(env, check, timeout: float = 30):
    """Scrape until `check(samples)` holds (counters recorded just after a record is written)."""
    deadline = time.time() + timeout
    while True:
        samples = scrape(env)
        if check(samples) or time.time() > deadline:
            return samples
        time.sleep(0.05)


def test_counters_and_histograms_follow_the_jobs(env, stub):
    c = env.client
    stub.script("/moderations", [{"status": 500}])  # the first moderation call fails once
    first = c.run({"text": "first text, retried once upstream"})
    assert first["status"] == "succeeded", first
    ids = [c.submit({"text": f"plain text number {i}"}).json()["id"] for i in range(3)]
    hook = c.submit({"text": "with a webhook", "webhook_url": env.receiver.url()})
    assert hook.status_code == 202, hook.text
    ids.append(hook.json()["id"])
    r = c.submit_file("pic.png", image("PNG", (64, 48)), "image/png",
                      {"tasks": "moderate,describe"})
    assert r.status_code == 202, r.text
    ids.append(r.json()["id"])
    jobs = [c.poll(i) for i in ids]
    assert [j["status"] for j in jobs] == ["succeeded"] * 5, jobs

    s = wait_for(env, lambda s: value(s, "mms_webhook_attempts_total", outcome="succeeded") >= 1)
    assert value(s, "mms_jobs_created_total", kind="text") == 5
    assert value(s, "mms_jobs_created_total", kind="image") == 1
    assert value(s, "mms_job_tasks_created_total", task="moderate") == 6
    assert value(s, "mms_job_tasks_created_total", task="describe") == 1
    assert value(s, "mms_jobs_finished_total", status="succeeded") == 6
    assert total(s, "mms_jobs_finished_total") == 6

    # One observation per step that ran: six moderations and one description.
    assert total(s, "mms_step_seconds_count", step="moderate") == 6
    assert value(s, "mms_step_seconds_count", step="describe", provider="openai") == 1
    assert value(s, "mms_step_seconds_bucket", step="describe", provider="openai",
                 le="+Inf") == 1
    assert total(s, "mms_step_seconds_sum") > 0
    for labels, n in s["mms_step_seconds_count"].items():
        inf = dict(labels) | {"le": "+Inf"}
        assert value(s, "mms_step_seconds_bucket", **inf) == n

    assert value(s, "mms_upstream_errors_total", capability="moderation",
                 code="upstream_server_error", status="500") == 1
    assert total(s, "mms_upstream_errors_total") == 1

    # The receiver answered 500, then 200.
    assert value(s, "mms_webhook_attempts_total", outcome="retry_scheduled") == 1
    assert value(s, "mms_webhook_attempts_total", outcome="succeeded") == 1
    assert len(env.receiver.requests) == 2

    # Five texts went through micro-batching (the retried one is sent once per attempt, but
    # batched once); the image was moderated on its own.
    assert value(s, "mms_moderation_batch_size_sum") == 5
    assert 1 <= value(s, "mms_moderation_batch_size_count") <= 5
    assert value(s, "mms_moderation_batch_size_bucket", le="+Inf") == \
        value(s, "mms_moderation_batch_size_count")

    for q in ("moderation", "vision", "audio", "webhooks"):
        assert value(s, "mms_queue_depth", queue=q) == 0
        assert ("queue", q) in {k[0] for k in s["mms_queue_oldest_age_seconds"]}


def test_a_scrape_reads_fixed_keys_and_never_scans(env):
    def stats() -> dict:
        info = env.r.info("commandstats")
        return {k: info.get(f"cmdstat_{k}", {}).get("calls", 0)
                for k in ("scan", "keys", "hgetall")}

    before = stats()
    for _ in range(3):
        scrape(env)
    after = stats()
    assert after["scan"] == before["scan"] and after["keys"] == before["keys"]
    assert after["hgetall"] >= before["hgetall"] + 3 * 7  # the seven hashes, per scrape


def test_queue_depth_and_age_of_the_oldest_waiting_message(env):
    env.worker.stop()  # nothing consumes the queues now (the module's last test)
    t0_ms = int(time.time() * 1000)
    first = env.client.submit({"text": "waits in the queue"}).json()["id"]
    env.client.submit({"text": "waits behind it"})
    s = scrape(env)
    scraped_ms = int(time.time() * 1000)
    assert value(s, "mms_queue_depth", queue="moderation") == 2
    # The oldest message is the first job's, and its id carries its creation time: the age
    # is at most the time since that job was submitted.
    tail = env.r.lindex("moderation", -1)
    assert first.encode() in tail and int(first[4:16], 16) >= t0_ms
    assert oldest_age_s(tail, int(first[4:16], 16) + 1500) == 1.5
    age = value(s, "mms_queue_oldest_age_seconds", queue="moderation")
    assert 0 <= age <= (scraped_ms - t0_ms) / 1000
    assert value(s, "mms_queue_depth", queue="vision") == 0
    assert value(s, "mms_queue_oldest_age_seconds", queue="vision") == 0


def test_age_of_webhook_and_chunk_messages_comes_from_their_ids():
    ms = 0x018f00000000
    webhook = ('{"headers": {"id": "3b1c", "argsrepr": "[\'default\', \'msg_' + f"{ms:012x}"
               + 'aa11bb22cc33dd44ee55\']"}}').encode()
    chunk = ('{"headers": {"id": "job_' + f"{ms:012x}" + 'abcdef0123456789abcd.chunk3"}}').encode()
    assert oldest_age_s(webhook, ms + 2500) == 2.5
    assert oldest_age_s(chunk, ms + 1000) == 1.0
    assert oldest_age_s(b'{"headers": {"id": "not-ours"}}', ms) == 0.0
    assert oldest_age_s(b"not json", ms) == 0.0
