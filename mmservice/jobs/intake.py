"""Turning a validated request into a stored job: media checks, blob write, record, idempotency.

Why a plain function: the API view, the CLI and tests call the same code, and the view stays a
thin parse -> submit -> 202. Nothing here talks to Celery; `enqueue` is passed in.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mmservice.errors import Invalid, NotFound, PayloadTooLarge, UnsupportedMedia
from mmservice.jobs.dispatch import marker_key
from mmservice.jobs.pipeline import plan_tasks
from mmservice.jobs.store import JobStore, new_job_id, now_iso
from mmservice.netguard import check_url


@dataclass
class Upload:
    data: bytes
    filename: str | None
    declared_mime: str | None


def decode_data_url(url: str, max_bytes: int) -> bytes:
    head, sep, payload = url.partition(",")
    if not sep or not head.lower().startswith("data:") or not head.lower().endswith(";base64"):
        raise Invalid("a data: URL must be base64 encoded (data:<mime>;base64,<data>)",
                      code="invalid_data_url", field="image_url")
    if len(payload) * 3 // 4 > max_bytes:
        raise PayloadTooLarge(f"image is larger than {max_bytes} bytes", code="image_too_large",
                              field="image_url")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise Invalid("image_url data is not valid base64", code="invalid_base64",
                      field="image_url") from None


def inspect_media(data: bytes, cfg: dict, field: str) -> dict[str, Any]:
    """Magic bytes, size limit per kind, then a real decode check. Returns the job's `input`."""
    from mmservice.media.audio import inspect_audio
    from mmservice.media.images import inspect_image
    from mmservice.media.sniff import sniff

    if not data:
        raise Invalid("the uploaded file is empty", code="empty_file", field=field)
    found = sniff(data)
    if found is None:
        raise UnsupportedMedia("file content is not a supported image (PNG, JPEG, WEBP, GIF) or "
                               "audio (WAV, MP3, FLAC, OGG/Opus, WEBM, M4A/MP4) format",
                               code="unsupported_media_type", field=field)
    kind, mime = found
    limit = cfg["MAX_IMAGE_BYTES"] if kind == "image" else cfg["MAX_AUDIO_BYTES"]
    if len(data) > limit:
        raise PayloadTooLarge(f"{kind} is {len(data)} bytes; the limit is {limit}",
                              code=f"{kind}_too_large", field=field)
    info: dict[str, Any] = {"kind": kind, "mime": mime, "bytes": len(data),
                            "sha256": hashlib.sha256(data).hexdigest()}
    if kind == "image":
        meta = inspect_image(data, max_pixels=cfg["MAX_IMAGE_PIXELS"],
                             max_side_ratio=cfg["MAX_IMAGE_SIDE_RATIO"])
        info.update(width=meta["width"], height=meta["height"])
    else:
        meta = inspect_audio(data, mime, max_duration_s=cfg["MAX_AUDIO_DURATION_S"])
        info["duration_s"] = round(float(meta["duration_s"]), 3)
    return info


def request_hash(fields: dict, media_sha: str | None) -> str:
    canon = json.dumps({"fields": fields, "media": media_sha}, sort_keys=True, default=str)
    return hashlib.sha256(canon.encode()).hexdigest()


def submit(fields: dict, upload: Upload | None, *, cfg: dict, store: JobStore, blobs,
           enqueue: Callable[[dict], None] | None, tenant: str,
           idempotency_key: str | None,
           enqueue_with_record: Callable[[Any, dict], None] | None = None) -> tuple[dict, bool]:
    """Validate media, store it, write the job, enqueue it. Returns (job, created).

    The first step is enqueued either inside the record's own transaction
    (`enqueue_with_record(pipe, job)`, e.g. `RedisTaskPublisher.queue_first_step`) or right
    after it (`enqueue(job)`, e.g. Celery's `send_task`)."""
    text = fields.get("text")
    if text is not None and len(text) > cfg["MAX_TEXT_CHARS"]:
        raise PayloadTooLarge(f"text is {len(text)} characters; the limit is "
                              f"{cfg['MAX_TEXT_CHARS']}", code="text_too_long", field="text")
    meta = fields.get("metadata")
    if meta is not None and len(json.dumps(meta)) > cfg["MAX_METADATA_BYTES"]:
        raise PayloadTooLarge("metadata is too large", code="metadata_too_large", field="metadata")

    media: bytes | None = None
    media_field = "file"
    image_url = fields.get("image_url")
    if upload is not None and image_url:
        raise Invalid("send either a file or an image_url, not both", code="too_many_inputs",
                      field="image_url")
    if upload is not None:
        media = upload.data
    elif image_url:
        media_field = "image_url"
        if image_url[:5].lower() == "data:":
            media = decode_data_url(image_url, cfg["MAX_IMAGE_BYTES"])
        else:
            if not cfg.get("ALLOW_IMAGE_URL_FETCH", True):
                raise Invalid("this service does not fetch image URLs; send a data: URL or a "
                              "file", code="url_fetch_disabled", field="image_url")
            check_url(image_url, cfg.get("ALLOW_PRIVATE_URLS"), field="image_url",
                      resolve=False, schemes=("https", "http"))
            if image_url[:5].lower() == "http:" and not cfg.get("ALLOW_PRIVATE_URLS"):
                raise Invalid("image_url must use https", code="url_not_allowed",
                              field="image_url")
    if media is None and text is None and not image_url:
        raise Invalid("nothing to process: send text, image_url or a file", code="no_input")

    if media is not None:
        info = inspect_media(media, cfg, media_field)
        if image_url and info["kind"] != "image":
            raise UnsupportedMedia("image_url does not hold an image",
                                   code="unsupported_media_type", field="image_url")
    elif image_url:
        info = {"kind": "image", "mime": None, "bytes": None, "sha256": None, "remote": True}
    else:
        info = {"kind": "text", "mime": "text/plain", "chars": len(text),  # type: ignore[arg-type]
                "bytes": len(text.encode()), "sha256": hashlib.sha256(text.encode()).hexdigest()}  # type: ignore[union-attr]
    if text is not None and info["kind"] != "text":
        info["text_chars"] = len(text)

    tasks = plan_tasks(fields.get("tasks"), info["kind"], has_text=text is not None)
    if "speak" in tasks and len(text or "") > cfg["MAX_TTS_CHARS"]:
        raise Invalid(f"text to speak is {len(text)} characters; the limit is "  # type: ignore[arg-type]
                      f"{cfg['MAX_TTS_CHARS']}", code="tts_text_too_long", field="text")
    job_id = new_job_id()
    if idempotency_key:
        body_hash = request_hash({k: v for k, v in fields.items()}, info.get("sha256"))
        prior = store.claim_idempotency_key(tenant, idempotency_key, body_hash, job_id,
                                            cfg["IDEMPOTENCY_TTL_S"])
        if prior:
            for _ in range(50):  # the first request may still be writing its record
                try:
                    return store.get(tenant, prior), False
                except NotFound:
                    time.sleep(0.02)
            return store.get(tenant, prior), False

    ts = time.time()
    job: dict[str, Any] = {
        "id": job_id, "tenant": tenant, "status": "queued",
        "created_at": now_iso(ts), "updated_at": now_iso(ts),
        "tasks": tasks, "task_status": {t: "pending" for t in tasks},
        "input": info, "options": fields.get("options") or {}, "results": {},
        "metadata": meta or {},
        "_created_ts": ts, "_deadline_ts": ts + cfg["JOB_DEADLINE_S"],
    }
    if fields.get("webhook_url"):
        job["webhook_url"] = fields["webhook_url"]
    if text is not None:
        job["_text"] = text
    if image_url and media is None:
        job["_image_url"] = image_url
    try:
        if media is not None:
            job["_blob"] = f"{tenant}/{job_id}/input"
            blobs.put(job["_blob"], media)
        # The first step's enqueue-once marker goes in with the record: one round trip.
        store.create(job, also_set={marker_key(job, tasks[0]): "1"},
                     also=(lambda pipe: enqueue_with_record(pipe, job))
                     if enqueue_with_record else None)
        if enqueue is not None:
            enqueue(job)
    except Exception:
        # Nothing half-made survives: no record without a task, no orphan blob, no stuck key.
        try:
            store.delete(tenant, job_id)
            blobs.delete_prefix(f"{tenant}/{job_id}")
            if idempotency_key:
                store.release_idempotency_key(tenant, idempotency_key)
        except Exception:
            pass
        raise
    return job, True
