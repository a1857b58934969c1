"""Two "hosts" that share only Redis and S3: the API on host A (this process), the worker on
host B (its own process), each with its own working folder and no shared disk. Text, image,
chunked audio and TTS jobs succeed across them, webhooks go out from host B, and a job deleted
on host A has its media gone from S3.

Why separate folders prove the point: each side's `MMS_BLOB_DIR` is a folder of its own; had
anything gone through a local folder, the other side could not have read it (and the folders
are checked to be empty at the end).
"""
from __future__ import annotations

import os
import time

import pytest

from mediagen import bursts_wav, image
from mmservice.testing.stack import ApiServer, Client, WorkerProcess, wait_until
from webhook_receiver import Receiver

SECRET = "whsec_" + "dHdvaG9zdHMtdGVzdC1zZWNyZXQtMDEyMzQ1Njc4OQ=="
BUCKET, PREFIX = "mms-two-hosts", "prod/eu"


@pytest.fixture(scope="module")
def hosts(base_cfg, redis_databases, s3_server, tmp_root):
    shared = {**base_cfg, **s3_server.cfg(BUCKET, PREFIX), "REDIS_URL": redis_databases.allocate(),
              "WEBHOOK_SECRETS": SECRET, "WEBHOOK_ALLOWLIST": "127.0.0.1",
              "WEBHOOK_RETRY_SCHEDULE_S": "0.5,1"}
    folders = {h: tmp_root / f"host-{h}" for h in ("a", "b")}
    for f in folders.values():
        f.mkdir()
    worker = WorkerProcess({**shared, "BLOB_DIR": str(folders["b"] / "blobs")},
                           str(folders["b"] / "worker.log"), name="hostb").start()
    api = ApiServer({**shared, "BLOB_DIR": str(folders["a"] / "blobs")})
    receiver = Receiver([SECRET]).start()
    yield {"api": api, "client": Client(api.base, api.key), "folders": folders,
           "shared": shared, "receiver": receiver, "worker": worker}
    receiver.stop()
    api.stop()
    worker.stop()
    for f in folders.values():  # no blob ever touched either host's disk
        assert not any(files for _d, _s, files in os.walk(f / "blobs")), f


def s3_keys(hosts, job_id: str) -> list[str]:
    store = hosts["api"].app.extensions["mms"].blobs
    prefix = f"{PREFIX}/default/{job_id}/"
    found = store.client.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(o["Key"].removeprefix(prefix) for o in found.get("Contents") or ())


def test_text_job_succeeds_and_its_webhook_goes_out(hosts):
    c, rcv = hosts["client"], hosts["receiver"]
    job = c.run({"text": "have a nice day", "webhook_url": rcv.url("/two-hosts")})
    assert job["status"] == "succeeded", job
    wait_until(lambda: any(e["data"]["id"] == job["id"] for e in rcv.processed.values()), 20,
               what="the webhook from host B")
    event = next(e for e in rcv.processed.values() if e["data"]["id"] == job["id"])
    assert event["type"] == "job.succeeded"


def test_image_uploaded_on_a_is_read_on_b(hosts):
    c = hosts["client"]
    r = c.submit_file("x.png", image("PNG", (96, 64)), "image/png")
    assert r.status_code == 202, r.text
    job = c.poll(r.json()["id"], 60)
    assert job["status"] == "succeeded", job
    assert job["results"]["moderation"]["verdict"] in ("allow", "review", "block")
    assert s3_keys(hosts, job["id"]) == ["input"]


def test_long_audio_is_chunked_through_s3(hosts):
    c = hosts["client"]
    r = c.submit_file("long.wav", bursts_wav(65.0), "audio/wav", {"tasks": "transcribe"})
    assert r.status_code == 202, r.text
    job = c.poll(r.json()["id"], 120)
    assert job["status"] == "succeeded", job
    assert len(job["results"]["transcription"]["chunks"]) >= 3  # 30 s chunks in the tests
    # Chunks went through S3 and are removed right after the stitch (which settles the job).
    wait_until(lambda: s3_keys(hosts, job["id"]) == ["input"], 10, what="chunks removed")


def test_speech_made_on_b_is_served_by_a(hosts):
    c = hosts["client"]
    job = c.run({"text": "Stored in S3.", "tasks": ["speak"], "options": {"format": "wav"}})
    assert job["status"] == "succeeded", job
    r = c.get(f"/v1/jobs/{job['id']}/speech", allow_redirects=False)
    assert r.status_code == 200 and r.content[:4] == b"RIFF"
    assert int(r.headers["Content-Length"]) == len(r.content) == job["results"]["speech"]["bytes"]
    assert s3_keys(hosts, job["id"]) == ["speech"]


def test_speech_redirects_to_a_presigned_url_when_configured(hosts):
    c = hosts["client"]
    job = c.run({"text": "Presigned.", "tasks": ["speak"], "options": {"format": "wav"}})
    api = ApiServer({**hosts["shared"], "S3_PRESIGN_TTL_S": 120,
                     "BLOB_DIR": str(hosts["folders"]["a"] / "blobs")})
    try:
        presigning = Client(api.base, api.key)
        r = presigning.get(f"/v1/jobs/{job['id']}/speech", allow_redirects=False)
        assert r.status_code == 307, r.text
        url = r.headers["Location"]
        assert url.startswith(hosts["shared"]["S3_ENDPOINT_URL"]) and "X-Amz-Expires=120" in url
        direct = presigning.s.get(url, headers={"Authorization": ""}, timeout=10)
        assert direct.status_code == 200 and direct.content[:4] == b"RIFF"
        assert direct.headers["Content-Type"] == "audio/wav"
        # Another tenant's key gets a 404, never a URL.
        from mmservice.testing.procs import make_key

        other = Client(api.base, make_key(hosts["shared"]["REDIS_URL"], tenant="tenant-b"))
        denied = other.get(f"/v1/jobs/{job['id']}/speech", allow_redirects=False)
        assert denied.status_code == 404 and "Location" not in denied.headers
    finally:
        api.stop()


def test_delete_on_a_removes_the_media_from_s3(hosts):
    c = hosts["client"]
    r = c.submit_file("x.png", image("PNG", (64, 64)), "image/png", {"tasks": "moderate"})
    job = c.poll(r.json()["id"], 60)
    assert job["status"] == "succeeded" and s3_keys(hosts, job["id"]) == ["input"]
    d = c.delete(f"/v1/jobs/{job['id']}")
    assert d.status_code == 200 and d.json()["media_deleted"] is True
    assert s3_keys(hosts, job["id"]) == []
    gone = c.get(f"/v1/jobs/{job['id']}/speech")
    assert gone.status_code == 404


def test_worker_on_b_never_wrote_to_its_folder_and_logged_no_secret(hosts):
    time.sleep(0.5)
    log = hosts["worker"].log_text()
    assert " ready." in log
    assert hosts["shared"]["S3_SECRET_ACCESS_KEY"] not in log
    assert not (hosts["folders"]["b"] / "blobs").exists() or \
        not any(files for _d, _s, files in os.walk(hosts["folders"]["b"] / "blobs"))


def test_large_audio_streams_to_s3_in_parts(hosts):
    """A 19 MB WAV: over the API's streaming threshold (8 MB) and the multipart size (5 MB),
    so it goes from the spool file to S3 in parts; the worker on B reads it back."""
    import hashlib

    from test_upload_streaming import long_wav

    data = long_wav(600)
    c = hosts["client"]
    r = c.submit_file("long.wav", data, "audio/wav", {"tasks": "transcribe"})
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["input"]["sha256"] == hashlib.sha256(data).hexdigest()
    store = hosts["api"].app.extensions["mms"].blobs
    head = store.client.head_object(Bucket=BUCKET, Key=f"{PREFIX}/default/{job['id']}/input")
    assert head["ContentLength"] == len(data)
    assert "-" in head["ETag"]  # a multipart upload's ETag is "<md5 of md5s>-<parts>"
    done = c.poll(job["id"], 180)
    assert done["status"] == "succeeded", done
