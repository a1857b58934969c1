"""`/v1/admin`: tenants, their settings and webhook secrets, API keys. `admin` scope.

Who manages what: an `admin` key manages its own tenant; an `admin` key of the operator tenant
(`MMS_OPERATOR_TENANT`, `default`: the tenant whose key `make run` prints) manages every tenant,
and creating a key for a new tenant creates that tenant. Another tenant's key or tenant answers
404, like another tenant's job.
"""
from __future__ import annotations

from flask import g, request
from flask_smorest import Blueprint

from mmservice import audit, config
from mmservice.api import examples
from mmservice.api.context import services, tenant
from mmservice.auth import events
from mmservice.auth.keystore import check_tenant, parse_expires
from mmservice.auth.scopes import requires
from mmservice.errors import BadRequest, NotFound
from mmservice.schemas.admin import (
    ApiKeyListSchema,
    ApiKeySchema,
    KeyCreateSchema,
    KeyListQuerySchema,
    KeyRotateSchema,
    NewApiKeySchema,
    SecretSchema,
    TenantListSchema,
    TenantSchema,
)
from mmservice.schemas.output import ApiErrorSchema
from mmservice.webhooks.signing import new_secret

bp = Blueprint("admin", __name__, url_prefix="/v1/admin", description="Tenants and API keys")


def _operator() -> bool:
    key = g.get("key")
    return key is None or key.tenant == services().cfg["OPERATOR_TENANT"]


def _managed(name: str | None) -> str:
    """The tenant a request may act on: its own, or any for an operator key (404 otherwise)."""
    own = tenant()
    if name is None or name == own:
        return own
    check_tenant(name)
    if not _operator():
        raise NotFound(f"no tenant {name!r}", code="tenant_not_found")
    return name


def _actor() -> str:
    key = g.get("key")
    return key.prefix if key is not None else "auth-disabled"


def _tenant_view(name: str) -> dict:
    auth = services().auth
    found = auth.keys.listing(name)
    return {"tenant": name, "keys": len(found), "active_keys": sum(k.usable() for k in found),
            "settings": config.redacted(auth.settings.overrides(name))}


@bp.route("/tenants", methods=["GET"])
@requires(bp, "admin")
@bp.doc(summary="Tenants (an operator key sees all, another admin key its own)")
@bp.response(200, TenantListSchema, example={"data": [examples.TENANT]})
def list_tenants():
    names = services().auth.keys.tenants() if _operator() else [tenant()]
    return {"data": [_tenant_view(n) for n in names]}


@bp.route("/tenants/<name>", methods=["GET"])
@requires(bp, "admin")
@bp.doc(summary="One tenant: its keys count and settings overrides")
@bp.response(200, TenantSchema, example=examples.TENANT)
@bp.alt_response(404, schema=ApiErrorSchema, example=examples.error("key_not_found"))
def get_tenant(name: str):
    return _tenant_view(_managed(name))


@bp.route("/tenants/<name>/settings", methods=["PATCH"])
@requires(bp, "admin")
@bp.doc(summary="Change a tenant's settings (JSON object: setting -> value, null drops it)",
        description="Only the settings marked 'per tenant' in the README's table: input limits, "
                    "thresholds, webhook default URL and secrets, rate limit and quotas. "
                    "Validated like the environment's; effective everywhere within "
                    "`MMS_TENANT_SETTINGS_CACHE_S`.",
        requestBody={"content": {"application/json": {"schema": {
            "type": "object", "additionalProperties": True}}}})
@bp.response(200, TenantSchema, example=examples.TENANT)
@bp.alt_response(404, schema=ApiErrorSchema, example=examples.error("key_not_found"))
@bp.alt_response(422, schema=ApiErrorSchema, example=examples.error("invalid_setting"))
def patch_settings(name: str):
    target = _managed(name)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("send a JSON object of settings", code="malformed_json")
    svc = services()
    before = config.redacted(svc.auth.settings.overrides(target))
    after = svc.auth.settings.update(target, {k.removeprefix(config.PREFIX): v
                                              for k, v in body.items()})
    audit.append(svc.redis, svc.store.keys, target, {
        "type": "tenant.settings", "actor": _actor(), "before": before,
        "after": config.redacted(after)})
    return _tenant_view(target)


@bp.route("/tenants/<name>/webhook-secrets", methods=["POST"])
@requires(bp, "admin")
@bp.doc(summary="Rotate the tenant's webhook signing secret: a new one signs alongside the "
                "current ones",
        description="Receivers verify with any one of the signatures; once they have the new "
                    "secret, drop the old ones with PATCH settings `WEBHOOK_SECRETS`.")
@bp.response(201, SecretSchema, example={"secret": "whsec_" + "A" * 43, "active": 2})
@bp.alt_response(404, schema=ApiErrorSchema, example=examples.error("key_not_found"))
def rotate_webhook_secret(name: str):
    from mmservice.webhooks.signing import active_secrets

    svc = services()
    target = _managed(name)
    tcfg = svc.auth.settings.cfg_for(target)
    configured = tuple(s for s in tcfg["WEBHOOK_SECRETS"].split(",") if s)
    current = active_secrets(configured, svc.redis, svc.store.keys.webhook_secret(target))
    secret = new_secret()
    svc.auth.settings.update(target, {"WEBHOOK_SECRETS": ",".join([secret, *current])})
    events.log.info("webhook secret rotated", extra={"auth_event": "webhook_secret_rotated",
                                                     "tenant": target, "actor": _actor()})
    audit.append(svc.redis, svc.store.keys, target, {
        "type": "tenant.webhook_secret_rotated", "actor": _actor(), "active": len(current) + 1})
    return {"secret": secret, "active": len(current) + 1}, 201


@bp.route("/keys", methods=["GET"])
@requires(bp, "admin")
@bp.doc(summary="API keys (ids and prefixes, never the keys)")
@bp.arguments(KeyListQuerySchema, location="query")
@bp.response(200, ApiKeyListSchema, example={"data": [examples.API_KEY]})
def list_keys(query):
    auth = services().auth
    name = query.get("tenant")
    if name is None and _operator():
        return {"data": [k.public() for k in auth.keys.listing()]}
    return {"data": [k.public() for k in auth.keys.listing(_managed(name))]}


@bp.route("/keys", methods=["POST"])
@requires(bp, "admin")
@bp.doc(summary="Create an API key (the answer is the only time the key is shown)")
@bp.arguments(KeyCreateSchema)
@bp.response(201, NewApiKeySchema, example=examples.NEW_API_KEY)
@bp.alt_response(404, schema=ApiErrorSchema, example=examples.error("key_not_found"))
@bp.alt_response(422, schema=ApiErrorSchema, example=examples.error("invalid_scopes"))
def create_key(body):
    svc = services()
    target = _managed(body.get("tenant"))
    plain, key = svc.auth.keys.create(target, body["scopes"], name=body.get("name", ""),
                                      expires_ts=parse_expires(body.get("expires_at")))
    events.key_event(svc.redis, svc.store.keys, "key_created", key,
                     source=request.remote_addr or "", actor=_actor())
    return {**key.public(), "key": plain}, 201


def _own_key(key_id: str):
    svc = services()
    return svc.auth.keys.get_of(None if _operator() else tenant(), key_id)


@bp.route("/keys/<key_id>", methods=["GET"])
@requires(bp, "admin")
@bp.doc(summary="One API key")
@bp.response(200, ApiKeySchema, example=examples.API_KEY)
@bp.alt_response(404, schema=ApiErrorSchema, example=examples.error("key_not_found"))
def get_key(key_id: str):
    return _own_key(key_id).public()


@bp.route("/keys/<key_id>", methods=["DELETE"])
@requires(bp, "admin")
@bp.doc(summary="Revoke an API key: refused by every API process from the next request on")
@bp.response(200, ApiKeySchema, example={**examples.API_KEY, "active": False,
                                         "revoked_at": "2026-12-02T16:00:00Z"})
@bp.alt_response(404, schema=ApiErrorSchema, example=examples.error("key_not_found"))
def revoke_key(key_id: str):
    svc = services()
    key = svc.auth.keys.revoke(_own_key(key_id).id)
    events.key_event(svc.redis, svc.store.keys, "key_revoked", key,
                     source=request.remote_addr or "", actor=_actor())
    return key.public()


@bp.route("/keys/<key_id>/rotate", methods=["POST"])
@requires(bp, "admin")
@bp.doc(summary="Rotate an API key: a new key with the same tenant and scopes; the old one is "
                "revoked, or expires after `grace_s`")
@bp.arguments(KeyRotateSchema)
@bp.response(201, NewApiKeySchema, example=examples.NEW_API_KEY)
@bp.alt_response(404, schema=ApiErrorSchema, example=examples.error("key_not_found"))
def rotate_key(body, key_id: str):
    svc = services()
    plain, new, old = svc.auth.keys.rotate(_own_key(key_id).id, grace_s=body["grace_s"])
    events.key_event(svc.redis, svc.store.keys, "key_rotated", new,
                     source=request.remote_addr or "", actor=_actor())
    return {**new.public(), "key": plain, "replaces": old.public()}, 201
