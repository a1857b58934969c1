"""Every route declares what it needs: a scope, or that it is public.

Why a declaration on the view and not a table: a new route is written with its scope next to
it, and `tests/test_auth.py` fails for a route that declares none (the guard also refuses such a
route to every key but an `admin` one, so forgetting is never an open door). The declaration
also documents the route: the bearer security requirement and its 401/403/429 answers go into
the OpenAPI document from here.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mmservice.api import examples
from mmservice.auth.keystore import SCOPES
from mmservice.schemas.output import ApiErrorSchema

ATTR = "_mms_scope"
PUBLIC = "public"
# Public on loopback (a Prometheus next to the service), `admin` from anywhere else.
LOOPBACK_OR_ADMIN = "loopback-or-admin"
SECURITY_SCHEME = "bearerAuth"
# Endpoints flask-smorest and Flask add (the OpenAPI document, Swagger UI, static files).
PUBLIC_ENDPOINTS = ("static", "api-docs.")


def scope_of(view: Any) -> str | None:
    return getattr(view, ATTR, None)


def public(view: Callable) -> Callable:
    setattr(view, ATTR, PUBLIC)
    return view


def requires(blp: Any, scope: str, *, errors: tuple[Any, Callable[[str], dict]] | None = None
             ) -> Callable[[Callable], Callable]:
    """`@requires(blp, "read")` right under `@blp.route(...)`: the view needs a key with
    `scope`, and the document says so. `errors`: (schema, example maker) of routes that answer
    in another error shape (the OpenAI-compatible facade)."""
    if scope not in SCOPES and scope != LOOPBACK_OR_ADMIN:
        raise ValueError(f"unknown scope {scope!r}")
    schema, example = errors or (ApiErrorSchema, examples.error)

    def wrap(view: Callable) -> Callable:
        setattr(view, ATTR, scope)
        view = blp.doc(security=[{SECURITY_SCHEME: []}])(view)
        view = blp.alt_response(401, schema=schema, description="no key, or a key that "
                                "is unknown, expired or revoked",
                                example=example("unauthorized"))(view)
        view = blp.alt_response(403, schema=schema, description="the key lacks the "
                                f"`{scope}` scope", example=example("forbidden"))(view)
        return blp.alt_response(429, schema=schema, description="over the key's "
                                "request rate or the tenant's quota (`Retry-After`, "
                                "`RateLimit-*` headers)",
                                example=example("rate_limited"))(view)
    return wrap


def register_scheme(api: Any) -> None:
    api.spec.components.security_scheme(SECURITY_SCHEME, {
        "type": "http", "scheme": "bearer",
        "description": "An API key (`mms_<id>_<secret>`), as `Authorization: Bearer <key>` or "
                       "`api-key: <key>`."})
