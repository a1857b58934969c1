"""`/v1/jobs/<id>/deliveries`: a job's webhook deliveries with their attempts, and redelivery.

Why a plain blueprint beside the jobs API: it is optional (registered when the webhooks package
is present) and both views are thin; the lifecycle lives in `mmservice.webhooks`.
"""
from __future__ import annotations

from flask import current_app, jsonify
from flask_smorest import Blueprint

from mmservice.webhooks.redeliver import redeliver
from mmservice.webhooks.store import public_view
from mmservice.webhooks.wiring import hooks

bp = Blueprint("deliveries", __name__, description="Webhook deliveries", url_prefix="/v1")


def _svc():
    return current_app.extensions["mms"]


def _tenant() -> str:
    return _svc().cfg["TENANT"]


@bp.route("/jobs/<job_id>/deliveries", methods=["GET"])
def list_deliveries(job_id: str):
    svc = _svc()
    svc.store.get(_tenant(), job_id)  # 404 job_not_found, also for another tenant's job
    found = hooks(svc.deps).store.list_for_subject(_tenant(), job_id)
    return jsonify({"data": [public_view(d) for d in found]})


@bp.route("/jobs/<job_id>/deliveries/<delivery_id>/retry", methods=["POST"])
def retry_delivery(job_id: str, delivery_id: str):
    svc = _svc()
    svc.store.get(_tenant(), job_id)
    rec = redeliver(_tenant(), job_id, delivery_id, svc.deps)
    resp = jsonify(public_view(rec))
    resp.status_code = 202
    return resp
