"""`/v1/jobs`: submit, poll, list, cancel. Thin views: parse -> validate -> submit -> answer."""
from __future__ import annotations

import dataclasses
import io
import json

from flask import Response, redirect, request, url_for
from flask_smorest import Blueprint
from marshmallow import RAISE

from mmservice import logs
from mmservice.api import examples
from mmservice.api.context import services, tenant, tenant_cfg
from mmservice.auth.scopes import requires
from mmservice.errors import BadRequest, Invalid, NotFound, UnsupportedMedia
from mmservice.jobs import fanout
from mmservice.jobs.intake import Upload, submit
from mmservice.jobs.lifecycle import cancel
from mmservice.jobs.pipeline import reap_if_overdue
from mmservice.jobs.store import TERMINAL
from mmservice.schemas.jobs import (
    JobGetQuerySchema,
    JobListQuerySchema,
    JobRequestSchema,
)
from mmservice.schemas.output import ApiErrorSchema, JobListSchema, JobSchema
from mmservice.steps.speak import speech_blob_key

blp = Blueprint("jobs", __name__, url_prefix="/v1", description="Native job API")
_request_schema = JobRequestSchema()

_JSON_FORM_FIELDS = ("options", "metadata")


def _parse_json_body() -> dict:
    raw = request.get_data(cache=False)
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise BadRequest(f"request body is not valid JSON: {e}", code="malformed_json") from None
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object", code="malformed_json")
    return _request_schema.load(body)


def _json_sent_as_form() -> bool:
    """curl `-d '{"text": "hello"}'` sends the JSON form-encoded: werkzeug makes the whole body
    one form key with an empty value. Say what happened rather than `unknown field '{...'`."""
    keys = list(request.form)
    return (len(keys) == 1 and not request.files and not request.form[keys[0]]
            and keys[0].lstrip()[:1] in ("{", "["))


def _parse_multipart() -> tuple[dict, Upload | None]:
    if _json_sent_as_form():
        raise UnsupportedMedia("the body looks like JSON but was sent as a form: add the header "
                               "`Content-Type: application/json` (curl: -H 'Content-Type: "
                               "application/json', or use --json)", code="json_sent_as_form")
    form: dict = {}
    for key in request.form:
        raw: str = request.form[key]
        value: object = raw
        if key in _JSON_FORM_FIELDS:
            try:
                value = json.loads(raw)
            except ValueError:
                raise BadRequest(f"form field {key!r} must be JSON", code="malformed_json",
                                 field=key) from None
        elif key == "tasks":
            value = (json.loads(raw) if raw.strip().startswith("[")
                     else [t.strip() for t in raw.split(",") if t.strip()])
        form[key] = value
    extra_files = [k for k in request.files if k != "file"]
    if extra_files:
        raise Invalid(f"unknown field {extra_files[0]!r}; send the upload as 'file'",
                      code="unknown_field", field=extra_files[0])
    if len(request.files.getlist("file")) > 1:
        raise Invalid("send one 'file' per job (this request has "
                      f"{len(request.files.getlist('file'))})", code="too_many_files",
                      field="file")
    fields = _request_schema.load(form)
    upload = None
    if "file" in request.files:
        f = request.files["file"]
        size = _spooled_size(f.stream)
        if size is not None and size >= STREAM_FROM_BYTES:  # checked and stored from its file
            upload = Upload(data=None, filename=f.filename, declared_mime=f.mimetype,
                            file=f.stream, size=size)  # type: ignore[arg-type]
        else:
            upload = Upload(data=f.read(), filename=f.filename, declared_mime=f.mimetype)
    return fields, upload


# Uploads from this size are not read into the API's memory (werkzeug spools any file part
# over 500 KB to a temporary file): a 100 MB audio upload costs the API a few MB, not 2x its size.
STREAM_FROM_BYTES = 8 * 1024 * 1024


def _spooled_size(stream) -> int | None:
    """The size of an upload werkzeug spooled to a real file; None when it is in memory
    (asking a SpooledTemporaryFile for its descriptor would write it to disk)."""
    import os
    import tempfile

    if isinstance(stream, tempfile.SpooledTemporaryFile) and not getattr(stream, "_rolled", 0):
        return None
    try:
        return os.fstat(stream.fileno()).st_size
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None


@blp.route("/jobs", methods=["POST"])
@requires(blp, "submit")
@blp.doc(summary="Submit content", description=(
    "JSON (`text`, `image_url`, `tasks`, `options`, `webhook_url`, `metadata`) or multipart "
    "(`file` plus the same fields; `options`/`metadata` as JSON strings, `tasks` "
    "comma-separated). Header `Idempotency-Key`: same key + same body returns the same job "
    "(200); another body 409."),
    requestBody={"content": {
        "application/json": {"schema": JobRequestSchema},
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "file": {"type": "string", "format": "binary"}, "text": {"type": "string"},
            "tasks": {"type": "string"}, "options": {"type": "string"},
            "metadata": {"type": "string"}, "webhook_url": {"type": "string"}}}}}})
@blp.response(202, JobSchema, example=examples.JOB_QUEUED, description="accepted")
@blp.alt_response(200, schema=JobSchema, example=examples.JOB_SUCCEEDED,
                  description="the job is already settled: a text moderation answered from the "
                              "result cache at once (`MMS_CACHE_AT_INTAKE`); or an idempotent "
                              "replay: the earlier job")
@blp.alt_response(400, schema=ApiErrorSchema, example=examples.error("malformed_json"))
@blp.alt_response(409, schema=ApiErrorSchema, example=examples.error("idempotency_key_reused"))
@blp.alt_response(413, schema=ApiErrorSchema, example=examples.error("text_too_long"))
@blp.alt_response(415, schema=ApiErrorSchema, example=examples.error("unsupported_media_type"))
@blp.alt_response(422, schema=ApiErrorSchema, example=examples.error("task_not_applicable"))
@blp.alt_response(503, schema=ApiErrorSchema, example=examples.error("store_unavailable"))
def create_job():
    svc, who, cfg = services(), tenant(), tenant_cfg()
    size = request.content_length  # what the daily upload quota counts, once admitted
    if size is None:
        size = len(request.get_data(cache=True))
    ctype = (request.mimetype or "").lower()
    if ctype == "application/json":
        fields, upload = _parse_json_body(), None
    elif ctype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        fields, upload = _parse_multipart()
    else:
        raise UnsupportedMedia("send application/json or multipart/form-data",
                               code="unsupported_content_type")
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (0 < len(key) <= 255):
        raise BadRequest("Idempotency-Key must be 1-255 characters", code="invalid_header",
                         field="Idempotency-Key")
    deps = svc.deps if cfg is svc.cfg else dataclasses.replace(svc.deps, cfg=cfg)
    job, created = submit(fields, upload, deps, tenant=who, idempotency_key=key,
                          charge_bytes=size)
    # 202: queued. 200: the job as it is, settled (a cache hit judged at intake) or a replay.
    # Why 200 for a hit and not 201: every client that handles a replay's 200 handles it.
    status = 202 if created and job["status"] not in TERMINAL else 200
    return job, status, {"Location": url_for("jobs.get_job", job_id=job["id"])}


@blp.route("/jobs", methods=["GET"])
@requires(blp, "read")
@blp.doc(summary="List jobs, newest first",
         description="Filter by `status`; page with `cursor` (the `next_cursor` of the last page).")
@blp.arguments(JobListQuerySchema, location="query", unknown=RAISE)
@blp.response(200, JobListSchema, example={"data": [examples.JOB_SUCCEEDED], "next_cursor": None})
@blp.alt_response(422, schema=ApiErrorSchema, example=examples.error("invalid_cursor"))
def list_jobs(query):
    svc = services()
    jobs, cursor = svc.store.list(tenant(), status=query.get("status"),
                                  cursor=query.get("cursor"), limit=query["limit"])
    return {"data": [reap_if_overdue(svc.deps, j) for j in jobs], "next_cursor": cursor}


@blp.route("/jobs/<job_id>", methods=["GET"])
@requires(blp, "read")
@blp.doc(summary="Get a job (poll, or long-poll with `wait`)")
@blp.arguments(JobGetQuerySchema, location="query", unknown=RAISE)
@blp.response(200, JobSchema, example=examples.JOB_SUCCEEDED)
@blp.alt_response(404, schema=ApiErrorSchema, example=examples.error("job_not_found"))
def get_job(query, job_id: str):
    svc = services()
    who = tenant()

    def read() -> dict:
        return reap_if_overdue(svc.deps, svc.store.get(who, job_id))

    job, _ = svc.settle_watch.wait_settled(who, job_id, query["wait"], read)
    if job["input"]["kind"] == "video" and job["status"] == "running":
        done = fanout.progress(svc.deps, who, job_id, "moderate", ("frame", "audio"))
        if done is not None:
            job["progress"] = done  # the answer only: the record is not written
    return job


@blp.route("/jobs/<job_id>", methods=["DELETE"])
@requires(blp, "submit")
@blp.doc(summary="Cancel a job and delete its media and results",
         description="A queued or running job is canceled; any job's media, text and results "
                     "are deleted (`media_deleted`).")
@blp.response(200, JobSchema, example=examples.JOB_CANCELED)
@blp.alt_response(404, schema=ApiErrorSchema, example=examples.error("job_not_found"))
def delete_job(job_id: str):
    logs.add(job_id=job_id)
    return cancel(services().deps, tenant(), job_id)


@blp.route("/jobs/<job_id>/speech", methods=["GET"])
@requires(blp, "read")
@blp.doc(summary="The synthesized audio of a `speak` task",
         responses={"200": {"description": "audio bytes", "content": {"audio/*": {}}}})
@blp.alt_response(307, description="redirect to a presigned S3 URL (`MMS_S3_PRESIGN_TTL_S`)",
                  headers={"Location": {"schema": {"type": "string"}}})
@blp.alt_response(404, schema=ApiErrorSchema, example=examples.error("speech_not_found"))
def get_speech(job_id: str):
    svc = services()
    job = svc.store.get(tenant(), job_id)
    speech = (job.get("results") or {}).get("speech")
    if not speech:
        raise NotFound("this job has no synthesized speech (yet)", code="speech_not_found")
    key, mime = speech_blob_key(job), speech.get("content_type", "application/octet-stream")
    filename = f"{job_id}.{speech['format']}"
    url = svc.blobs.download_url(key, filename, mime)  # S3 with MMS_S3_PRESIGN_TTL_S > 0
    if url:
        return redirect(url, code=307)
    size = svc.blobs.size(key)
    reader = svc.blobs.open(key)

    def chunks():  # streamed: the audio is never held whole in the API's memory
        try:
            while chunk := reader.read(256 * 1024):
                yield chunk
        finally:
            reader.close()
    resp = Response(chunks(), mimetype=mime, direct_passthrough=True)
    resp.headers["Content-Length"] = str(size)
    resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return resp
