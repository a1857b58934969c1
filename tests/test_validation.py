"""Bad input gets a clear 4xx JSON error with a stable code: never a 500, never a hang."""
from __future__ import annotations

import base64
import os
import socket

import pytest

from mediagen import image, png_bomb, wav


def err(r, status: int, code: str, field: str | None = None) -> dict:
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()["error"]
    assert body["code"] == code, body
    assert body["message"]
    if field:
        assert body.get("field") == field, body
    return body


def test_malformed_json(client):
    r = client.post("/v1/jobs", data=b"{not json", headers={"Content-Type": "application/json"})
    err(r, 400, "malformed_json")
    r = client.post("/v1/jobs", data=b"[1, 2]", headers={"Content-Type": "application/json"})
    err(r, 400, "malformed_json")


def test_empty_and_missing_input(client):
    err(client.submit({"text": ""}), 422, "validation_error", "text")
    err(client.submit({"text": "   "}), 422, "validation_error", "text")
    err(client.submit({}), 422, "no_input")


def test_unknown_fields_rejected(client):
    err(client.submit({"text": "a", "txt": "b"}), 422, "unknown_field", "txt")
    err(client.submit({"text": "a", "options": {"threshold": 1}}), 422, "unknown_field",
        "options.threshold")
    r = client.post("/v1/jobs", data={"text": "a", "colour": "red"})
    err(r, 422, "unknown_field", "colour")


def test_wrong_types_and_values(client):
    err(client.submit({"text": 5}), 422, "validation_error", "text")
    err(client.submit({"text": "a", "tasks": ["explode"]}), 422, "validation_error", "tasks.0")
    err(client.submit({"text": "a", "tasks": ["describe"]}), 422, "task_not_applicable", "tasks")
    err(client.submit({"text": "a", "options": {"thresholds": {"nonsense": 0.5}}}), 422,
        "validation_error", "options.thresholds")
    err(client.submit({"text": "a", "options": {"thresholds": {"hate": 3}}}), 422,
        "validation_error", "options.thresholds")
    err(client.submit({"text": "a", "webhook_url": "not a url"}), 422, "invalid_url",
        "webhook_url")
    r = client.post("/v1/jobs", data={"text": "a", "options": "{broken"})
    err(r, 400, "malformed_json", "options")


def test_review_above_block_is_refused(client):
    body = err(client.submit({"text": "a", "options": {"thresholds": {
        "hate": {"review": 0.9, "block": 0.2}}}}), 422, "validation_error", "options.thresholds")
    assert "hate" in body["message"] and "block" in body["message"], body
    # Equal lines, and a bare number above the default block line, are fine. A text no other
    # test sends: a line another test's job already moderated would be answered from the
    # cache at intake (200), not queued (202).
    ok = client.submit({"text": "equal review and block lines are accepted", "options": {
        "thresholds": {"hate": {"review": 0.6, "block": 0.6}, "violence": 0.95}}})
    assert ok.status_code == 202, ok.text


def test_unsupported_content_type(client):
    r = client.post("/v1/jobs", data=b"text=hi", headers={"Content-Type": "text/plain"})
    err(r, 415, "unsupported_content_type")


def test_wrong_magic_bytes(client):
    r = client.submit_file("fake.png", b"MZ\x90\x00" + b"\x00" * 200, "image/png")
    err(r, 415, "unsupported_media_type", "file")
    r = client.submit_file("x.png", b"", "image/png")
    err(r, 422, "empty_file", "file")


def test_corrupt_image(client):
    r = client.submit_file("broken.png", image("PNG", (64, 48))[:60], "image/png")
    err(r, 422, "corrupt_image", "file")


def test_truncated_jpeg_is_corrupt(client):
    import io

    from PIL import Image

    noisy = Image.merge("RGB", [Image.effect_noise((200, 150), 60) for _ in range(3)])
    buf = io.BytesIO()
    noisy.save(buf, "JPEG")
    data = buf.getvalue()
    assert client.submit_file("ok.jpg", data, "image/jpeg").status_code == 202
    for cut in (len(data) // 2, len(data) * 9 // 10):  # cut inside the scan
        r = client.submit_file("broken.jpg", data[:cut], "image/jpeg")
        err(r, 422, "corrupt_image", "file")


def test_decompression_bomb_is_refused_fast(client, monkeypatch):
    """Refused from the header: no pixel is decoded (the API runs in this process)."""
    from PIL import ImageFile

    real_load, loaded = ImageFile.ImageFile.load, []

    def load(self):
        loaded.append(self.size)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    data = png_bomb(60000)
    r = client.submit_file("bomb.png", data, "image/png")
    # The devstub runs in this process too and may be decoding an earlier test's image for the
    # worker meanwhile: only a load of the bomb itself would be a failure.
    assert (60000, 60000) not in loaded, loaded
    assert r.status_code == 422 and r.json()["error"]["code"].startswith("image_too_large")


def test_absurd_aspect_ratio(client):
    r = client.submit_file("strip.png", image("PNG", (4000, 10)), "image/png")
    err(r, 422, "image_aspect_ratio", "file")


def test_oversized_upload(base_cfg, tmp_path):
    """Per-kind limits answer 413 with the kind's code; the overall body limit answers 413 too."""
    from mmservice import create_app
    from mmservice.testing.procs import keyed_client

    app = create_app({**base_cfg, "BLOB_DIR": str(tmp_path), "MAX_IMAGE_BYTES": 2000,
                      "MAX_AUDIO_BYTES": 4000, "MAX_VIDEO_BYTES": 6000,
                      "MAX_TEXT_CHARS": 10})
    c = keyed_client(app)
    big = image("PNG", (300, 300), (1, 2, 3), compress_level=0)
    import io
    r = c.post("/v1/jobs", data={"file": (io.BytesIO(big), "a.png")})
    assert r.status_code == 413 and r.json["error"]["code"] == "image_too_large"
    r = c.post("/v1/jobs", data={"file": (io.BytesIO(wav(1.0)), "a.wav")})
    assert r.status_code == 413 and r.json["error"]["code"] == "audio_too_large"
    r = c.post("/v1/jobs", json={"text": "x" * 11})
    assert r.status_code == 413 and r.json["error"]["code"] == "text_too_long"
    r = c.post("/v1/jobs", data={"file": (io.BytesIO(os.urandom(2 * 1024 * 1024)), "a.bin")})
    assert r.status_code == 413 and r.json["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/", "https://169.254.169.254/x",
    "https://localhost/a.png", "https://10.0.0.8/a.png", "https://[::1]/a.png",
    "https://192.168.1.1/a.png", "file:///etc/passwd", "gopher://example.com/",
    "https://user:pw@example.com/a.png", "https://metadata.google.internal/x",
    "https://0x7f000001/a.png",
])
def test_ssrf_prone_image_urls_refused(base_cfg, tmp_path, url):
    """Without an allow-list, private, loopback, link-local and metadata targets are refused."""
    from mmservice import create_app
    from mmservice.testing.procs import keyed_client

    app = create_app({**base_cfg, "BLOB_DIR": str(tmp_path), "ALLOW_PRIVATE_URLS": ""})
    r = keyed_client(app).post("/v1/jobs", json={"image_url": url})
    assert r.status_code == 422, (url, r.json)
    assert r.json["error"]["code"] in ("url_not_allowed", "invalid_url", "url_unresolvable")
    assert r.json["error"]["field"] == "image_url"


def test_ssrf_checked_again_at_fetch_time(base_cfg):
    """A hostname is resolved when the worker connects; a private answer is refused then."""
    from mmservice import config
    from mmservice.errors import Invalid
    from mmservice.jobs.media_source import fetch_url

    cfg = config.load({**base_cfg, "ALLOW_PRIVATE_URLS": ""}, environ={})
    host = socket.gethostname()  # resolves (via /etc/hosts) to this machine's own address
    with pytest.raises(Invalid) as e:
        fetch_url(f"http://{host}:1/x.png", cfg)
    assert e.value.code == "url_not_allowed"


def test_bad_data_urls(client):
    err(client.submit({"image_url": "data:image/png,rawbytes"}), 422, "invalid_data_url",
        "image_url")
    err(client.submit({"image_url": "data:image/png;base64,!!!"}), 422, "invalid_base64",
        "image_url")
    wav_b64 = base64.b64encode(wav(0.2)).decode()
    err(client.submit({"image_url": f"data:audio/wav;base64,{wav_b64}"}), 415,
        "unsupported_media_type", "image_url")


def test_idempotency_key_too_long(client):
    err(client.submit({"text": "a"}, {"Idempotency-Key": "k" * 300}), 400, "invalid_header",
        "Idempotency-Key")


def test_method_not_allowed_is_json(client):
    r = client.s.put(client.url("/v1/jobs"), json={})
    err(r, 405, "method_not_allowed")


def test_image_fetch_by_hostname_connects_to_the_checked_address(base_cfg):
    """A hostname is resolved, the address checked against the allow-list, and the connection
    pinned to that address with the original Host header (no second DNS lookup)."""
    import http.server
    import threading

    from mediagen import image
    from mmservice import config
    from mmservice.jobs.media_source import fetch_url

    host = socket.gethostname()
    address = socket.getaddrinfo(host, 80, proto=socket.IPPROTO_TCP)[0][4][0]
    png, seen = image("PNG", (8, 8)), []

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.headers["Host"])
            self.send_response(200)
            self.send_header("Content-Length", str(len(png)))
            self.end_headers()
            self.wfile.write(png)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer((address, 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        cfg = config.load({**base_cfg, "ALLOW_PRIVATE_URLS": address}, environ={})
        port = srv.server_address[1]
        assert fetch_url(f"http://{host}:{port}/a.png", cfg) == png
    finally:
        srv.shutdown()
    assert seen == [f"{host}:{port}"]
