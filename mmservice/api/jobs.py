"""`/v1/jobs`: submit, poll, list, cancel. Thin views: parse -> validate -> submit -> answer."""
from __future__ import annotations

import json

from flask import Response, current_app, jsonify, request, url_for
from flask_smorest import Blueprint

from mmservice.capabilities.speak import speech_blob_key
from mmservice.errors import BadRequest, NotFound, UnsupportedMedia
from mmservice.jobs.intake import Upload, submit
from mmservice.jobs.pipeline import reap_if_overdue
from mmservice.jobs.store import TERMINAL, public_view
from mmservice.schemas.jobs import (
    ApiErrorSchema,
    JobGetQuerySchema,
    JobListQuerySchema,
    JobListSchema,
    JobRequestSchema,
    JobSchema,
    MultipartFieldsSchema,
)

blp = Blueprint("jobs", __name__, url_prefix="/v1", description="Native job API")
_request_schema = JobRequestSchema()
_multipart_schema = MultipartFieldsSchema()
_JSON_FORM_FIELDS = ("options", "metadata")


def _svc():
    return current_app.extensions["mms"]


def _tenant() -> str:
    return _svc().cfg["TENANT"]


def _parse_json_body() -> dict:
    raw = request.get_data(cache=False)
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise BadRequest(f"request body is not valid JSON: {e}", code="malformed_json") from None
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object", code="malformed_json")
    return _request_schema.load(body)


def _parse_multipart() -> tuple[dict, Upload | None]:
    form: dict = {}
    for key in request.form:
        value = request.form.get(key)
        if key in _JSON_FORM_FIELDS:
            try:
                value = json.loads(value)  # type: ignore[arg-type]
            except ValueError:
                raise BadRequest(f"form field {key!r} must be JSON", code="malformed_json",
                                 field=key) from None
        elif key == "tasks":
            value = (json.loads(value) if value.strip().startswith("[")  # type: ignore[arg-type,assignment,union-attr]
                     else [t.strip() for t in value.split(",") if t.strip()])  # type: ignore[union-attr]
        form[key] = value
    extra_files = [k for k in request.files if k != "file"]
    if extra_files:
        raise BadRequest(f"unexpected file field {extra_files[0]!r}; send the upload as 'file'",
                         code="unknown_field", field=extra_files[0])
    fields = _multipart_schema.load(form)
    upload = None
    if "file" in request.files:
        f = request.files["file"]
        upload = Upload(data=f.read(), filename=f.filename, declared_mime=f.mimetype)
    return fields, upload


@blp.route("/jobs", methods=["POST"])
@blp.doc(summary="Submit content", description=(
    "JSON (`text`, `image_url`, `tasks`, `options`, `webhook_url`, `metadata`) or multipart "
    "(`file` plus the same fields; `options`/`metadata` as JSON strings, `tasks` comma-separated)."
    " Header `Idempotency-Key`: same key + same body returns the same job (200); another body 409."),  # noqa: E501
    requestBody={"content": {
        "application/json": {"schema": JobRequestSchema},
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "file": {"type": "string", "format": "binary"}, "text": {"type": "string"},
            "tasks": {"type": "string"}, "options": {"type": "string"},
            "metadata": {"type": "string"}, "webhook_url": {"type": "string"}}}}}})
@blp.response(202, JobSchema)
@blp.alt_response(200, schema=JobSchema, description="idempotent replay")
@blp.alt_response(400, schema=ApiErrorSchema)
@blp.alt_response(409, schema=ApiErrorSchema)
@blp.alt_response(413, schema=ApiErrorSchema)
@blp.alt_response(415, schema=ApiErrorSchema)
@blp.alt_response(422, schema=ApiErrorSchema)
@blp.alt_response(503, schema=ApiErrorSchema)
def create_job():
    ctype = (request.mimetype or "").lower()
    if ctype == "application/json":
        fields, upload = _parse_json_body(), None
    elif ctype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        fields, upload = _parse_multipart()
    else:
        raise UnsupportedMedia("send application/json or multipart/form-data",
                               code="unsupported_content_type")
    svc = _svc()
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (0 < len(key) <= 255):
        raise BadRequest("Idempotency-Key must be 1-255 characters", code="invalid_header",
                         field="Idempotency-Key")
    if svc.publisher is not None:  # the first message commits with the record
        enqueue, with_record = None, svc.publisher.queue_first_step
    else:
        enqueue, with_record = (lambda j: svc.enqueue_step(j, j["tasks"][0], marked=True)), None
    job, created = submit(fields, upload, cfg=svc.cfg, store=svc.store, blobs=svc.blobs,
                          enqueue=enqueue, enqueue_with_record=with_record,
                          tenant=_tenant(), idempotency_key=key)
    resp = jsonify(public_view(job))
    resp.status_code = 202 if created else 200
    resp.headers["Location"] = url_for("jobs.get_job", job_id=job["id"])
    return resp


@blp.route("/jobs", methods=["GET"])
@blp.arguments(JobListQuerySchema, location="query")
@blp.response(200, JobListSchema)
def list_jobs(query):
    svc = _svc()
    jobs, cursor = svc.store.list(_tenant(), status=query.get("status"),
                                  cursor=query.get("cursor"), limit=query["limit"])
    return jsonify({"data": [public_view(reap_if_overdue(svc.deps, j)) for j in jobs],
                    "next_cursor": cursor})


@blp.route("/jobs/<job_id>", methods=["GET"])
@blp.arguments(JobGetQuerySchema, location="query")
@blp.response(200, JobSchema)
@blp.alt_response(404, schema=ApiErrorSchema)
def get_job(query, job_id: str):
    svc = _svc()
    tenant = _tenant()

    def read() -> dict:
        return reap_if_overdue(svc.deps, svc.store.get(tenant, job_id))

    job, _ = svc.settle_watch.wait_settled(tenant, job_id, query["wait"], read)
    return jsonify(public_view(job))


@blp.route("/jobs/<job_id>", methods=["DELETE"])
@blp.doc(summary="Cancel a pending or running job and delete its media and results")
@blp.response(200, JobSchema)
@blp.alt_response(404, schema=ApiErrorSchema)
def delete_job(job_id: str):
    svc = _svc()
    tenant = _tenant()

    was_open: list[bool] = []

    def cancel(j: dict) -> None:
        was_open[:] = [j["status"] not in TERMINAL]
        if j["status"] not in TERMINAL:
            for t, s in j["task_status"].items():
                if s in ("pending", "running"):
                    j["task_status"][t] = "canceled"
            svc.store.set_status(j, "canceled")
        j["results"] = {}
        j["media_deleted"] = True
        j.pop("_text", None)
        j.pop("_image_url", None)

    def announce(pipe, j: dict, _result) -> None:
        if was_open and was_open[0]:
            svc.store.queue_settled(pipe, j)  # counted and announced with the cancel itself

    job = svc.store.update(tenant, job_id, cancel, also=announce)
    if was_open and was_open[0]:
        svc.deps.on_terminal(job)
    svc.blobs.delete_prefix(f"{tenant}/{job_id}")
    return jsonify(public_view(job))


@blp.route("/jobs/<job_id>/speech", methods=["GET"])
@blp.doc(summary="The synthesized audio of a `speak` task",
         responses={"200": {"description": "audio bytes", "content": {"audio/*": {}}}})
@blp.alt_response(404, schema=ApiErrorSchema)
def get_speech(job_id: str):
    svc = _svc()
    job = svc.store.get(_tenant(), job_id)
    speech = (job.get("results") or {}).get("speech")
    if not speech:
        raise NotFound("this job has no synthesized speech (yet)", code="speech_not_found")
    data = svc.blobs.get(speech_blob_key(job))
    resp = Response(data, mimetype=speech.get("content_type", "application/octet-stream"))
    resp.headers["Content-Length"] = str(len(data))
    resp.headers["Content-Disposition"] = f'attachment; filename="{job_id}.{speech["format"]}"'
    return resp
