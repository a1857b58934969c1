"""The native job API end to end: submit over HTTP, a real worker runs it, poll the verdict."""
from __future__ import annotations

import base64
import http.server
import threading
import time
import uuid

import pytest

from mediagen import gif_two_frames, image
from mmservice.errors import NotFound
from mmservice.testing.stack import broker_idle, wait_until

CATS = {"harassment", "harassment/threatening", "hate", "hate/threatening", "illicit",
        "illicit/violent", "self-harm", "self-harm/intent", "self-harm/instructions", "sexual",
        "sexual/minors", "violence", "violence/graphic"}


def assert_moderation_shape(mod: dict) -> None:
    for key in ("flagged", "verdict", "categories", "category_scores", "assessed_categories",
                "model", "provider"):
        assert key in mod, key
    assert mod["verdict"] in ("allow", "review", "block")
    assert set(mod["category_scores"]) == set(mod["assessed_categories"])
    assert set(mod["categories"]) == set(mod["assessed_categories"])
    assert set(mod["assessed_categories"]) <= CATS


def test_text_job_is_moderated_and_blocked(stack, stub):
    # Cache off: another test may have moderated the same line (the upstream call is counted
    # below). A stack of its own with a generous upstream timeout: on a loaded machine the
    # shared stack's 2 s timeout can expire, and its retry would be counted as a second call.
    client = stack(cfg={"UPSTREAM_TIMEOUT_S": 30.0}).client
    stub.reset()
    r = client.submit({"text": "I will hurt you, you worthless idiot", "metadata": {"ref": "a1"},
                       "options": {"cache": False}})
    assert r.status_code == 202
    job = r.json()
    assert r.headers["Location"] == f"/v1/jobs/{job['id']}"
    assert job["status"] == "queued" and job["tasks"] == ["moderate"]
    assert job["input"]["kind"] == "text" and job["input"]["chars"] == 36
    done = client.poll(job["id"])
    assert done["status"] == "succeeded", done
    mod = done["results"]["moderation"]
    assert_moderation_shape(mod)
    assert mod["flagged"] is True and mod["verdict"] == "block"
    assert mod["categories"]["harassment"] is True
    assert set(mod["assessed_categories"]) == CATS  # text: every category assessed
    assert mod["provider"] == "openai" and mod["model"] == "omni-moderation-latest"
    assert mod["inputs"] == ["text"]
    assert done["metadata"] == {"ref": "a1"}
    for t in ("created_at", "updated_at", "started_at", "finished_at"):
        assert done[t].endswith("Z")
    # The Celery message carried the id, and the upstream received the text itself.
    calls = [c for c in stub.requests if c["path"].endswith("/moderations")]
    assert len(calls) == 1


def test_benign_text_is_allowed(client):
    job = client.run({"text": "thanks for sharing this lovely recipe"})
    mod = job["results"]["moderation"]
    assert job["status"] == "succeeded"
    assert mod["flagged"] is False and mod["verdict"] == "allow"
    assert all(v is False for v in mod["categories"].values())


def test_threshold_override_changes_verdict(client):
    text = "you worthless idiot"
    strict = client.run({"text": text})["results"]["moderation"]
    lax = client.run({"text": text, "options": {"thresholds": {
        "harassment": {"review": 0.999, "block": 0.9999}}}})["results"]["moderation"]
    assert strict["verdict"] in ("review", "block")
    assert lax["categories"]["harassment"] is False
    assert lax["thresholds"]["harassment"] == {"review": 0.999, "block": 0.9999}
    assert lax["category_scores"]["harassment"] == strict["category_scores"]["harassment"]


@pytest.mark.parametrize("fmt,mime,kw", [("PNG", "image/png", {}), ("JPEG", "image/jpeg", {}),
                                         ("WEBP", "image/webp", {})])
def test_image_upload_is_moderated(client, stub, fmt, mime, kw):
    data = image(fmt, (64, 48), (220, 20, 20), **kw)
    r = client.submit_file(f"x.{fmt.lower()}", data, mime)
    assert r.status_code == 202, r.text
    job = client.poll(r.json()["id"])
    assert job["status"] == "succeeded", job
    assert job["input"] == {**job["input"], "kind": "image", "mime": mime, "width": 64,
                            "height": 48, "bytes": len(data)}
    mod = job["results"]["moderation"]
    assert_moderation_shape(mod)
    # The stub judges a red image as sexual; only image-capable categories were assessed.
    assert mod["categories"]["sexual"] is True
    assert "harassment" not in mod["category_scores"]
    assert mod["inputs"] == ["image"]
    sent = [c for c in stub.requests if c["path"].endswith("/moderations")][-1]
    parts = sent["json"]["input"]
    assert len(parts) == 1 and parts[0]["type"] == "image_url"
    assert parts[0]["image_url"]["url"].startswith("data:image/")


def test_gif_first_frame_is_judged(client):
    r = client.submit_file("anim.gif", gif_two_frames(), "image/gif")
    job = client.poll(r.json()["id"])
    assert job["status"] == "succeeded", job
    assert job["results"]["moderation"]["categories"]["sexual"] is True  # red first frame


def test_image_as_data_url_with_text(client):
    b64 = base64.b64encode(image("PNG", (32, 32), (10, 200, 10))).decode()
    job = client.run({"image_url": f"data:image/png;base64,{b64}",
                      "text": "caption: you worthless idiot"})
    mod = job["results"]["moderation"]
    assert job["status"] == "succeeded"
    assert set(mod["inputs"]) == {"image", "text"}
    assert mod["categories"]["harassment"] is True and mod["categories"]["sexual"] is False


def test_image_url_fetched_by_worker(client):
    png = image("PNG", (20, 10), (220, 20, 20))

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(png)))
            self.end_headers()
            self.wfile.write(png)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        job = client.run({"image_url": f"http://127.0.0.1:{srv.server_address[1]}/a.png"})
    finally:
        srv.shutdown()
    assert job["status"] == "succeeded", job
    assert job["input"]["width"] == 20 and job["input"]["mime"] == "image/png"
    assert job["results"]["moderation"]["categories"]["sexual"] is True


def test_idempotency_key(client):
    key = {"Idempotency-Key": uuid.uuid4().hex}
    a = client.submit({"text": "hello there"}, key)
    b = client.submit({"text": "hello there"}, key)
    c = client.submit({"text": "something else"}, key)
    assert a.status_code == 202 and b.status_code == 200
    assert a.json()["id"] == b.json()["id"]
    assert c.status_code == 409 and c.json()["error"]["code"] == "idempotency_key_reused"
    other = client.submit({"text": "hello there"}, {"Idempotency-Key": uuid.uuid4().hex})
    assert other.json()["id"] != a.json()["id"]


def test_webhook_url_and_metadata_are_stored(client):
    job = client.submit({"text": "hi", "webhook_url": "https://hooks.example.com/x",
                         "metadata": {"user": 7, "tags": ["a"]}}).json()
    got = client.get(f"/v1/jobs/{job['id']}").json()
    assert got["webhook_url"] == "https://hooks.example.com/x"
    assert got["metadata"] == {"user": 7, "tags": ["a"]}


def test_list_filter_and_cursor(client):
    marker = uuid.uuid4().hex[:8]
    ids = [client.submit({"text": f"list {marker} {i}"}).json()["id"] for i in range(5)]
    for i in ids:
        client.poll(i)
    seen, cursor = [], None
    for _ in range(10):
        q = {"limit": 2, "status": "succeeded"} | ({"cursor": cursor} if cursor else {})
        page = client.get("/v1/jobs", params=q).json()
        assert len(page["data"]) <= 2
        assert all(j["status"] == "succeeded" for j in page["data"])
        seen += [j["id"] for j in page["data"]]
        cursor = page["next_cursor"]
        if not cursor or set(ids) <= set(seen):
            break
    assert set(ids) <= set(seen)
    assert len(seen) == len(set(seen)), "a page repeated a job"
    newest_first = [s for s in seen if s in ids]
    assert newest_first == sorted(ids, reverse=True)
    assert client.get("/v1/jobs", params={"status": "bogus"}).status_code == 422


def test_cancel_running_job_discards_result(client, stub, api):
    r = client.submit({"text": "slow one [[fault:latency=1500]]"})
    jid = r.json()["id"]
    client.poll(jid, until=("running",), timeout=10)
    d = client.delete(f"/v1/jobs/{jid}")
    assert d.status_code == 200 and d.json()["status"] == "canceled"
    # The task is acked (acks_late) only once it has returned: when the broker holds no message,
    # the upstream call has finished and the worker is done with the job.
    wait_until(lambda: broker_idle(api.app.extensions["mms"].redis, "moderation"), 30,
               what="the worker to finish the canceled job's task")
    assert stub.requests.matching("/moderations")
    job = client.get(f"/v1/jobs/{jid}").json()
    assert job["status"] == "canceled" and job["results"] == {}
    assert job["media_deleted"] is True


def test_delete_finished_job_removes_media_and_results(client, api):
    r = client.submit_file("a.png", image("PNG"), "image/png")
    jid = r.json()["id"]
    client.poll(jid)
    svc = api.app.extensions["mms"]
    assert svc.blobs.size(f"default/{jid}/input") > 0
    d = client.delete(f"/v1/jobs/{jid}").json()
    assert d["status"] == "succeeded" and d["results"] == {}
    with pytest.raises(NotFound):
        svc.blobs.size(f"default/{jid}/input")


def test_unknown_job_is_404(client):
    r = client.get("/v1/jobs/job_doesnotexist")
    assert r.status_code == 404 and r.json()["error"]["code"] == "job_not_found"
    assert client.delete("/v1/jobs/job_doesnotexist").status_code == 404
    assert client.get("/v1/jobs/job_doesnotexist/speech").status_code == 404


def test_health_ready_metrics_openapi(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["redis"]["ok"] and ready.json()["checks"]["broker"]["ok"]
    m = client.get("/metrics").text
    assert "mms_jobs_created_total" in m and 'mms_queue_depth{queue="moderation"}' in m
    spec = client.get("/openapi.json").json()
    assert "/v1/jobs" in spec["paths"] and "/v1/jobs/{job_id}" in spec["paths"]
    assert "JobRequest" in spec["components"]["schemas"]
    assert client.get("/v1/providers").json()["data"]["moderation"]["provider"] == "openai"


def test_readyz_503_when_redis_is_down(base_cfg, tmp_path):
    from mmservice import create_app
    from mmservice.embedded import free_port

    dead = f"redis://127.0.0.1:{free_port()}/0"
    app = create_app({**base_cfg, "REDIS_URL": dead, "BLOB_DIR": str(tmp_path)})
    c = app.test_client()
    r = c.get("/readyz")
    assert r.status_code == 503 and r.json["checks"]["redis"]["ok"] is False
    # A well-formed key must be looked up: with the store down that is a 503, never a 401.
    r = c.post("/v1/jobs", json={"text": "hello"},
               headers={"Authorization": "Bearer mms_abcd1234_" + "x" * 43})
    assert r.status_code == 503 and r.json["error"]["code"] == "store_unavailable"
    assert r.headers["Retry-After"]
    assert c.get("/healthz").status_code == 200


def test_secrets_never_in_results_or_logs(client, worker_log):
    job = client.run({"text": "hello [[fault:401]]"})
    assert job["status"] == "failed"
    blob = str(job)
    assert "sk-test-secret" not in blob
    with open(worker_log, encoding="utf-8", errors="replace") as f:
        assert "sk-test-secret" not in f.read()


def test_blob_sweep_removes_only_expired_job_media(tmp_path):
    import os

    from mmservice.blobs import LocalBlobStore

    store = LocalBlobStore(str(tmp_path))
    store.put("default/job_old/input", b"old")
    store.put("default/job_new/input", b"new")
    old = time.time() - 10_000
    os.utime(store.local_path("default/job_old/input"), (old, old))
    assert store.sweep(5_000) == 1
    assert store.get("default/job_new/input") == b"new"
    with pytest.raises(NotFound):
        store.get("default/job_old/input")
