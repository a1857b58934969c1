"""Who is asking and with what: the app's services and the request's tenant, for every view.

Why one place: the tenant comes from the request's API key (set on `flask.g` by the guard,
`mmservice.auth.guard`), and every view asks here, so no view reads a header or a setting to
find its tenant.
"""
from __future__ import annotations

from flask import current_app, g

from mmservice.services import Services


def services() -> Services:
    return current_app.extensions["mms"]


def tenant() -> str:
    """The tenant of the request's key (`MMS_TENANT` when auth is disabled). A view that asks
    without the guard having run is a bug: it fails rather than guess a tenant."""
    found = g.get("tenant")
    if not found:
        raise RuntimeError("no tenant: this route declares no scope (mmservice.auth.scopes)")
    return found


def tenant_cfg() -> dict:
    """The settings for this tenant's requests: the service's, with the tenant's overrides."""
    cfg = g.get("tenant_cfg")
    if cfg is None:
        cfg = services().auth.settings.cfg_for(tenant())
        g.tenant_cfg = cfg
    return cfg
