"""The blob store contract, run against both backends: the local folder and S3 (a real
SeaweedFS server started by the harness). What one backend does, the other must do too: the
pipeline and the API use only this interface."""
from __future__ import annotations

import io
import os
import time
import urllib.request
import uuid

import pytest

from mmservice import config
from mmservice.blobs import BlobStore, LocalBlobStore, blob_store_from_config
from mmservice.errors import NotFound, Unavailable


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(str(tmp_path / "blobs"))
    server = request.getfixturevalue("s3_server")
    # A fresh prefix per test in one bucket: tests never see each other's objects.
    cfg = config.load({**server.cfg("mms-contract", f"t{uuid.uuid4().hex[:8]}"),
                       "S3_MULTIPART_MB": 5}, environ={})
    return blob_store_from_config(cfg)


def test_put_get_size_roundtrip(store):
    store.put("default/job_a/input", b"hello")
    assert store.get("default/job_a/input") == b"hello"
    assert store.size("default/job_a/input") == 5
    store.put("default/job_a/input", b"replaced")  # a retried step overwrites
    assert store.get("default/job_a/input") == b"replaced"


def test_missing_blob_is_not_found(store):
    for call in (store.get, store.size, store.open):
        with pytest.raises(NotFound) as err:
            call("default/nope/input")
        assert err.value.code == "media_not_found"


@pytest.mark.parametrize("key", ["../etc/passwd", "a//b", "/abs", "a/../b", "a b", ""])
def test_unsafe_keys_are_refused(store, key):
    with pytest.raises(ValueError):
        store.put(key, b"x")


def test_large_blob_streams_in_and_out(store):
    """12 MB through put_stream (multipart on S3, parts of 5 MB) and back through open()
    in chunks: both sides see the same bytes."""
    data = os.urandom(1024 * 1024) * 12
    assert store.put_stream("default/job_big/input", io.BytesIO(data)) == len(data)
    assert store.size("default/job_big/input") == len(data)
    reader = store.open("default/job_big/input")
    got = bytearray()
    try:
        while chunk := reader.read(1024 * 1024):
            assert len(chunk) <= 1024 * 1024
            got += chunk
    finally:
        reader.close()
    assert bytes(got) == data
    store.put("default/job_big/bytes", data)  # put() of a large value goes multipart too
    assert store.get("default/job_big/bytes") == data


def test_delete_prefix_deletes_one_job_only(store):
    store.put("default/job_1/input", b"1")
    store.put("default/job_1/chunks/0", b"c0")
    store.put("default/job_12/input", b"12")  # shares the string prefix, not the folder
    store.put("other/job_1/input", b"tenant b")
    assert store.delete_prefix("default/job_1") == 2
    with pytest.raises(NotFound):
        store.get("default/job_1/chunks/0")
    assert store.get("default/job_12/input") == b"12"
    assert store.get("other/job_1/input") == b"tenant b"
    assert store.delete_prefix("default/job_1") == 0


def test_sweep_removes_only_what_is_older_than_the_cutoff(store):
    """S3 dates objects to the second (truncated): the margins allow for it."""
    store.put("default/job_old/input", b"old")
    time.sleep(4)
    store.put("default/job_new/input", b"new")
    assert store.sweep(3600) == 0  # nothing that old
    assert store.sweep(2.5) >= 1
    assert store.get("default/job_new/input") == b"new"
    with pytest.raises(NotFound):
        store.get("default/job_old/input")


def test_download_url(store):
    store.put("default/job_s/speech", b"ID3audio")
    assert store.download_url("default/job_s/speech", "x.mp3", "audio/mpeg") is None


def test_s3_presigned_url_serves_the_blob(s3_server):
    cfg = config.load({**s3_server.cfg("mms-contract", "presign"), "S3_PRESIGN_TTL_S": 60},
                      environ={})
    store = blob_store_from_config(cfg)
    store.put("default/job_p/speech", b"ID3audio")
    url = store.download_url("default/job_p/speech", "job_p.mp3", "audio/mpeg")
    assert url and url.startswith(s3_server.endpoint_url) and "X-Amz-Signature" in url
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.read() == b"ID3audio"
        assert r.headers["Content-Type"] == "audio/mpeg"
        assert 'filename="job_p.mp3"' in r.headers["Content-Disposition"]
    store.put("default/job_q/speech", b"other")
    tampered = url.replace("job_p", "job_q", 1)  # another (existing) key, the same signature
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(tampered, timeout=10)
    assert err.value.code == 403


def test_s3_creates_a_missing_bucket_and_keys_live_under_the_prefix(s3_server):
    bucket = f"mms-new-{uuid.uuid4().hex[:8]}"
    store = blob_store_from_config(config.load(s3_server.cfg(bucket, "deploy/a"), environ={}))
    store.put("default/job_k/input", b"k")
    keys = [o["Key"] for o in store.client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["deploy/a/default/job_k/input"]


def test_s3_wrong_secret_is_refused_without_echoing_it(s3_server):
    cfg = config.load({**s3_server.cfg("mms-contract"), "S3_SECRET_ACCESS_KEY": "wrong-shh"},
                      environ={})
    with pytest.raises(Unavailable) as err:
        blob_store_from_config(cfg).put("default/job/input", b"x")
    assert err.value.status == 503 and err.value.code == "blob_store_unavailable"
    assert "SignatureDoesNotMatch" in err.value.message or "AccessDenied" in err.value.message
    assert "wrong-shh" not in err.value.message


def test_s3_without_bucket_creation_fails_loudly(s3_server):
    cfg = config.load({**s3_server.cfg(f"mms-absent-{uuid.uuid4().hex[:8]}"),
                       "S3_CREATE_BUCKET": False}, environ={})
    with pytest.raises(Unavailable) as err:
        blob_store_from_config(cfg).put("default/job/input", b"x")
    assert err.value.code == "blob_store_unavailable"


def test_s3_lifecycle_rule_covers_the_prefix(s3_server):
    store = blob_store_from_config(config.load(s3_server.cfg("mms-lifecycle", "p1"),
                                               environ={}))
    assert store.set_lifecycle(7 * 86400 + 3600) == 8
    rules = store.client.get_bucket_lifecycle_configuration(Bucket="mms-lifecycle")["Rules"]
    assert rules[0]["Expiration"]["Days"] == 8 and rules[0]["Filter"]["Prefix"] == "p1/"


def test_s3_retries_then_fails_on_a_dead_endpoint():
    """Nothing listens: botocore retries (standard mode) and the call fails within its
    timeouts instead of hanging, as a 503."""
    from mmservice.embedded import free_port

    cfg = config.load({"BLOB_URL": "s3://mms-dead", "S3_ENDPOINT_URL":
                       f"http://127.0.0.1:{free_port()}", "S3_ACCESS_KEY_ID": "a",
                       "S3_SECRET_ACCESS_KEY": "b", "S3_MAX_ATTEMPTS": 2, "S3_TIMEOUT_S": 1},
                      environ={})
    t0 = time.monotonic()
    with pytest.raises(Unavailable) as err:
        blob_store_from_config(cfg).get("default/job/input")
    assert err.value.status == 503 and err.value.retry_after
    assert time.monotonic() - t0 < 10


@pytest.mark.parametrize("url,ok", [
    ("", True), ("s3://bucket", True), ("s3://my.bucket-1/a/b", True),
    ("s3://B", False), ("http://bucket/x", False), ("s3://bucket/../x", False),
    ("s3://bucket/a b", False)])
def test_blob_url_setting_is_validated(url, ok):
    from mmservice.errors import Invalid

    if ok:
        assert config.load({"BLOB_URL": url}, environ={})["BLOB_URL"] == url
    else:
        with pytest.raises(Invalid) as err:
            config.load({"BLOB_URL": url}, environ={})
        assert err.value.field == "MMS_BLOB_URL"


def test_s3_credentials_are_secret_settings():
    cfg = config.load({"S3_ACCESS_KEY_ID": "AKIAEXAMPLE", "S3_SECRET_ACCESS_KEY": "shh"},
                      environ={})
    shown = config.redacted(cfg)
    assert shown["S3_ACCESS_KEY_ID"] == "***" and shown["S3_SECRET_ACCESS_KEY"] == "***"


def test_api_answers_503_when_the_blob_store_is_down(base_cfg, redis_databases):
    """An upload while S3 is unreachable: a clear 503 with Retry-After, never a 500, and no
    job record is left behind."""
    from mediagen import image
    from mmservice.embedded import free_port
    from mmservice.testing.stack import ApiServer, Client

    api = ApiServer({**base_cfg, "REDIS_URL": redis_databases.allocate(),
                     "BLOB_URL": "s3://mms-down/p", "S3_ACCESS_KEY_ID": "a",
                     "S3_SECRET_ACCESS_KEY": "b", "S3_ENDPOINT_URL":
                     f"http://127.0.0.1:{free_port()}", "S3_MAX_ATTEMPTS": 2,
                     "S3_TIMEOUT_S": 1})
    try:
        c = Client(api.base, api.key)
        r = c.submit_file("x.png", image("PNG"), "image/png")
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "blob_store_unavailable"
        assert r.headers["Retry-After"]
        assert c.get("/v1/jobs").json()["data"] == []
        assert c.submit({"text": "text needs no blob"}).status_code == 202
    finally:
        api.stop()


def _on_disk(root: str, needle: bytes) -> bool:
    for folder, _dirs, files in os.walk(root):
        for name in files:
            try:
                with open(os.path.join(folder, name), "rb") as f:
                    if needle in f.read():
                        return True
            except OSError:
                continue
    return False


def test_s3_server_side_encryption_keeps_plaintext_off_the_server_disk(s3_server):
    """`MMS_S3_SSE=AES256`: the object says so, reads back whole (also multipart), and its bytes
    are nowhere in the server's data files, where an unencrypted object's bytes are."""
    plain_marker = f"plain-{uuid.uuid4().hex}".encode()
    sealed_marker = f"sealed-{uuid.uuid4().hex}".encode()
    plain = blob_store_from_config(config.load(s3_server.cfg("mms-sse", "plain"), environ={}))
    sealed = blob_store_from_config(config.load({**s3_server.cfg("mms-sse", "sealed"),
                                                 "S3_SSE": "aes256", "S3_MULTIPART_MB": 5},
                                                environ={}))
    noise = os.urandom(64 * 1024)  # incompressible: the server stores it as sent
    plain.put("default/job/input", plain_marker + noise)
    sealed.put("default/job/input", sealed_marker + noise)
    big = os.urandom(1024) * (11 * 1024)
    sealed.put_stream("default/job/big", io.BytesIO(big))
    head = sealed.client.head_object(Bucket="mms-sse", Key="sealed/default/job/input")
    assert head["ServerSideEncryption"] == "AES256"
    assert sealed.get("default/job/input") == sealed_marker + noise
    assert sealed.get("default/job/big") == big
    assert _on_disk(s3_server.data_dir, plain_marker)
    assert not _on_disk(s3_server.data_dir, sealed_marker)


def test_s3_whole_object_calls_go_through_obstore_and_agree_with_boto3(s3_server):
    """`put` and `get` take obstore (`mmservice.s3_fast`); what one client writes the other
    reads, under the prefix, with the bucket made on the first write."""
    bucket = f"mms-fast-{uuid.uuid4().hex[:8]}"
    store = blob_store_from_config(config.load(s3_server.cfg(bucket, "p"), environ={}))
    assert store.fast is not None and store.fast.store() is not None
    data = bytes(range(256)) * 400
    store.put("default/job_f/input", data)  # obstore; the bucket is created on the way
    got = store.client.get_object(Bucket=bucket, Key="p/default/job_f/input")["Body"].read()
    assert got == data
    store.client.put_object(Bucket=bucket, Key="p/default/job_f/other", Body=b"from boto3")
    assert store.get("default/job_f/other") == b"from boto3"
    assert store.size("default/job_f/input") == len(data)
    store.delete_prefix("default/job_f")
    with pytest.raises(NotFound):
        store.get("default/job_f/input")


def test_s3_without_credentials_anywhere_uses_boto3_alone(s3_server, monkeypatch):
    """No keys in the settings and none in boto3's chain: obstore is not used, and the call
    fails as boto3 fails it (a 503), not with a 500."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    cfg = {**s3_server.cfg("mms-anon"), "S3_ACCESS_KEY_ID": "", "S3_SECRET_ACCESS_KEY": "",
           "S3_MAX_ATTEMPTS": 1}
    store = blob_store_from_config(config.load(cfg, environ={}))
    assert store.fast is not None and store.fast.store() is None
    with pytest.raises(Unavailable):
        store.put("default/job_a/input", b"x")


def test_local_store_writes_no_folder_per_job_and_still_reads_the_older_layout(tmp_path):
    """Jobs' files share 256 shard folders per tenant (a folder per job made every upload pay
    for a fresh folder: `mmservice/local_blobs.py`); blobs written in the older per-job layout
    are still read, deleted by `delete_prefix` and swept."""
    root = tmp_path / "blobs"
    store = LocalBlobStore(str(root))
    for i in range(300):
        store.put(f"default/job_{i}/input", b"x")
    folders = [d for d in os.listdir(root / "default")]
    assert len(folders) <= 256 and all(len(d) == 2 for d in folders)
    store.put("default/job_7/chunks/0", b"c")
    assert store.get("default/job_7/chunks/0") == b"c"
    assert store.delete_prefix("default/job_7/chunks") == 1
    assert store.get("default/job_7/input") == b"x"

    old = root / "default" / "job_before" / "chunks"
    old.mkdir(parents=True)
    (old / "0").write_bytes(b"old chunk")
    (root / "default" / "job_before" / "input").write_bytes(b"old input")
    assert store.get("default/job_before/chunks/0") == b"old chunk"
    assert store.size("default/job_before/input") == 9
    with store.open("default/job_before/input") as f:
        assert f.read() == b"old input"
    assert store.delete_prefix("default/job_before") == 2
    assert not (root / "default" / "job_before").exists()

    (root / "default" / "job_ancient").mkdir()
    (root / "default" / "job_ancient" / "input").write_bytes(b"a")
    long_ago = time.time() - 10_000
    os.utime(root / "default" / "job_ancient", (long_ago, long_ago))
    os.utime(store.local_path("default/job_3/input"), (long_ago, long_ago))
    assert store.sweep(5_000) == 2  # one job of each layout
    assert not (root / "default" / "job_ancient").exists()
    with pytest.raises(NotFound):
        store.get("default/job_3/input")
    assert store.get("default/job_4/input") == b"x"


def test_embedded_s3_starts_again_on_new_ports_when_one_was_taken(tmp_path, monkeypatch):
    """The ports are picked free, then bound by weed a moment later: one taken in between
    (here: held by a listener of ours before the pick returns it) makes weed exit at once.
    The launcher must see the clash in weed's log and start again on fresh ports. Only the
    port choice is steered; the server is the real one."""
    import socket

    from mmservice import seaweed

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    taken = holder.getsockname()[1]
    picks = []
    real_pick = seaweed.free_port

    def pick() -> int:
        picks.append(taken if len(picks) == 1 else real_pick())  # the master's port, once
        return picks[-1]
    monkeypatch.setattr(seaweed, "free_port", pick)
    server = seaweed.EmbeddedS3(str(tmp_path / "weed"))
    try:
        server.start(timeout=60)
        assert server.alive()
        assert len(picks) > 8, picks  # a second set of ports was picked
        log = (tmp_path / "weed" / "weed.log").read_text(errors="replace")
        assert f"{taken}: bind: address already in use" in log
    finally:
        server.stop()
        holder.close()


def test_embedded_s3_reports_a_clash_it_cannot_get_past(tmp_path, monkeypatch):
    """Every attempt given a taken port: the error names the bind failure after the attempts
    allowed, not a bare exit code."""
    import socket

    from mmservice import seaweed

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    taken = holder.getsockname()[1]
    monkeypatch.setattr(seaweed, "free_port", lambda: taken)
    server = seaweed.EmbeddedS3(str(tmp_path / "weed"))
    try:
        with pytest.raises(RuntimeError, match="could not bind its ports in 2 attempts") as e:
            server.start(timeout=60, attempts=2)
        assert "address already in use" in str(e.value)
        assert not server.alive()
    finally:
        server.stop()
        holder.close()
