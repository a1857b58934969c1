"""`make demo`: show a newcomer, in a minute, that the running service gives real answers.

It submits a toxic and a benign text, an image it draws (with text on it, for OCR), and speech it
asks the service to synthesize, which it then sends back to be transcribed. Each job's id is
printed, so the newcomer can `curl` it. When nothing answers, one line asks whether `make run` is
up (a traceback would only say "Connection refused" in forty lines).
"""
from __future__ import annotations

import io
import json
import sys
import time
import urllib.error
import urllib.request
import uuid

_KEY = {"key": ""}  # the API key to send (MMS_KEY), set by run_demo


class Unreachable(Exception):
    """Nothing answers at the service's address."""


def _call(base: str, method: str, path: str, body: bytes | None = None,
          ctype: str | None = None) -> tuple[int, bytes]:
    headers = {"Content-Type": ctype} if ctype else {}
    if _KEY["key"]:
        headers["Authorization"] = "Bearer " + _KEY["key"]
    req = urllib.request.Request(base + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError as e:  # URLError, refused, reset, timed out
        raise Unreachable(str(getattr(e, "reason", e))) from None


def _wait(base: str, job_id: str, timeout: float = 180) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        _, body = _call(base, "GET", f"/v1/jobs/{job_id}")
        job = json.loads(body)
        if job["status"] in ("succeeded", "failed", "canceled"):
            return job
        time.sleep(0.3)
    raise SystemExit(f"job {job_id} did not finish in {timeout}s")


def _submit_json(base: str, payload: dict) -> dict:
    st, body = _call(base, "POST", "/v1/jobs", json.dumps(payload).encode(), "application/json")
    if st not in (200, 202):
        raise SystemExit(f"submission answered {st}: {body[:300]!r}")
    return _wait(base, _submitted(json.loads(body)))


def _submit_file(base: str, name: str, data: bytes, mime: str, tasks: str) -> dict:
    b = uuid.uuid4().hex
    body = (f"--{b}\r\nContent-Disposition: form-data; name=\"tasks\"\r\n\r\n{tasks}\r\n"
            f"--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            f"Content-Type: {mime}\r\n\r\n").encode() + data + f"\r\n--{b}--\r\n".encode()
    st, resp = _call(base, "POST", "/v1/jobs", body, f"multipart/form-data; boundary={b}")
    if st not in (200, 202):
        raise SystemExit(f"submission answered {st}: {resp[:300]!r}")
    return _wait(base, _submitted(json.loads(resp)))


def _submitted(job: dict) -> str:
    print(f"\nsubmitted job {job['id']} (tasks: {', '.join(job.get('tasks') or [])})", flush=True)
    return job["id"]


def _image() -> bytes:
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", (640, 360), (235, 240, 250))
    draw = ImageDraw.Draw(img)
    draw.rectangle((40, 220, 600, 320), fill=(30, 90, 200))
    try:
        font = ImageFont.load_default(size=56)
    except TypeError:
        font = ImageFont.load_default()
    draw.text((48, 60), "HELLO DEMO 2026", fill=(10, 10, 10), font=font)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _show(title: str, job: dict, key: str, fields: tuple[str, ...]) -> None:
    res = (job.get("results") or {}).get(key) or {}
    shown = {f: res.get(f) for f in fields if f in res}
    print(f"== {title}: job {job['id']} {job['status']}"
          + (f"  error={job.get('error')}" if job.get("error") else ""))
    print(json.dumps(shown, indent=2, ensure_ascii=False)[:1500])


def run_demo(base: str, key: str = "") -> int:
    _KEY["key"] = key
    try:
        return _demo(base)
    except Unreachable as exc:
        print(f"mmservice demo: nothing answers at {base} ({exc}): is `make run` up?",
              file=sys.stderr, flush=True)
        return 1


def _demo(base: str) -> int:
    st, body = _call(base, "GET", "/v1/providers")
    if st in (401, 403):
        print(f"mmservice demo: {base} wants an API key with the read and submit scopes: set "
              "MMS_KEY to the key `make run` printed at its first start (or create one: python "
              "-m mmservice keys create --tenant default --scopes submit,read)",
              file=sys.stderr, flush=True)
        return 1
    if st != 200:
        print(f"mmservice demo: {base}/v1/providers answered {st}, not mmservice: is `make run` "
              "up?", file=sys.stderr, flush=True)
        return 1
    print("providers:", json.dumps(json.loads(body)["data"], indent=2))
    for text in ("shut up you worthless idiot, I will hurt you",
                 "thanks for sharing this lovely recipe"):
        _show(f"text {text!r}", _submit_json(base, {"text": text}), "moderation",
              ("flagged", "verdict", "category_scores", "provider", "model"))
    job = _submit_file(base, "demo.png", _image(), "image/png", "moderate,describe")
    _show("generated image: moderation", job, "moderation",
          ("flagged", "verdict", "category_scores", "assessed_categories", "provider"))
    desc = (job.get("results") or {}).get("description") or {}
    if "data" in desc:  # the offline description: show the OCR'd text, not every box
        desc["ocr_text"] = (desc.get("data") or {}).get("ocr_text")
    _show("generated image: description", job, "description", ("text", "ocr_text", "model"))
    job = _submit_json(base, {"text": "The quick brown fox jumps over the lazy dog.",
                              "tasks": ["speak"], "options": {"format": "wav"}})
    _show("speech", job, "speech", ("format", "duration_s", "bytes", "url", "provider"))
    if job["status"] == "succeeded":
        st, audio = _call(base, "GET", job["results"]["speech"]["url"])
        job = _submit_file(base, "speech.wav", audio, "audio/wav", "transcribe,moderate")
        _show("that speech, transcribed", job, "transcription",
              ("text", "segments", "language", "duration_s", "provider"))
    return 0
