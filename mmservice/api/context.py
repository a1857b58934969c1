"""Who is asking and with what: the app's services and the request's tenant, for every view.

Why one place: tenants come from API keys next; every view asks here, so that change is one
function, and no view reads settings to find its tenant.
"""
from __future__ import annotations

from flask import current_app

from mmservice.services import Services


def services() -> Services:
    return current_app.extensions["mms"]


def tenant() -> str:
    return services().cfg["TENANT"]
