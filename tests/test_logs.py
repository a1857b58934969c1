"""No secret and no media byte reaches a log line, and every line is JSON with its job bound.

A real stack at DEBUG (the level an operator turns on when something is wrong, and the one that
logs the most): its own worker and API on Redis database 12, an upstream API key, a webhook
secret and an image that each carry a unique marker. Text, an image and a webhook job whose
first attempt fails run through it (plus one failed upstream call and one manual redelivery),
then every line the worker and the API wrote is read back.
"""
from __future__ import annotations

import base64
import io
import json
import logging
import os
import re
import time
import uuid
from types import SimpleNamespace

import pytest
from PIL import Image, PngImagePlugin

from conftest import Client
from mmservice import logs
from mmservice.webhooks import signing
from webhook_receiver import Receiver

RUN = uuid.uuid4().hex
API_KEY = f"upstreamkey{RUN}"  # shaped like nothing the redaction step knows: not masked there
SECRET = signing.new_secret()
IMAGE_MARKER = f"imagemarker{RUN}"
REQUEST_ID = f"req-{RUN[:12]}"


def marked_png() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", IMAGE_MARKER)
    buf = io.BytesIO()
    Image.frombytes("RGB", (96, 64), os.urandom(96 * 64 * 3)).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


@pytest.fixture(scope="module")
def env(module_stack, base_cfg, stub):
    stub.reset()
    api_lines = io.StringIO()
    capture = logging.StreamHandler(api_lines)  # the API's stderr handler, into a buffer
    capture.setFormatter(logs.formatter())
    logging.getLogger().addHandler(capture)
    s = module_stack(cfg={"LOG_LEVEL": "DEBUG", "OPENAI_API_KEY": API_KEY,
                          "WEBHOOK_SECRETS": SECRET, "WEBHOOK_ALLOWLIST": "127.0.0.1",
                          "WEBHOOK_RETRY_SCHEDULE_S": "0.2,0.4,0.8",
                          "WEBHOOK_LOCAL_FIRST_ATTEMPT": "off"}, name="logs")
    receiver = Receiver([SECRET], script=[{"status": 500}]).start()
    yield SimpleNamespace(cfg=s.cfg, worker=s.worker, api=s.api, client=s.client,
                          receiver=receiver, api_lines=api_lines, worker_log=s.log_path)
    receiver.stop()
    logging.getLogger().removeHandler(capture)
    logs.setup(base_cfg["LOG_LEVEL"])


def settled_delivery(c: Client, job_id: str, timeout: float = 20) -> dict:
    deadline = time.time() + timeout
    while True:
        found = c.get(f"/v1/jobs/{job_id}/deliveries").json()["data"]
        if found and found[0]["status"] != "pending" or time.time() > deadline:
            return found[0]
        time.sleep(0.05)


def run_everything(env, stub) -> dict:
    c = env.client
    stub.script("/moderations", [{"status": 500}])  # one failed upstream call, logged
    text = c.run({"text": "hello, a plain text job"})
    png = marked_png()
    r = c.submit_file("marked.png", png, "image/png", {"tasks": "moderate,describe"})
    assert r.status_code == 202, r.text
    image = c.poll(r.json()["id"])
    hook = c.run({"text": "a job with a webhook", "webhook_url": env.receiver.url()})
    assert [j["status"] for j in (text, image, hook)] == ["succeeded"] * 3
    env.receiver.wait_for(2)  # the 500, then the retry
    delivery = settled_delivery(c, hook["id"])
    again = c.post(f"/v1/jobs/{hook['id']}/deliveries/{delivery['id']}/retry",
                   headers={"X-Request-Id": REQUEST_ID})
    assert again.status_code == 202, again.text
    env.receiver.wait_for(3)
    return {"text": text, "image": image, "hook": hook, "png": png, "delivery": delivery}


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_no_secret_or_media_in_any_line_and_lines_are_json_with_the_job_bound(env, stub):
    done = run_everything(env, stub)
    with open(env.worker_log, encoding="utf-8", errors="replace") as f:
        worker_text = f.read()
    api_text = env.api_lines.getvalue()
    b64 = base64.b64encode(done["png"]).decode()
    secret_body = SECRET.removeprefix("whsec_")
    for name, text in (("worker", worker_text), ("api", api_text)):
        for marker in (API_KEY, SECRET, secret_body, IMAGE_MARKER, b64[:80], b64[-80:],
                       b64[len(b64) // 2:len(b64) // 2 + 80]):
            assert marker not in text, f"{name} log holds {marker[:24]}..."
        assert not re.search(r"[A-Za-z0-9+/]{200,}", text), f"{name} log holds a base64 run"

    # The worker's log: from its first JSON line on (Celery prints its banner to stdout
    # before), every line is one JSON object.
    lines = worker_text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("{"))
    for line in lines[start:]:
        assert isinstance(json.loads(line), dict), line
    worker_lines = json_lines(worker_text)
    assert any(e["level"] == "debug" for e in worker_lines)  # DEBUG really was on
    for key in ("text", "image", "hook"):
        jid = done[key]["id"]
        # Every line logged while the job's work runs that names the job carries it bound,
        # whoever logged it (Celery's trace, the pipeline, the webhook attempt), and the tenant
        # with it. (Celery's "received" line is the consumer's, before any task runs.)
        mine = [e for e in worker_lines if jid in json.dumps(e)
                and e["logger"] != "celery.worker.strategy"]
        assert mine, f"no worker line about {key}"
        for e in mine:
            assert e.get("job_id") == jid and e.get("tenant") == "default", e
        assert any(e["logger"].startswith("celery") for e in mine), key
    # The upstream's request id is bound where the client returned it (the image job's calls
    # run on its own thread), and on the failed call's line from the exception.
    settled = [e for e in worker_lines if e.get("msg") == "job settled"
               and e.get("job_id") == done["image"]["id"]]
    assert settled and settled[0].get("upstream_request_id", "").startswith("req_"), settled
    failed = [e for e in worker_lines if e.get("msg") == "upstream call failed"]
    assert failed and failed[0]["upstream_status"] == 500
    assert failed[0]["upstream_request_id"].startswith("req_")  # from the exception
    attempts = [e for e in worker_lines if e.get("msg") == "webhook attempt"
                and e.get("job_id") == done["hook"]["id"]]
    assert {e["outcome"] for e in attempts} >= {"retry_scheduled", "succeeded"}
    assert all(e["delivery_id"] == done["delivery"]["id"] for e in attempts)

    # The API's lines: JSON, and a line logged inside a request carries its request id.
    api_lines = api_text.splitlines()
    assert api_lines and all(isinstance(json.loads(line), dict) for line in api_lines)
    redelivery = [e for e in json_lines(api_text) if e.get("msg") == "webhook redelivery requested"]
    assert redelivery and redelivery[0]["request_id"] == REQUEST_ID
    assert redelivery[0]["tenant"] == "default" and redelivery[0]["job_id"] == done["hook"]["id"]


def test_redaction_masks_secret_keys_and_shaped_values():
    out = logs.redact(None, "info", {
        "msg": "sent with Authorization: Bearer abc.def and sk-proj-0123456789",
        "api_key": "anything", "webhook_secret": "x", "password": "p", "token": "t",
        "prompt_tokens": 12, "url": "data:image/png;base64,iVBORw0KGgo=",
        "note": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw and mms_0123456789abcdefXYZ",
        "nested": {"authorization": "Basic Zm9v", "ids": ["job_0191abc", "task-abcdefgh"]},
        "blob": "QUJD" * 80})
    assert out["msg"] == "sent with Authorization: Bearer *** and sk-***"
    assert out["api_key"] == out["webhook_secret"] == out["password"] == out["token"] == "***"
    assert out["prompt_tokens"] == 12  # a count, not a secret
    assert out["url"] == "data:image/png;base64,***"
    assert out["note"] == "whsec_*** and mms_***"
    assert out["nested"] == {"authorization": "***", "ids": ["job_0191abc", "task-abcdefgh"]}
    assert out["blob"] == "***"
