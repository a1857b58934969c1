"""Signed webhooks end to end: a real worker delivers to a real receiver (tests/webhook_receiver.py)
that verifies every request with `standardwebhooks` and dedupes on `webhook-id`.

Runs its own worker and API with webhook settings in their environment (short retry schedule,
1.5 s timeout, loopback allow-listed, a sweeper every 0.2 s), so the session worker never takes
these tasks. Every test runs twice: first attempts through the `webhooks` queue (Redis database
5), and made by the worker that settled the job (database 8; `MMS_WEBHOOK_LOCAL_FIRST_ATTEMPT=auto`
in a worker that consumes `webhooks`, see `mmservice.webhooks.local_senders`).
"""
from __future__ import annotations

import dataclasses
import random
import socket
import time
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
import redis
from standardwebhooks import Webhook

from mmservice import config
from mmservice.embedded import free_port
from mmservice.errors import Invalid
from mmservice.jobs.store import JobStore, public_view
from mmservice.keys import Keys
from mmservice.webhooks import schedule, settings, signing, transport
from mmservice.webhooks.attempts import run_attempt
from mmservice.webhooks.due import sweep
from mmservice.webhooks.emit import Event, emit, on_job_terminal
from mmservice.webhooks.store import DeliveryStore, due_member
from webhook_receiver import Receiver

OLD, NEW = signing.new_secret(), signing.new_secret()
SCHEDULE = (0.2, 0.4, 0.8, 1.6, 3.0)
KEYS = Keys()


@pytest.fixture(scope="module", params=["queued", "local"])
def hooks(request, module_stack, stub):
    mode = request.param
    s = module_stack(cfg={
        "WEBHOOK_SECRETS": f"{OLD},{NEW}", "WEBHOOK_ALLOWLIST": "127.0.0.1",
        "WEBHOOK_RETRY_SCHEDULE_S": ",".join(map(str, SCHEDULE)), "WEBHOOK_TIMEOUT_S": 1.5,
        "BROKER_VISIBILITY_TIMEOUT_S": 3, "BROKER_RESTORE_INTERVAL_S": 1.0,
        "WEBHOOK_SWEEP_EVERY_S": 0.2,
        "WEBHOOK_LOCAL_FIRST_ATTEMPT": "off" if mode == "queued" else "auto"},
        name=f"hooks-{mode}")
    env = SimpleNamespace(cfg=s.cfg, r=s.redis, log=s.log_path, mode=mode, worker=s.worker,
                          api=s.api, client=s.client, stack=s)
    stub.reset()
    yield env
    s.close()  # before the other mode's stack starts: one worker of this module at a time


def deliveries(env, job_id: str) -> list[dict]:
    r = env.client.get(f"/v1/jobs/{job_id}/deliveries")
    assert r.status_code == 200, r.text
    return r.json()["data"]


def settled(env, job_id: str, timeout: float = 20, attempts: int = 1) -> dict:
    """The job's one delivery once it stops being pending (and has at least `attempts`)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = deliveries(env, job_id)
        if found and found[0]["status"] != "pending" and len(found[0]["attempts"]) >= attempts:
            assert len(found) == 1, found
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"delivery still pending after {timeout}s: {deliveries(env, job_id)}")


def run(env, url: str, text: str | None = None) -> dict:
    """A job through a worker: a text not seen before (a repeat would be a cache hit, settled
    by the API at intake, whose first attempt is always queued)."""
    text = text or f"hello webhooks {uuid.uuid4().hex[:10]}"
    return env.client.run({"text": text, "webhook_url": url})


def made_locally(env, delivery_id: str) -> bool:
    """Whether the worker made this delivery's first attempt itself (its log says so)."""
    with open(env.log, encoding="utf-8", errors="replace") as f:
        return any("webhook attempt started locally" in line and delivery_id in line
                   for line in f)


def due_at(env, delivery_id: str) -> float | None:
    """When the delivery next needs a message (None: settled, nothing more will be sent)."""
    return env.r.zscore(KEYS.webhook_due(), due_member("default", delivery_id))


# -- the policy and the pieces, as plain functions -------------------------------------------
@pytest.mark.parametrize("status,error,n,client_errors,ra,outcome", [
    (200, None, 1, 0, None, "succeeded"),
    (204, None, 3, 0, None, "succeeded"),
    (410, None, 1, 0, None, "disable"),
    (500, None, 1, 0, None, "retry"),
    (None, "webhook_timeout", 2, 0, None, "retry"),
    (None, "webhook_connection_error", 6, 0, None, "failed"),  # schedule has 5 retries
    (400, None, 1, 0, None, "retry"),  # one more try...
    (400, None, 2, 1, None, "failed"),  # ...then stop
    (302, None, 2, 1, None, "failed"),
    (429, None, 1, 0, "7", "retry"),
])
def test_retry_policy(status, error, n, client_errors, ra, outcome):
    d = schedule.decide(status_code=status, error_code=error, attempts_in_round=n,
                        client_errors_in_round=client_errors, schedule=SCHEDULE, retry_after=ra,
                        retry_after_max_s=3600, rng=random.Random(1))
    assert d.outcome == outcome
    if outcome == "retry" and ra is None:
        assert 0.9 * SCHEDULE[n - 1] <= d.delay_s <= 1.1 * SCHEDULE[n - 1]


def test_retry_after_is_honoured_and_capped():
    kw = dict(error_code=None, attempts_in_round=1, client_errors_in_round=0, schedule=SCHEDULE)
    d = schedule.decide(status_code=503, retry_after="7", retry_after_max_s=3600, **kw)
    assert 7 <= d.delay_s <= 7.7
    d = schedule.decide(status_code=429, retry_after="999999", retry_after_max_s=60, **kw)
    assert 60 <= d.delay_s <= 66
    assert schedule.parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert schedule.parse_retry_after("soon") is None


def test_generated_secret_is_shared_through_redis(redis_databases):
    r = redis.Redis.from_url(redis_databases.allocate())
    key = KEYS.webhook_secret()
    r.delete(key)
    first = signing.active_secrets((), r, key)
    assert first == signing.active_secrets((), r, key)
    assert first[0].startswith("whsec_") and r.get(key).decode() == first[0]
    body = '{"a":1}'
    Webhook(first[0]).verify(body, signing.headers("msg_x", body, first))
    assert signing.active_secrets((OLD,), r, key) == [OLD]


def test_rebinding_hostname_is_checked_and_pinned_at_delivery(monkeypatch):
    """A name that resolves to loopback is refused unless allow-listed; when allowed, the worker
    connects to the address it checked and still sends the original Host header."""
    rcv = Receiver([NEW]).start()
    real = socket.getaddrinfo

    def fake(host, *a, **kw):
        if host == "hooks.rebind.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", rcv.port))]
        return real(host, *a, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    url, body = f"http://hooks.rebind.test:{rcv.port}/hook", '{"type":"job.succeeded"}'
    try:
        refused = transport.post(url, body.encode(), signing.headers("msg_r", body, [NEW]),
                                 allow="", timeout_s=2)
        assert refused.error["code"] == "url_not_allowed" and refused.final
        assert refused.status_code is None and rcv.requests == []
        ok = transport.post(url, body.encode(), signing.headers("msg_r", body, [NEW]),
                            allow="127.0.0.1", timeout_s=2)
        assert ok.status_code == 200, ok
        assert rcv.requests[0]["headers"]["host"] == f"hooks.rebind.test:{rcv.port}"
    finally:
        rcv.stop()


def in_process_deps(hooks, r=None, **cfg):
    """The API's deps (on client `r`), with messages captured instead of queued."""
    sent: list[tuple] = []
    base = hooks.api.app.extensions["mms"].deps
    r = hooks.r if r is None else r
    deps = dataclasses.replace(base, cfg=config.load({**base.cfg, **cfg}, environ={}),
                               store=JobStore(r, base.store.ttl_s),
                               send_task=lambda name, args, **_: sent.append(tuple(args)))
    return deps, sent


def test_one_delivery_per_event_however_often_asked(hooks):
    deps, sent = in_process_deps(hooks)
    job = {"id": "job_direct0001", "tenant": "default", "status": "succeeded",
           "webhook_url": "https://hooks.example.com/x"}
    first = on_job_terminal(job, deps)
    assert first and on_job_terminal(job, deps) == first
    assert sent == [("default", first)]
    assert on_job_terminal({**job, "webhook_url": None}, deps) is None  # no URL, no default
    assert on_job_terminal({**job, "id": "job_direct0002", "status": "running"}, deps) is None
    rec = DeliveryStore(hooks.r, 3600, KEYS).get("default", first)
    assert rec["job_id"] == job["id"] and rec["type"] == "job.succeeded"
    assert due_at(hooks, first) is not None  # should its message be lost, the sweeper sends one


@pytest.mark.parametrize("secrets", ["configured", "generated"])
def test_body_frozen_at_settle_and_the_attempt_reads_no_job(hooks, secrets):
    """The body is the job as clients saw it when it settled: this job is not even in the
    store, and the attempt signs with the configured secrets or the generated one."""
    cfg = {} if secrets == "configured" else {"WEBHOOK_SECRETS": ""}
    key = NEW if secrets == "configured" else signing.active_secrets(
        (), hooks.r, KEYS.webhook_secret())[0]
    deps, queued = in_process_deps(hooks, **cfg)
    rcv = Receiver([key]).start()
    job = {"id": f"job_frozen{secrets}", "tenant": "default", "status": "failed",
           "webhook_url": rcv.url(), "results": {"moderation": {"verdict": "allow"}},
           "error": {"code": "upstream_timeout"}, "_text": "internal", "_created_ts": 1.0}
    try:
        did = on_job_terminal(job, deps)
        assert queued == [("default", did)]
        assert run_attempt("default", did, deps) == "succeeded"
        (req,) = rcv.requests
    finally:
        rcv.stop()
    evt = Webhook(key).verify(req["body"], req["headers"])
    assert evt["type"] == "job.failed" and evt["data"] == public_view(job)
    assert "_text" not in req["body"].decode() and req["id"] == did
    assert due_at(hooks, did) is None


def test_emit_any_event_type_delivers_a_verifiable_body(hooks):
    """`emit` is not about jobs: any event type, subject and data become one delivery whose
    body `standardwebhooks` verifies, with `data` exactly as given."""
    deps, queued = in_process_deps(hooks)
    rcv = Receiver([OLD, NEW]).start()
    data = {"review_id": "rev_0001", "decision": "block", "labels": ["harassment"]}
    event = Event("review.decided", "default", "rev_0001", data, url=rcv.url(), at=1700000000.5)
    try:
        did = emit(deps, event)
        assert did and emit(deps, event) == did and queued == [("default", did)]
        assert run_attempt("default", did, deps) == "succeeded"
        (req,) = rcv.requests
    finally:
        rcv.stop()
    assert req["verified"] == [True, True]
    evt = Webhook(NEW).verify(req["body"], req["headers"])
    assert evt == {"type": "review.decided", "timestamp": "2023-11-14T22:13:20.500Z",
                   "data": data}
    rec = DeliveryStore(hooks.r, 3600, KEYS).get("default", did)
    assert "job_id" not in rec and rec["status"] == "succeeded"


def test_a_duplicate_message_does_nothing(hooks):
    """A second message for a delivery whose attempt is in flight, or that is settled, claims
    nothing: the record (not the message) decides."""
    deps, _ = in_process_deps(hooks)
    store = DeliveryStore(hooks.r, 3600, KEYS)
    did = emit(deps, Event("job.succeeded", "default", "job_dup0001", {},
                           url="https://hooks.example.com/x"))
    now = time.time()
    c = store.claim("default", did, lease_s=10, now=now)
    assert c.outcome == "claimed" and due_at(hooks, did) == pytest.approx(now + 10)
    assert run_attempt("default", did, deps, now=now + 1) == "not_due"
    store.finish("default", did, 1, {"outcome": "succeeded"},
                 lambda d: d.update(status="succeeded"))
    assert run_attempt("default", did, deps, now=now + 11) == "done"
    assert run_attempt("default", "msg_nope", deps) == "gone"
    assert due_at(hooks, did) is None


def test_sweeper_resends_a_lost_attempt_once(hooks, redis_databases):
    """An attempt whose worker died leaves its delivery due at the lease's end: one sweep then
    sends one message (however many sweepers run), and it retries with the same webhook-id.
    (A database of its own: no worker's own sweeper races this test's sweeps there.)"""
    r = redis.Redis.from_url(redis_databases.allocate())
    store = DeliveryStore(r, 3600, KEYS)
    deps, queued = in_process_deps(hooks, r)
    lease = settings(deps.cfg).lease_s
    rcv = Receiver([NEW]).start()
    try:
        did = emit(deps, Event("job.succeeded", "default", "job_lost0001", {"id": "x"},
                               url=rcv.url()))
        queued.clear()
        now = time.time()
        assert store.claim("default", did, lease_s=lease, now=now).outcome == "claimed"
        assert sweep(deps, now=now + 1) == 0 and queued == []  # its lease is still running
        later = now + lease + 1
        assert sweep(deps, now=later) == 1 and queued == [("default", did)]
        assert sweep(deps, now=later) == 0 and len(queued) == 1
        assert run_attempt("default", did, deps, now=later) == "succeeded"
        (req,) = rcv.requests
    finally:
        rcv.stop()
    d = store.get("default", did)
    assert req["id"] == did and [a["outcome"] for a in d["attempts"]] == [
        "interrupted", "succeeded"]
    assert r.zscore(KEYS.webhook_due(), due_member("default", did)) is None


def test_local_first_attempt_setting():
    assert settings(config.load(environ={})).local_first_attempt == "auto"
    for raw, want in (("1", "on"), (True, "on"), ("off", "off"), ("FALSE", "off"), ("", "auto")):
        cfg = config.load({"WEBHOOK_LOCAL_FIRST_ATTEMPT": raw}, environ={})
        assert settings(cfg).local_first_attempt == want
    with pytest.raises(Invalid) as e:
        config.load({"WEBHOOK_LOCAL_FIRST_ATTEMPT": "sometimes"}, environ={})
    assert e.value.field == "MMS_WEBHOOK_LOCAL_FIRST_ATTEMPT"


def test_local_first_attempt_needs_a_free_sender_and_a_worker(hooks):
    """On, in a worker (`local_ok`) and with a free sender: no message, the POST is made by
    this process and its record settles (no due time left). No free sender, or an API request:
    the first attempt is queued as before."""
    on = {"WEBHOOK_LOCAL_FIRST_ATTEMPT": "on"}
    store = DeliveryStore(hooks.r, 3600, KEYS)
    rcv = Receiver([NEW]).start()
    job = {"tenant": "default", "status": "succeeded", "webhook_url": rcv.url()}
    try:
        deps, queued = in_process_deps(hooks, **on, WEBHOOK_LOCAL_SENDERS=1)
        local = on_job_terminal({**job, "id": f"job_local{hooks.mode}"}, deps, local_ok=True)
        assert rcv.wait_for(1)[0]["id"] == local and queued == []
        wait_until(lambda: store.get("default", local)["status"] == "succeeded")
        assert due_at(hooks, local) is None

        busy, queued_busy = in_process_deps(hooks, **on, WEBHOOK_LOCAL_SENDERS=0)
        api, queued_api = in_process_deps(hooks, **on)
        a = on_job_terminal({**job, "id": f"job_busy{hooks.mode}"}, busy, local_ok=True)
        b = on_job_terminal({**job, "id": f"job_api{hooks.mode}"}, api)
        assert queued_busy == [("default", a)] and queued_api == [("default", b)]
        for did in (a, b):
            assert store.get("default", did)["attempt_count"] == 0
    finally:
        rcv.stop()


def wait_until(check, timeout: float = 10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


# -- end to end through the worker -----------------------------------------------------------
def test_success_signed_and_shaped(hooks):
    rcv = Receiver([NEW]).start()
    try:
        job = run(hooks, rcv.url())
        d = settled(hooks, job["id"])
        req = rcv.wait_for(1)[0]
    finally:
        rcv.stop()
    assert req["verified"] == [True]
    evt = Webhook(NEW).verify(req["body"], req["headers"])
    assert set(evt) == {"type", "timestamp", "data"} and evt["type"] == "job.succeeded"
    assert evt["data"] == hooks.client.get(f"/v1/jobs/{job['id']}").json()
    assert datetime.fromisoformat(evt["timestamp"]).tzinfo == UTC
    assert req["id"] == d["id"] and req["headers"]["content-type"] == "application/json"
    assert made_locally(hooks, d["id"]) == (hooks.mode == "local")
    assert abs(int(req["headers"]["webhook-timestamp"]) - time.time()) < 60
    assert d["status"] == "succeeded" and d["type"] == "job.succeeded" and d["url"] == rcv.url()
    (a,) = d["attempts"]
    assert a["status_code"] == 200 and a["outcome"] == "succeeded" and a["latency_ms"] > 0
    assert '"ok": true' in a["response_body"] and a["error"] is None
    listing = hooks.client.get(f"/v1/jobs/{job['id']}/deliveries").text
    assert "whsec_" not in listing and "signature" not in listing


def test_retry_after_500_keeps_the_webhook_id(hooks):
    rcv = Receiver([NEW], script=[{"status": 500}]).start()
    try:
        job = run(hooks, rcv.url())
        d = settled(hooks, job["id"], attempts=2)
        reqs = rcv.wait_for(2)
    finally:
        rcv.stop()
    assert [r["status"] for r in reqs] == [500, 200]
    assert {r["id"] for r in reqs} == {d["id"]} and reqs[0]["body"] == reqs[1]["body"]
    assert all(r["verified"] == [True] for r in reqs) and len(rcv.processed) == 1
    assert reqs[1]["at"] - reqs[0]["at"] >= SCHEDULE[0] * 0.9
    first, second = d["attempts"]
    assert (first["status_code"], first["outcome"]) == (500, "retry_scheduled")
    assert first["error"]["code"] == "webhook_http_error"
    assert '"ok": false' in first["response_body"]
    assert (second["status_code"], d["status"]) == (200, "succeeded")
    assert made_locally(hooks, d["id"]) == (hooks.mode == "local")


def test_retry_after_header_is_honoured(hooks):
    rcv = Receiver([NEW], script=[{"status": 429, "headers": {"Retry-After": "1.5"}}]).start()
    try:
        job = run(hooks, rcv.url())
        d = settled(hooks, job["id"], attempts=2)
        reqs = rcv.wait_for(2)
    finally:
        rcv.stop()
    assert reqs[1]["at"] - reqs[0]["at"] >= 1.45  # not the schedule's 0.2 s
    assert [a["status_code"] for a in d["attempts"]] == [429, 200]


def test_other_4xx_stops_after_one_more_try(hooks):
    rcv = Receiver([NEW], script=[{"status": 400}, {"status": 400}]).start()
    try:
        job = run(hooks, rcv.url())
        d = settled(hooks, job["id"], attempts=2)
    finally:
        rcv.stop()
    assert due_at(hooks, d["id"]) is None  # settled in the same write: nothing more is sent
    assert len(rcv.requests) == 2 and len(d["attempts"]) == 2
    assert d["status"] == "failed" and d["error"]["code"] == "webhook_http_error"
    assert hooks.client.get(f"/v1/jobs/{job['id']}").json()["status"] == "succeeded"


def test_410_disables_the_endpoint_and_manual_retry_redelivers(hooks):
    rcv = Receiver([NEW], script=[{"status": 410}]).start()
    try:
        gone = settled(hooks, run(hooks, rcv.url())["id"])
        assert gone["status"] == "failed" and gone["error"]["code"] == "endpoint_gone"
        assert gone["attempts"][0]["outcome"] == "endpoint_disabled"
        job = run(hooks, rcv.url(), "second job, same endpoint")
        skipped = settled(hooks, job["id"])
        assert skipped["status"] == "skipped" and skipped["error"]["code"] == "endpoint_disabled"
        assert "410" in skipped["error"]["message"] and len(rcv.requests) == 1

        r = hooks.client.post(f"/v1/jobs/{job['id']}/deliveries/{skipped['id']}/retry")
        assert r.status_code == 202 and r.json()["id"] == skipped["id"], r.text
        d = settled(hooks, job["id"], attempts=2)
        assert d["status"] == "succeeded" and d["manual_retries"] == 1
        assert rcv.wait_for(2)[1]["id"] == skipped["id"]
    finally:
        rcv.stop()


def test_timeout_is_recorded_and_retried(hooks):
    rcv = Receiver([NEW], script=[{"sleep": 2.5}]).start()
    try:
        job = run(hooks, rcv.url())
        d = settled(hooks, job["id"], attempts=2)
    finally:
        rcv.stop()
    first, second = d["attempts"]
    assert first["error"]["code"] == "webhook_timeout" and first["status_code"] is None
    assert first["latency_ms"] >= 1400 and second["status_code"] == 200
    assert len(rcv.processed) == 1 and {r["id"] for r in rcv.requests} == {d["id"]}


def test_receiver_down_then_up_on_the_same_port(hooks):
    port = free_port()
    job = run(hooks, f"http://127.0.0.1:{port}/hook")
    deadline = time.time() + 10

    def retries_scheduled() -> int:
        found = deliveries(hooks, job["id"])  # the delivery appears just after the job settles
        return sum(a["outcome"] == "retry_scheduled" for a in found[0]["attempts"]) if found else 0

    while time.time() < deadline and retries_scheduled() < 2:
        time.sleep(0.05)
    rcv = Receiver([NEW], port=port).start()
    try:
        d = settled(hooks, job["id"], timeout=15)
    finally:
        rcv.stop()
    assert d["status"] == "succeeded"
    assert all(a["error"]["code"] == "webhook_connection_error" for a in d["attempts"][:-1])
    assert len(d["attempts"]) >= 3 and d["attempts"][-1]["status_code"] == 200


def test_secret_rotation_old_or_new_receiver_verifies(hooks):
    old, new = Receiver([OLD]).start(), Receiver([NEW]).start()
    try:
        for rcv in (old, new):
            settled(hooks, run(hooks, rcv.url())["id"])
        for rcv in (old, new):
            (req,) = rcv.requests
            assert req["verified"] == [True] and req["status"] == 200
            assert len(req["headers"]["webhook-signature"].split(" ")) == 2
    finally:
        old.stop()
        new.stop()


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/",
                                 "http://10.1.2.3/hook"])
def test_ssrf_refused_at_submission(hooks, url):
    """Known-private targets are refused at POST (422), naming the allow-list setting."""
    r = hooks.client.submit({"text": "hello webhooks", "webhook_url": url})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "url_not_allowed"
    assert "MMS_WEBHOOK_ALLOWLIST" in r.json()["error"]["message"]


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/",
                                 "http://10.1.2.3/hook"])
def test_ssrf_refused_at_delivery_time_without_retries(hooks, url):
    """A record carrying a private target (one that turned private after submission, e.g. by
    DNS) is refused when delivering, for good: one final attempt, no retry due."""
    store = DeliveryStore(hooks.r, 3600, KEYS)
    deps, queued = in_process_deps(hooks, WEBHOOK_LOCAL_FIRST_ATTEMPT="on",
                                   WEBHOOK_LOCAL_SENDERS=1)
    job = {"tenant": "default", "status": "succeeded", "webhook_url": url,
           "id": f"job_ssrf{hooks.mode}{url.split('.')[1]}"}
    did = on_job_terminal(job, deps, local_ok=True)
    wait_until(lambda: store.get("default", did)["status"] != "pending")
    d = store.get("default", did)
    assert due_at(hooks, did) is None and queued == []  # refused for good: nothing more is sent
    (a,) = d["attempts"]
    assert d["status"] == "failed" and d["error"]["code"] == "url_not_allowed"
    assert a["error"]["code"] == "url_not_allowed" and "refused" in a["error"]["message"]


def test_failed_and_canceled_jobs_send_their_events(hooks):
    rcv = Receiver([NEW]).start()
    try:
        failed = run(hooks, rcv.url(), "make it fail [[fault:400]]")
        assert failed["status"] == "failed"
        r = hooks.client.submit({"text": "slow [[fault:latency=1500]]", "webhook_url": rcv.url()})
        canceled = hooks.client.delete(f"/v1/jobs/{r.json()['id']}").json()
        assert canceled["status"] == "canceled"
        for job in (failed, canceled):
            assert settled(hooks, job["id"])["status"] == "succeeded"
        events = {e["type"]: e for e in rcv.processed.values()}
    finally:
        rcv.stop()
    assert set(events) == {"job.failed", "job.canceled"}
    for kind, job in (("job.failed", failed), ("job.canceled", canceled)):
        assert events[kind]["data"] == hooks.client.get(f"/v1/jobs/{job['id']}").json()


def test_manual_retry_and_not_found(hooks):
    rcv = Receiver([NEW]).start()
    try:
        job = run(hooks, rcv.url())
        d = settled(hooks, job["id"])
        r = hooks.client.post(f"/v1/jobs/{job['id']}/deliveries/{d['id']}/retry")
        assert r.status_code == 202 and r.json()["status"] == "pending"
        d = settled(hooks, job["id"], attempts=2)
        reqs = rcv.wait_for(2)
    finally:
        rcv.stop()
    assert [a["status_code"] for a in d["attempts"]] == [200, 200]
    assert reqs[0]["id"] == reqs[1]["id"] == d["id"] and reqs[1]["duplicate"]
    for path, code in ((f"/v1/jobs/{job['id']}/deliveries/msg_nope/retry", "delivery_not_found"),
                       (f"/v1/jobs/job_nope/deliveries/{d['id']}/retry", "job_not_found")):
        r = hooks.client.post(path)
        assert r.status_code == 404 and r.json()["error"]["code"] == code, r.text
    other = hooks.client.submit({"text": "no webhook"}).json()["id"]
    r = hooks.client.post(f"/v1/jobs/{other}/deliveries/{d['id']}/retry")
    assert r.status_code == 404 and r.json()["error"]["code"] == "delivery_not_found"
    assert hooks.client.get("/v1/jobs/job_nope/deliveries").status_code == 404
    assert deliveries(hooks, other) == []


def test_worker_killed_mid_delivery_no_duplicate(hooks):
    """SIGKILL while the receiver holds the request open: the next worker resends the same
    webhook-id, the receiver's dedupe processes it once, and the record settles once."""
    rcv = Receiver([NEW], script=[{"hold": 1.0}]).start()
    try:
        job = run(hooks, rcv.url())
        assert rcv.arrived.wait(20), "the delivery never reached the receiver"
        hooks.worker.kill()
        hooks.worker = hooks.stack.add_worker("hooks-heir")
        d = settled(hooks, job["id"], timeout=40, attempts=2)
    finally:
        rcv.stop()
    assert due_at(hooks, d["id"]) is None  # settled: no sweeper sends it again
    assert {r["id"] for r in rcv.requests} == {d["id"]} and len(rcv.requests) >= 2
    assert len(rcv.processed) == 1 and all(r["verified"] == [True] for r in rcv.requests)
    assert [a["outcome"] for a in d["attempts"]] == ["interrupted", "succeeded"]
    assert d["status"] == "succeeded"
    assert made_locally(hooks, d["id"]) == (hooks.mode == "local")
