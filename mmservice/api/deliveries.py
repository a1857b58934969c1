"""`/v1/jobs/<id>/deliveries`: a job's webhook deliveries with their attempts, and redelivery.

Both views are thin: the lifecycle lives in `mmservice.webhooks`.
"""
from __future__ import annotations

from flask_smorest import Blueprint

from mmservice import logs
from mmservice.api import examples
from mmservice.api.context import services, tenant
from mmservice.auth.scopes import requires
from mmservice.schemas.ops_output import DeliveryListSchema, DeliverySchema
from mmservice.schemas.output import ApiErrorSchema
from mmservice.webhooks.redeliver import redeliver
from mmservice.webhooks.store import public_view
from mmservice.webhooks.wiring import hooks

bp = Blueprint("deliveries", __name__, description="Webhook deliveries", url_prefix="/v1")


@bp.route("/jobs/<job_id>/deliveries", methods=["GET"])
@requires(bp, "read")
@bp.doc(summary="A job's webhook deliveries, with every attempt")
@bp.response(200, DeliveryListSchema, example={"data": [examples.DELIVERY]})
@bp.alt_response(404, schema=ApiErrorSchema, example=examples.error("job_not_found"))
def list_deliveries(job_id: str):
    svc, who = services(), tenant()
    svc.store.get(who, job_id)  # 404 job_not_found, also for another tenant's job
    found = hooks(svc.deps).store.list_for_subject(who, job_id)
    return {"data": [public_view(d) for d in found]}


@bp.route("/jobs/<job_id>/deliveries/<delivery_id>/retry", methods=["POST"])
@requires(bp, "submit")
@bp.doc(summary="Deliver again (also re-enables an endpoint disabled by a 410)")
@bp.response(202, DeliverySchema, example=examples.DELIVERY)
@bp.alt_response(404, schema=ApiErrorSchema, example=examples.error("delivery_not_found"))
def retry_delivery(job_id: str, delivery_id: str):
    svc, who = services(), tenant()
    svc.store.get(who, job_id)
    logs.add(job_id=job_id)
    return public_view(redeliver(who, job_id, delivery_id, svc.deps))
