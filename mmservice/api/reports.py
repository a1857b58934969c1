"""`POST /v1/reports`: a platform's user flags content (`submit` scope).

A job id: the job's content joins (or opens) its review item. Content never seen: it is
moderated first (a job is made), then queued whatever the verdict (`mmservice.review.reports`).
"""
from __future__ import annotations

from flask_smorest import Blueprint

from mmservice.api.context import services, tenant
from mmservice.api.review import actor
from mmservice.auth.scopes import requires
from mmservice.review import reports
from mmservice.review.context import Ctx
from mmservice.schemas.output import ApiErrorSchema
from mmservice.schemas.review import ReportInSchema, ReportOutSchema

bp = Blueprint("reports", __name__, url_prefix="/v1/reports", description="User reports")


@bp.route("", methods=["POST"])
@requires(bp, "submit")
@bp.doc(summary="Report content (a job id, or the text itself) with a reason and the reporter",
        description="201 `queued` with the review item; 202 `moderating` with the job that "
                    "moderates content never seen (queued once it is moderated).")
@bp.arguments(ReportInSchema)
@bp.response(201, ReportOutSchema)
@bp.alt_response(202, schema=ReportOutSchema, description="content never seen: moderating")
@bp.alt_response(404, schema=ApiErrorSchema)
@bp.alt_response(422, schema=ApiErrorSchema)
def report(body):
    out = reports.submit(Ctx(services().deps, tenant()), body, actor())
    return out, (201 if out["status"] == "queued" else 202)
