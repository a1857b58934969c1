"""The request guard: who is asking (API key -> tenant), may they (scope), how often (rate).

Why one `before_request` hook reading the view's declared scope: every route is guarded the
same way, before its view parses anything, and a route without a declaration is refused to all
but `admin` keys rather than left open. The tenant goes on `flask.g`, where
`api.context.tenant()` reads it. The key itself is verified before Flask, by the gate
(`gate.py`), so a bad key costs no request context.

Answers: 401 `unauthorized` with `WWW-Authenticate: Bearer realm="mmservice"` (no key, or one
unknown, expired or revoked: the answer does not say which), 403 `forbidden` naming the missing
scope, 429 `rate_limited` over the key's request rate. Authenticated answers carry
`RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`.
"""
from __future__ import annotations

import ipaddress

from flask import Flask, current_app, g, request

from mmservice import logs
from mmservice.auth import events
from mmservice.auth.gate import ENVIRON_KEY, ENVIRON_PASS, Gate
from mmservice.auth.keystore import KEY_RE
from mmservice.auth.scopes import LOOPBACK_OR_ADMIN, PUBLIC, PUBLIC_ENDPOINTS, scope_of
from mmservice.errors import Forbidden, Invalid, TooManyRequests, Unauthorized

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="mmservice"'}
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_auth_setting(cfg: dict) -> None:
    """`MMS_AUTH=disabled` is for local experiments: refused unless bound to loopback."""
    if cfg["AUTH"] == "disabled" and not is_loopback(cfg["HOST"]):
        raise Invalid(f"MMS_AUTH=disabled is refused when the API is bound to {cfg['HOST']!r}: "
                      "it is for local experiments on a loopback address only (MMS_HOST="
                      "127.0.0.1); create an API key instead (python -m mmservice keys create)",
                      code="invalid_setting", field="MMS_AUTH")


def presented_key() -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return request.headers.get("api-key", "").strip() or None


def _prefix_of(presented: str | None) -> str:
    m = KEY_RE.match(presented or "")
    return f"mms_{m.group(1)}" if m else ""


def guard() -> None:
    """After the gate (`gate.py`): the scope, the tenant, the request rate. The gate has either
    let the request pass without a key (public, loopback), or verified its key, or failed to
    reach Redis (then the key is looked up again here, and a Redis error answers 503)."""
    env = request.environ
    svc = current_app.extensions["mms"]
    if env.get(ENVIRON_PASS):
        view = current_app.view_functions.get(request.endpoint or "")
        if view is not None and scope_of(view) not in (PUBLIC, LOOPBACK_OR_ADMIN, None):
            g.tenant, g.key = svc.cfg["TENANT"], None  # MMS_AUTH=disabled, loopback client
        return
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None:
        return  # 404/405: nothing to guard
    scope = scope_of(view)
    if scope is None and (request.endpoint or "").startswith(PUBLIC_ENDPOINTS):
        return
    source = request.remote_addr or ""
    auth, keys = svc.auth, svc.store.keys
    key = env.get(ENVIRON_KEY)
    if key is None:
        presented = presented_key()
        key = auth.keys.verify(presented) if presented else None
        if key is None:
            events.refused(svc.redis, keys, "unauthorized", source=source,
                           key_prefix=_prefix_of(presented), path=request.path)
            raise Unauthorized("send a valid API key: Authorization: Bearer mms_..."
                               if presented is None else
                               "the API key is unknown, expired or revoked", headers=CHALLENGE)
    needed = "admin" if scope in (None, LOOPBACK_OR_ADMIN) else scope
    if needed not in key.scopes:
        events.refused(svc.redis, keys, "forbidden", source=source, tenant=key.tenant,
                       key_prefix=key.prefix, path=request.path)
        raise Forbidden(f"this API key lacks the {needed!r} scope", details={"scope": needed})
    g.tenant, g.key = key.tenant, key
    logs.add(tenant=key.tenant, credential_id=key.prefix)
    tcfg = auth.settings.cfg_for(key.tenant)
    g.tenant_cfg = tcfg
    try:
        g.rate = auth.limits.hit(key.id, tcfg["RATE_LIMIT"])
    except TooManyRequests:
        events.refused(svc.redis, keys, "rate_limited", source=source, tenant=key.tenant,
                       key_prefix=key.prefix, path=request.path)
        raise


def rate_headers(response):
    rate = g.get("rate")
    if rate is not None:
        for name, value in rate.headers().items():
            response.headers.setdefault(name, value)
    return response


def init_app(app: Flask) -> None:
    """The gate in front of Flask, the guard as its first hook (after the request id)."""
    app.wsgi_app = Gate(app, app.wsgi_app)  # type: ignore[method-assign]
    app.before_request(guard)
    app.after_request(rate_headers)
