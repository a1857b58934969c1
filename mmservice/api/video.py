"""A video job's review artifacts: the thumbnail of a flagged keyframe and the contact sheet.

Why only flagged frames: a thumbnail is kept for what a person has to look at (the other
keyframes are deleted when the job settles); asking for another frame is a 404, as is any
frame of another tenant's job (the job is looked up in the caller's tenant first).
"""
from __future__ import annotations

from flask import Response
from flask_smorest import Blueprint

from mmservice.api import examples
from mmservice.api.context import services, tenant
from mmservice.auth.scopes import requires
from mmservice.errors import NotFound
from mmservice.schemas.output import ApiErrorSchema
from mmservice.video import sheet

blp = Blueprint("video", __name__, url_prefix="/v1", description="Video job artifacts")
_JPEG = {"200": {"description": "a JPEG image", "content": {"image/jpeg": {}}}}


def _jpeg(data: bytes, name: str) -> Response:
    resp = Response(data, mimetype="image/jpeg")
    resp.headers["Content-Length"] = str(len(data))
    resp.headers["Content-Disposition"] = f'inline; filename="{name}"'
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


def _video_result(job_id: str) -> tuple[dict, dict]:
    job = services().store.get(tenant(), job_id)
    result = (job.get("results") or {}).get("moderation") or {}
    if job["input"]["kind"] != "video" or "segments" not in result:
        raise NotFound("this job has no video result (yet)", code="video_result_not_found")
    return job, result


@blp.route("/jobs/<job_id>/frames/<int:n>", methods=["GET"])
@requires(blp, "read")
@blp.doc(summary="The thumbnail of a flagged keyframe of a video job", responses=_JPEG)
@blp.alt_response(404, schema=ApiErrorSchema, example=examples.error("frame_not_found"))
def get_frame(job_id: str, n: int):
    job, result = _video_result(job_id)
    flagged = {i for s in result["segments"] if s["source"] == "frame" and s.get("flagged")
               for i in s.get("frames", ())}
    flagged |= {i for h in result.get("matched_lists") or () for i in h.get("frame_indexes", ())}
    if n not in flagged:
        raise NotFound(f"keyframe {n} is not a flagged frame of this job", code="frame_not_found")
    try:
        data = services().blobs.get(sheet.thumb_key(job, n))
    except NotFound:
        raise NotFound(f"keyframe {n} has no thumbnail", code="frame_not_found") from None
    return _jpeg(data, f"{job_id}-frame-{n}.jpg")


@blp.route("/jobs/<job_id>/contact-sheet", methods=["GET"])
@requires(blp, "read")
@blp.doc(summary="A JPEG grid of a video job's keyframes (flagged ones outlined in red)",
         responses=_JPEG)
@blp.alt_response(404, schema=ApiErrorSchema, example=examples.error("video_result_not_found"))
def get_contact_sheet(job_id: str):
    job, _ = _video_result(job_id)
    try:
        data = services().blobs.get(sheet.sheet_key(job))
    except NotFound:
        raise NotFound("this job has no contact sheet", code="video_result_not_found") from None
    return _jpeg(data, f"{job_id}-contact-sheet.jpg")
