"""Request and response schemas of the admin API (`/v1/admin/tenants`, `/v1/admin/keys`).

Why apart from the job schemas: a different surface with its own readers (operators, not
content producers); the same rules hold (input and output separate, unknown fields refused).
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from mmservice.auth.keystore import SCOPES


def _str(description: str, **kw) -> fields.String:
    return fields.String(metadata={"description": description}, **kw)


class ApiKeySchema(Schema):
    id = _str("the key's id: the 8 characters after `mms_`, shown in listings and logs",
              required=True)
    prefix = _str("`mms_<id>`: what logs show of the key", required=True)
    tenant = fields.String(required=True)
    scopes = fields.List(fields.String(validate=validate.OneOf(SCOPES)), required=True)
    name = fields.String(required=True)
    created_at = fields.String(required=True)
    expires_at = fields.String(allow_none=True, required=True)
    revoked_at = fields.String(allow_none=True, required=True)
    active = fields.Boolean(required=True, metadata={
        "description": "neither revoked nor expired"})


class NewApiKeySchema(ApiKeySchema):
    key = _str("the key itself: shown this once, never again (only its SHA-256 is kept)",
               required=True)
    replaces = fields.Nested(ApiKeySchema, metadata={
        "description": "on a rotation: the old key (revoked, or expiring after the grace)"})


class ApiKeyListSchema(Schema):
    data = fields.List(fields.Nested(ApiKeySchema), required=True)


class KeyCreateSchema(Schema):
    tenant = _str("default: the calling key's tenant (another tenant: operator keys only)")
    scopes = fields.List(fields.String(validate=validate.OneOf(SCOPES)), required=True,
                         validate=validate.Length(min=1))
    name = fields.String(validate=validate.Length(max=200))
    expires_at = _str("ISO date/datetime (UTC unless it says) or a duration (`90d`, `12h`)")


class KeyListQuerySchema(Schema):
    tenant = _str("only this tenant's keys (operator keys may name any tenant)")


class KeyRotateSchema(Schema):
    grace_s = fields.Float(load_default=0.0, validate=validate.Range(min=0, max=30 * 86400),
                           metadata={"description": "the old key keeps working this long "
                                                    "(default 0: revoked at once)"})


class TenantSchema(Schema):
    tenant = fields.String(required=True)
    keys = fields.Integer(required=True)
    active_keys = fields.Integer(required=True)
    settings = fields.Dict(keys=fields.String(), required=True, metadata={
        "description": "the tenant's overrides of the per-tenant settings (README table, "
                       "column 'per tenant'); secrets shown as `***`"})


class TenantListSchema(Schema):
    data = fields.List(fields.Nested(TenantSchema), required=True)


class SecretSchema(Schema):
    secret = _str("the new `whsec_` signing secret: shown this once", required=True)
    active = fields.Integer(required=True, metadata={
        "description": "how many secrets now sign each webhook (one `v1,` signature each)"})
