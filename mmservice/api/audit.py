"""`/v1/audit`: the tenant's audit events and a check of their hash chain. `admin` scope.

The review queue (issue 16) appends its verdicts, reports, leases, decisions, appeals and
reveals to the same stream; `item=` and `job=` select what concerns one item or job, and
`format=jsonl` exports entries one per line (each still carries `prev` and `hash`, so an export
can be verified offline).
"""
from __future__ import annotations

import json

from flask import Response
from flask_smorest import Blueprint

from mmservice import audit
from mmservice.api import policy_examples as ex
from mmservice.api.context import services, tenant
from mmservice.auth.scopes import requires
from mmservice.errors import Invalid
from mmservice.schemas.output import ApiErrorSchema
from mmservice.schemas.policies import AuditListSchema, AuditQuerySchema, AuditVerifySchema

bp = Blueprint("audit", __name__, url_prefix="/v1/audit", description="Audit events")


def _since(raw: str | None) -> str | None:
    if not raw:
        return None
    ms, _, seq = raw.partition("-")
    if not ms.isdigit() or (seq and not seq.isdigit()):
        raise Invalid("since must be a stream id (`1764687600000-0`) or epoch milliseconds",
                      code="invalid_since", field="since")
    return raw


@bp.route("", methods=["GET"])
@requires(bp, "admin")
@bp.doc(summary="The tenant's audit events, oldest first (verdicts, reports, leases, "
                "decisions, appeals, reveals, policy/list/key changes); `format=jsonl` exports")
@bp.arguments(AuditQuerySchema, location="query")
@bp.response(200, AuditListSchema, example=ex.AUDIT_LIST)
@bp.alt_response(422, schema=ApiErrorSchema, example=ex.error(
    "invalid_since", "since must be a stream id (`1764687600000-0`) or epoch milliseconds",
    "since"))
def list_audit(query):
    svc = services()
    types = (query["type"],) if query.get("type") else ()
    data = audit.read(svc.redis, svc.store.keys, tenant(), since=_since(query.get("since")),
                      types=types, limit=query["limit"], item=query.get("item"),
                      job=query.get("job"))
    if query["format"] == "jsonl":
        return Response("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in data),
                        mimetype="application/x-ndjson")
    return {"data": data}


@bp.route("/verify", methods=["GET"])
@requires(bp, "admin")
@bp.doc(summary="Check the tenant's audit hash chain: the first entry edited or out of line")
@bp.response(200, AuditVerifySchema, example=ex.AUDIT_VERIFY)
def verify_audit():
    svc = services()
    ok, bad = audit.verify(svc.redis, svc.store.keys, tenant())
    return {"ok": ok, "first_bad_id": bad,
            "entries": int(svc.redis.xlen(svc.store.keys.audit(tenant())))}
