"""`/v1/policies`: a tenant's moderation policies, their versions, and the backtest. `admin`.

Why the views stay thin: storage and versioning live in `policies.store`, the decision in
`policies.model`, the backtest in `policies.backtest`; a view parses, checks the lists exist,
writes, appends the audit event and answers.
"""
from __future__ import annotations

import time

from flask import g, request
from flask_smorest import Blueprint
from marshmallow import ValidationError

from mmservice import audit
from mmservice.api import policy_examples as ex
from mmservice.api.context import services, tenant, tenant_cfg
from mmservice.auth.scopes import requires
from mmservice.errors import BadRequest, Invalid
from mmservice.jobs.store import now_iso
from mmservice.moderation.policy import default_thresholds
from mmservice.policies import backtest
from mmservice.policies.model import BUILTIN, Policy
from mmservice.policies.store import NAME_RE, PolicyStore, builtin_record, lists_exist
from mmservice.schemas.output import ApiErrorSchema
from mmservice.schemas.policies import (
    BacktestQuerySchema,
    BacktestSchema,
    PolicyInSchema,
    PolicyListSchema,
    PolicySchema,
)

bp = Blueprint("policies", __name__, url_prefix="/v1/policies",
               description="Moderation policies (per tenant, versioned)")
_IN = PolicyInSchema()
_BODY_DOC = {"content": {"application/json": {"schema": PolicyInSchema,
                                              "example": ex.POLICY_IN}}}


def _store() -> PolicyStore:
    return services().deps.policies


def _actor() -> str:
    key = g.get("key")
    return key.prefix if key is not None else "auth-disabled"


def _builtin() -> dict:
    return builtin_record(default_thresholds(tenant_cfg()),
                          default=_store().default_name(tenant()) is None)


def _parse_body(*, optional: bool = False) -> dict | None:
    """The policy body, validated; errors name the dotted field (`thresholds.hate.review`)."""
    raw = request.get_data(cache=True)
    if optional and not raw.strip():
        return None
    body = request.get_json(silent=True, force=True)
    if body is None and optional and raw.strip() == b"null":
        return None
    if not isinstance(body, dict):
        raise BadRequest("send the policy as a JSON object", code="malformed_json")
    try:
        data = _IN.load(body)
    except ValidationError as e:
        from mmservice.api.errors import first_validation_error

        field, msg = first_validation_error(e.messages)
        field = ".".join(p for p in field.split(".") if p not in ("key", "value"))
        if msg == "Unknown field.":
            raise Invalid(f"unknown field {field!r}", code="unknown_field", field=field) from None
        raise Invalid(f"{field}: {msg}", code="validation_error", field=field) from None
    missing = lists_exist(services().redis, services().store.keys, tenant(),
                          data.get("lists") or [])
    if missing:
        raise Invalid(f"no list named {', '.join(repr(m) for m in missing)}",
                      code="list_not_found", field="lists")
    return data


def _writable(name: str) -> None:
    if name == BUILTIN:
        raise Invalid("`builtin` is the policy from settings; change it with the tenant's "
                      "THRESHOLDS_* settings", code="policy_builtin", field="name")
    if not NAME_RE.match(name):
        raise Invalid("a policy name is 1-64 of a-z, 0-9, `_`, `.`, `-`, starting with a letter "
                      "or digit", code="invalid_policy_name", field="name")


@bp.route("", methods=["GET"])
@requires(bp, "admin")
@bp.doc(summary="The tenant's policies (latest version of each) and which is the default")
@bp.response(200, PolicyListSchema, example=ex.POLICY_LIST)
def list_policies():
    found = _store().listing(tenant())
    default = next((p["name"] for p in found if p["default"]), BUILTIN)
    return {"data": found, "default": default}


@bp.route("/<policy_name>", methods=["GET"])
@requires(bp, "admin")
@bp.doc(summary="A policy's latest version (`builtin`: the lines from settings, version 0)")
@bp.response(200, PolicySchema, example=ex.POLICY)
@bp.alt_response(404, schema=ApiErrorSchema, example=ex.NOT_FOUND)
def get_policy(policy_name: str):
    if policy_name == BUILTIN:
        return _builtin()
    return _store().get(tenant(), policy_name)


@bp.route("/<policy_name>/versions/<int:version>", methods=["GET"])
@requires(bp, "admin")
@bp.doc(summary="One version of a policy (readable after the policy is deleted)")
@bp.response(200, PolicySchema, example=ex.POLICY)
@bp.alt_response(404, schema=ApiErrorSchema, example=ex.VERSION_NOT_FOUND)
def get_version(policy_name: str, version: int):
    if policy_name == BUILTIN and version == 0:
        return _builtin()
    return _store().get(tenant(), policy_name, version)


@bp.route("/<policy_name>", methods=["PUT"])
@requires(bp, "admin")
@bp.doc(summary="Create or change a policy: every PUT stores a new immutable version",
        description="`thresholds` per category, `by_kind` per input kind, `lists`, "
                    "`halt_on_match`, `unassessed`, `mode` (live|shadow), `default`. Jobs "
                    "submitted from now on are judged by the new version.",
        requestBody=_BODY_DOC)
@bp.response(200, PolicySchema, example=ex.POLICY)
@bp.alt_response(422, schema=ApiErrorSchema, example=ex.INVALID)
def put_policy(policy_name: str):
    _writable(policy_name)
    body = _parse_body()
    assert body is not None
    svc = services()
    new, before = _store().put(tenant(), policy_name, body, actor=_actor(),
                               created_at=now_iso(time.time()))
    audit.append(svc.redis, svc.store.keys, tenant(), {
        "type": "policy.put", "actor": _actor(), "policy": policy_name,
        "version": new["version"], "before": before, "after": new})
    return new


@bp.route("/<policy_name>", methods=["DELETE"])
@requires(bp, "admin")
@bp.doc(summary="Delete a policy: no new job may name it; its versions stay readable")
@bp.response(200, PolicySchema, example={**ex.POLICY, "default": False,
                                         "deleted_at": "2026-12-02T16:00:00.000Z"})
@bp.alt_response(404, schema=ApiErrorSchema, example=ex.NOT_FOUND)
def delete_policy(policy_name: str):
    _writable(policy_name)
    svc = services()
    at = now_iso(time.time())
    last = _store().delete(tenant(), policy_name, deleted_at=at)
    audit.append(svc.redis, svc.store.keys, tenant(), {
        "type": "policy.delete", "actor": _actor(), "policy": policy_name,
        "version": last["version"], "before": last, "after": None})
    return {**last, "default": False, "deleted_at": at}


@bp.route("/<policy_name>/backtest", methods=["POST"])
@requires(bp, "admin")
@bp.doc(summary="Re-decide the tenant's recent moderation results under this policy, or under "
                "a candidate sent as the body (no model calls)",
        description="Body: a candidate policy (as for PUT) or nothing (the stored latest "
                    "version). Uses the scores stored on each result; each job's own "
                    "`options.thresholds` stay on top.",
        requestBody={**_BODY_DOC, "required": False})
@bp.arguments(BacktestQuerySchema, location="query")
@bp.response(200, BacktestSchema, example=ex.BACKTEST)
@bp.alt_response(404, schema=ApiErrorSchema, example=ex.NOT_FOUND)
@bp.alt_response(422, schema=ApiErrorSchema, example=ex.INVALID)
def backtest_policy(query, policy_name: str):
    svc, who = services(), tenant()
    stored = _builtin() if policy_name == BUILTIN else _store().get(who, policy_name)
    candidate = _parse_body(optional=True)
    rec = {**candidate, "name": policy_name, "version": 0} if candidate is not None else stored
    base = default_thresholds(tenant_cfg())
    jobs = backtest.recent_moderations(svc.store, who, query["limit"])
    out = backtest.run(jobs, lambda job: Policy.from_record(
        rec, base, (job.get("options") or {}).get("thresholds")))
    return {"policy": {"name": policy_name, "version": int(rec["version"])},
            "candidate": candidate is not None, **out}
