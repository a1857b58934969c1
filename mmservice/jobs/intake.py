"""Turning a validated request into a stored job: media checks, blob write, record, idempotency.

Why a plain function: the API view, the CLI and tests call the same code, and the view stays a
thin parse -> submit -> 202. Nothing here talks to Celery; `enqueue` is passed in. The checks
of the request's URLs (data:, image, video, webhook) are `jobs.input_urls`.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any, BinaryIO

from mmservice.cache import at_intake
from mmservice.errors import Conflict, Invalid, MMSError, PayloadTooLarge, UnsupportedMedia
from mmservice.jobs import capability_check
from mmservice.jobs.admission import EXISTS, NO_POLICY, OPEN_FULL, OVER_BYTES, Admission
from mmservice.jobs.deps import Deps
from mmservice.jobs.input_urls import check_image_url, check_webhook_url, decode_data_url
from mmservice.jobs.store import Creation, new_job_id, now_iso
from mmservice.media.inspect import inspect_media, inspect_media_file
from mmservice.policies.model import BUILTIN
from mmservice.policies.store import not_usable
from mmservice.steps.registry import plan_tasks


@dataclass
class Upload:
    """An uploaded file: its bytes, or (a large one) the spool file it is in and its size, so
    that it is checked, hashed and stored without being read into memory whole."""

    data: bytes | None
    filename: str | None
    declared_mime: str | None
    file: BinaryIO | None = None
    size: int = 0


def request_hash(fields: dict, media_sha: str | None) -> str:
    canon = json.dumps({"fields": fields, "media": media_sha}, sort_keys=True, default=str)
    return hashlib.sha256(canon.encode()).hexdigest()


def _admit(deps: Deps, tenant: str, job_id: str, fields: dict, tasks: list[str],
           limits: Any, charge_bytes: int, replay: bool,
           cache_keys: list[str], creation: Creation | None = None
           ) -> tuple[dict | None, Any]:
    """The policy that will judge the job, and its quotas, in one round trip (`admission`),
    which also creates the job when given its `creation`. Nothing is charged, reserved or
    recorded for a refused job (its blob, if written, is the caller's to delete). Returns the
    policy reference and the admission's verdict (None when no script ran): `created`, or
    what a hit answered at intake needs (`cache.at_intake`): the values of `cache_keys`, the
    shadow policies' and the lists' names."""
    cfg = deps.cfg
    want_policy = "moderate" in tasks and deps.policies is not None
    if limits is None and not want_policy and creation is None:
        return None, None
    named = (fields.get("options") or {}).get("policy")
    adm = deps.admission or Admission(deps.store.r, deps.store.keys)
    byte_limit = int(cfg["MAX_UPLOAD_BYTES_PER_DAY"]) if limits is not None else 0
    open_limit = int(cfg["MAX_OPEN_JOBS"]) if limits is not None else 0
    for attempt in (1, 2):
        v = adm.admit(tenant, job_id, nbytes=charge_bytes, byte_limit=byte_limit,
                      open_limit=open_limit, policy=named, want_policy=want_policy,
                      creation=creation, cache_keys=cache_keys)
        if v.status == EXISTS:
            raise Conflict("job id already exists", code="job_exists")
        if v.status == NO_POLICY:
            if replay:
                return None, None
            raise not_usable(v.policy, shadow=v.shadow)
        if v.status == OVER_BYTES:
            raise limits.bytes_refusal(charge_bytes, byte_limit, v.number, v.day_ends_in_s)
        if v.status == OPEN_FULL:
            # Ids whose job settled without the set hearing of it: drop them, try once more.
            if attempt == 1 and limits.prune(tenant, deps.store):
                continue
            raise limits.open_refusal(open_limit)
        break
    read = v  # what the script read (a hit at intake), and whether it created the job
    if not want_policy:
        return None, read
    if v.policy in ("", "-", BUILTIN):
        return {"name": BUILTIN, "version": 0}, read
    return {"name": v.policy, "version": v.latest}, read


def submit(fields: dict, upload: Upload | None, deps: Deps, *, tenant: str,
           idempotency_key: str | None, charge_bytes: int = 0) -> tuple[dict, bool]:
    """Validate media, store it, write the job, enqueue it. Returns (job, created).

    `charge_bytes`: what the request counts against the tenant's daily upload quota (the API
    passes its body's size); charged only when the job is admitted.

    The first step is enqueued inside the record's own transaction when the composition root
    gave a way to (`deps.first_step_with_record`), else right after it (`deps.enqueue_step`).
    A text job whose measurements are all in the result cache is judged here and stored
    settled, with no task at all (`cache.at_intake`): its `status` is then `succeeded`."""
    cfg, store, blobs = deps.cfg, deps.store, deps.blobs
    text = fields.get("text")
    if text is not None and len(text) > cfg["MAX_TEXT_CHARS"]:
        raise PayloadTooLarge(f"text is {len(text)} characters; the limit is "
                              f"{cfg['MAX_TEXT_CHARS']}", code="text_too_long", field="text")
    meta = fields.get("metadata")
    if meta is not None:
        size = len(json.dumps(meta).encode())
        if size > cfg["MAX_METADATA_BYTES"]:
            raise PayloadTooLarge(f"metadata is {size} bytes as JSON; the limit is "
                                  f"{cfg['MAX_METADATA_BYTES']} (MMS_MAX_METADATA_BYTES)",
                                  code="metadata_too_large", field="metadata")
    if fields.get("webhook_url"):
        check_webhook_url(fields["webhook_url"], cfg)

    media: bytes | None = None
    streamed: BinaryIO | None = None  # a large audio upload, checked and stored from its file
    streamed_info: dict | None = None
    media_field = "file"
    image_url = fields.get("image_url")
    video_url = fields.get("video_url")
    if upload is not None and image_url:
        raise Invalid("send either a file or an image_url, not both", code="too_many_inputs",
                      field="image_url")
    if video_url and (upload is not None or image_url):
        raise Invalid("send one of file, image_url and video_url", code="too_many_inputs",
                      field="video_url")
    if video_url:
        if not cfg.get("ALLOW_IMAGE_URL_FETCH", True):
            raise Invalid("this service does not fetch URLs; send a file",
                          code="url_fetch_disabled", field="video_url")
        check_image_url(video_url, cfg, "video_url")
    if upload is not None and upload.data is None and upload.file is not None:
        streamed_info = inspect_media_file(upload.file, upload.size, cfg, "file")
        if streamed_info is not None:
            streamed = upload.file
        else:  # not checkable from the file (an image, MP4, unknown): the bytes, as before
            upload.file.seek(0)
            media = upload.file.read()
    elif upload is not None:
        media = upload.data
    elif image_url:
        media_field = "image_url"
        if image_url[:5].lower() == "data:":
            media = decode_data_url(image_url, cfg["MAX_IMAGE_BYTES"])
        else:
            if not cfg.get("ALLOW_IMAGE_URL_FETCH", True):
                raise Invalid("this service does not fetch image URLs; send a data: URL or a "
                              "file", code="url_fetch_disabled", field="image_url")
            check_image_url(image_url, cfg)
    if media is None and streamed is None and text is None and not image_url and not video_url:
        raise Invalid("nothing to process: send text, image_url, video_url or a file",
                      code="no_input")

    if streamed_info is not None:
        info = streamed_info
    elif media is not None:
        info = inspect_media(media, cfg, media_field, gif_as_video=bool(
            (fields.get("options") or {}).get("as_video")))
        if image_url and info["kind"] != "image":
            raise UnsupportedMedia("image_url does not hold an image",
                                   code="unsupported_media_type", field="image_url")
    elif image_url:
        info = {"kind": "image", "mime": None, "bytes": None, "sha256": None, "remote": True}
    elif video_url:
        info = {"kind": "video", "mime": None, "bytes": None, "sha256": None, "remote": True}
    else:
        info = {"kind": "text", "mime": "text/plain", "chars": len(text),  # type: ignore[arg-type]
                "bytes": len(text.encode()), "sha256": hashlib.sha256(text.encode()).hexdigest()}  # type: ignore[union-attr]
    if text is not None and info["kind"] != "text":
        info["text_chars"] = len(text)

    tasks = plan_tasks(fields.get("tasks"), info["kind"], has_text=text is not None)
    capability_check.check(fields.get("options") or {}, tasks, cfg)
    if "speak" in tasks and len(text or "") > cfg["MAX_TTS_CHARS"]:
        raise Invalid(f"text to speak is {len(text)} characters; the limit is "  # type: ignore[arg-type]
                      f"{cfg['MAX_TTS_CHARS']}", code="tts_text_too_long", field="text")
    job_id = new_job_id()
    idempotency = None
    if idempotency_key:
        idempotency = (idempotency_key, request_hash(dict(fields), info.get("sha256")))

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
    if video_url:
        job["_video_url"] = video_url
    # A replay answers its earlier job: a full quota or a policy deleted since refuses nothing.
    replay = bool(idempotency_key) and bool(store.r.exists(
        store.keys.idempotency(tenant, idempotency_key)))  # type: ignore[arg-type]
    limits = None if replay else deps.limits
    with_record = deps.first_step_with_record
    marker = store.keys.enqueued(tenant, job_id, tasks[0])
    # A text job's cache entries, read by the admission script: a hit is answered now.
    hit = None if replay else at_intake.probe(deps, tenant, fields, info, tasks)
    creation = None
    if idempotency is None and with_record is not None:
        # The common case in one round trip: blob first, then admission and record together
        # (unless every cache entry of a text job is found: then it is judged here).
        _store_media(job, streamed, media, blobs)
        creation = store.creation(job, markers=(marker,),
                                  in_same_transaction=lambda pipe: with_record(pipe, job))
    try:
        policy_ref, read = _admit(deps, tenant, job_id, fields, tasks, limits, charge_bytes,
                                  replay, hit.keys if hit is not None else [], creation)
    except MMSError:  # refused: nothing was charged, reserved or recorded
        if creation is not None:
            _drop_blob(blobs, tenant, job_id)
        raise
    except Exception:  # Redis failed: the script may yet have run (see `_undo`)
        if creation is not None:
            _undo(store, blobs, tenant, job_id)
        raise
    if policy_ref is not None:  # the policy version that will judge it (mmservice.policies)
        job["_policy"] = policy_ref
    if read is not None and read.created:
        return job, True
    values = (at_intake.found(hit, list(read.cached))
              if hit is not None and read is not None and read.cached else None)
    settled = False
    try:
        if hit is not None and values is not None:
            result = at_intake.decide(deps, job, hit, values, read)
            if result is not None:
                at_intake.settle(deps, job, result)
                settled = True
        if settled:
            prior = at_intake.store(deps, job, idempotency, int(cfg["IDEMPOTENCY_TTL_S"]))
            if prior is not None:
                if limits is not None:
                    limits.release_open(tenant, job_id)
                return prior, False
            return job, True
        if creation is None:  # else stored before the admission
            _store_media(job, streamed, media, blobs)
        # The first step's enqueue-once marker and the idempotency claim go in with the record.
        prior = store.create(job, markers=(marker,),
                             in_same_transaction=(lambda pipe: with_record(pipe, job))
                             if with_record else None,
                             idempotency=idempotency,
                             idempotency_ttl_s=int(cfg["IDEMPOTENCY_TTL_S"]))
        if prior is not None:  # an earlier request with this Idempotency-Key made the job
            blobs.delete_prefix(f"{tenant}/{job_id}")
            if limits is not None:
                limits.release_open(tenant, job_id)
            return prior, False
        if with_record is None:
            deps.enqueue_step(job, tasks[0], marked=True)
    except Exception:
        _undo(store, blobs, tenant, job_id)
        raise
    return job, True


def _undo(store: Any, blobs: Any, tenant: str, job_id: str) -> None:
    """Nothing half-made survives: no record without a task, no orphan blob. The blob goes
    only once the record is known gone: a Redis that hung may still commit the record when
    it resumes, and that job must find its media."""
    try:
        store.delete(tenant, job_id)  # also releases its place among the open jobs
        blobs.delete_prefix(f"{tenant}/{job_id}")
    except Exception:  # noqa: BLE001 - the original error is the one to report
        pass


def _store_media(job: dict, streamed: BinaryIO | None, media: bytes | None, blobs: Any) -> None:
    if streamed is not None:
        job["_blob"] = f"{job['tenant']}/{job['id']}/input"
        streamed.seek(0)
        blobs.put_stream(job["_blob"], streamed)
    elif media is not None:
        job["_blob"] = f"{job['tenant']}/{job['id']}/input"
        blobs.put(job["_blob"], media)


def _drop_blob(blobs: Any, tenant: str, job_id: str) -> None:
    try:
        blobs.delete_prefix(f"{tenant}/{job_id}")
    except Exception:  # noqa: BLE001 - the original error is the one to report
        pass
