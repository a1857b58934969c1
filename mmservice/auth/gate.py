"""The authentication gate: a WSGI layer in front of Flask that answers a request without a
live key with 401 before Flask sees it.

Why before Flask: a brute force sends thousands of bad keys, and each one should cost as
little as possible. Refused here, a bad key costs a URL match, one Redis round trip (a Lua
script that looks the key up and, when it is unknown, counts the refusal in the same call) and a
small fixed answer: no request context, no hooks, no error handler. A good key is looked up
once: its record goes to the Flask guard (`guard.py`) in the WSGI environ, and the guard checks
the scope, sets the tenant and counts the rate.

What passes untouched: public routes, unknown routes (Flask answers 404/405), `/metrics` from
loopback, anything from loopback with `MMS_AUTH=disabled`, and any request when Redis fails
here (the guard then looks the key up again and the error handler answers 503).
"""
from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import redis
from werkzeug.exceptions import HTTPException

from mmservice.auth import events
from mmservice.auth.keystore import _FIELDS, KEY_RE, _decode, digest
from mmservice.auth.scopes import LOOPBACK_OR_ADMIN, PUBLIC, PUBLIC_ENDPOINTS, scope_of

log = logging.getLogger("mmservice.auth")
ENVIRON_KEY = "mms.api_key"  # the verified ApiKey, for the guard
ENVIRON_PASS = "mms.auth_pass"  # the gate let it through without a key (public, loopback)
ENVIRON_RATE = "mms.rate_counted"  # (rate, at, count): the request counted at the default rate
CHALLENGE = ("WWW-Authenticate", 'Bearer realm="mmservice"')

# One round trip: the key's fields (and, when the digest matches, the request counted against
# the key's rate: KEYS[4], expiry ARGV[4], as `limits` counts), or (unknown id) the refusal
# counted and its count returned. The digest compared here only decides whether to count; the
# key is accepted by a constant-time compare in Python.
_VERIFY_LUA = """
local v = redis.call('HMGET', KEYS[1], unpack(ARGV, 6))
if v[1] then
  if ARGV[4] ~= '' and v[1] == ARGV[5] then
    local n = redis.call('INCRBY', KEYS[4], 1)
    if n == 1 then redis.call('EXPIRE', KEYS[4], ARGV[4]) end
    v[#v + 1] = n
  end
  return v
end
local n = redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('HINCRBY', KEYS[3], ARGV[3], 1)
return {n}
"""


def _body(message: str) -> bytes:
    return json.dumps({"error": {"code": "unauthorized", "message": message}},
                      separators=(",", ":")).encode() + b"\n"


NO_KEY = _body("send a valid API key: Authorization: Bearer mms_...")
DEAD_KEY = _body("the API key is unknown, expired or revoked")
FACADE = "facade."  # the OpenAI-compatible routes answer in OpenAI's error shape


def _openai_body(mms_body: bytes) -> bytes:
    err = json.loads(mms_body)["error"]
    return json.dumps({"error": {"message": err["message"], "type": "invalid_request_error",
                                 "param": None, "code": err["code"]}},
                      separators=(",", ":")).encode() + b"\n"


FACADE_BODIES = {NO_KEY: _openai_body(NO_KEY), DEAD_KEY: _openai_body(DEAD_KEY)}


def presented(environ: dict) -> str | None:
    header = environ.get("HTTP_AUTHORIZATION", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return environ.get("HTTP_API_KEY", "").strip() or None


class Gate:
    def __init__(self, app: Any, wsgi_app: Callable):
        from mmservice import metrics
        from mmservice.auth.guard import is_loopback

        self.app, self.wsgi_app = app, wsgi_app
        self.is_loopback = is_loopback
        svc = app.extensions["mms"]
        self.svc, self.keys = svc, svc.store.keys
        self.disabled = svc.cfg["AUTH"] == "disabled"
        self.rate = svc.cfg["RATE_LIMIT"]  # a tenant with another rate is counted by the guard
        self.verify_script = svc.redis.register_script(_VERIFY_LUA)
        self.metrics_key = self.keys.metrics(metrics.AUTH_EVENTS)
        self.metric_field = metrics.field("unauthorized", None)

    def _scope(self, environ: dict) -> tuple[str | None, str]:
        """The route's declared scope (PUBLIC for routes Flask will answer itself), and its
        endpoint."""
        try:
            endpoint, _args = self.app.url_map.bind_to_environ(environ).match()
        except HTTPException:
            return PUBLIC, ""  # 404 / 405 / a redirect: Flask answers it
        if endpoint.startswith(PUBLIC_ENDPOINTS):
            return PUBLIC, endpoint
        return scope_of(self.app.view_functions.get(endpoint)), endpoint

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        scope, endpoint = self._scope(environ)
        source = environ.get("REMOTE_ADDR") or ""
        if scope == PUBLIC or (self.disabled and self.is_loopback(source)) or (
                scope == LOOPBACK_OR_ADMIN and self.is_loopback(source)):
            environ[ENVIRON_PASS] = True
            return self.wsgi_app(environ, start_response)
        key = presented(environ)
        try:
            refused = self._check(environ, key, source)
        except redis.RedisError:  # the guard looks the key up again; the handler answers 503
            return self.wsgi_app(environ, start_response)
        if refused is None:
            return self.wsgi_app(environ, start_response)
        if endpoint.startswith(FACADE):
            refused = FACADE_BODIES[refused]
        start_response("401 UNAUTHORIZED", [("Content-Type", "application/json"),
                                            ("Content-Length", str(len(refused))), CHALLENGE])
        return [refused]

    def _check(self, environ: dict, key: str | None, source: str) -> bytes | None:
        """None when `key` is live (its record put in the environ), else the 401 body."""
        path = environ.get("PATH_INFO", "")
        m = KEY_RE.match(key or "")
        if m is None:
            events.refused(self.svc.redis, self.keys, "unauthorized", source=source, path=path)
            return NO_KEY if key is None else DEAD_KEY
        key_id = m.group(1)
        window = events.window()
        now = time.time()
        counter = self.svc.auth.limits.counter(key_id, self.rate, now)
        presented_digest = digest(key or "")
        raw = self.verify_script(
            keys=[self.keys.api_key(key_id), self.keys.auth_failures(window), self.metrics_key,
                  counter[0] if counter else self.keys.api_key(key_id)],
            args=[f"unauthorized|{source}", events.WINDOW_S * 3, self.metric_field,
                  counter[1] if counter else "", presented_digest, *_FIELDS])
        if len(raw) == 1:  # unknown id: counted by the script
            events.log_burst("unauthorized", int(raw[0]), source=source,
                             key_prefix=f"mms_{key_id}", path=path)
            return DEAD_KEY
        stored = raw[0].decode() if isinstance(raw[0], bytes) else raw[0]
        found = _decode(key_id, raw[:len(_FIELDS)])
        live = found is not None and found.usable()
        if not hmac.compare_digest(stored, presented_digest) or not live:
            events.refused(self.svc.redis, self.keys, "unauthorized", source=source,
                           key_prefix=f"mms_{key_id}", path=path)
            return DEAD_KEY
        environ[ENVIRON_KEY] = found
        if len(raw) > len(_FIELDS):
            environ[ENVIRON_RATE] = (self.rate, now, int(raw[len(_FIELDS)]))
        return None
