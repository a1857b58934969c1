"""Errors on the facade's routes, in OpenAI's shape: `{"error": {"message", "type", "param",
"code"}}`.

Why a shape of its own here: the official client reads `error.message`, `error.type`,
`error.param` and `error.code` into its exceptions (`BadRequestError`, `RateLimitError`, ...),
and code written against OpenAI branches on them. The job API keeps mmservice's shape; only the
facade's routes answer this one (the gate's 401 included).

Upstream failures are mapped onto what OpenAI itself would have answered the client: the
upstream refusing the input is the client's 400 (or 404/413), its rate limit is a 429 with
`Retry-After`, its outages are 5xx `server_error`. The upstream refusing *our* credentials
(401/403) is not the client's fault: 502.
"""
from __future__ import annotations

import json
from typing import Any

from flask import Response
from marshmallow import Schema, fields

from mmservice.errors import MMSError, UpstreamError

TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 403: "permission_error",
         404: "invalid_request_error", 405: "invalid_request_error",
         409: "invalid_request_error", 413: "invalid_request_error",
         415: "invalid_request_error", 422: "invalid_request_error", 429: "rate_limit_error"}

# Our upstream error codes -> the status OpenAI would have answered the client.
_UPSTREAM_STATUS = {
    "upstream_rejected_input": 400, "upstream_not_found": 404,
    "upstream_payload_too_large": 413, "upstream_client_error": 400,
    "upstream_rate_limited": 429, "upstream_auth_failed": 502, "upstream_forbidden": 502,
    "upstream_timeout": 504, "upstream_unreachable": 502, "upstream_unavailable": 503,
    "upstream_server_error": 502, "upstream_malformed_response": 502,
}


def error_type(status: int) -> str:
    return TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")


def body(status: int, message: str, code: str | None, param: str | None = None) -> bytes:
    return json.dumps({"error": {"message": message, "type": error_type(status),
                                 "param": param, "code": code}},
                      separators=(",", ":")).encode() + b"\n"


def status_of(e: MMSError) -> int:
    if isinstance(e, UpstreamError):
        if e.upstream_status in (400, 404, 413, 422):
            return 400 if e.upstream_status == 422 else int(e.upstream_status)
        return _UPSTREAM_STATUS.get(e.code, 502)
    return 400 if e.status == 422 else e.status  # OpenAI answers invalid input with 400


def response(e: MMSError) -> Response:
    status = status_of(e)
    resp = Response(body(status, e.message, e.code, e.field), status=status,
                    mimetype="application/json")
    resp.headers.update(e.headers or {})
    if e.retry_after is not None:
        resp.headers["Retry-After"] = str(max(1, int(round(e.retry_after))))
    elif status == 429:
        resp.headers["Retry-After"] = "1"
    return resp


class OpenAIErrorBodySchema(Schema):
    message = fields.String(required=True)
    type = fields.String(required=True)
    param = fields.String(allow_none=True, required=True)
    code = fields.String(allow_none=True, required=True)


class OpenAIErrorSchema(Schema):
    """The facade's error answers, as documented in `/openapi.json`."""

    error = fields.Nested(OpenAIErrorBodySchema, required=True)


def example(code: str) -> dict[str, Any]:
    """An error answer for the document, from the job API's example of the same code."""
    from mmservice.api import examples

    status = {"unauthorized": 401, "forbidden": 403, "rate_limited": 429}.get(code, 400)
    message = examples.error(code)["error"]["message"]
    return {"error": {"message": message, "type": error_type(status), "param": None,
                      "code": code}}


DOC = (OpenAIErrorSchema, example)


def register(blp: Any) -> None:
    """The facade blueprint's handlers: ours, werkzeug's (404/405/413 ...) and crashes."""
    from werkzeug.exceptions import HTTPException

    from mmservice.api.errors import log

    @blp.errorhandler(MMSError)
    def _mms(e: MMSError):
        return response(e)

    @blp.errorhandler(HTTPException)
    def _http(e: HTTPException):
        status = e.code or 500
        return Response(body(status, e.description or e.name, e.name.lower().replace(" ", "_")),
                        status=status, mimetype="application/json")

    from mmservice.facade.calls import ClientGone
    from mmservice.providers.cancel import Cancelled

    @blp.errorhandler(ClientGone)
    def _gone(e: ClientGone):
        # Nobody reads this answer; 499 (nginx's "client closed request") marks it in the
        # access log and the audit entry.
        return Response(body(499, "the client closed the request", "client_closed_request"),
                        status=499, mimetype="application/json")

    @blp.errorhandler(Cancelled)
    def _cancelled(e: Cancelled):
        log.info("facade call cancelled: the client hung up", extra={"call": str(e)})
        return _gone(ClientGone(str(e)))

    @blp.errorhandler(Exception)
    def _crash(e: Exception):
        import redis

        if isinstance(e, (redis.ConnectionError, redis.TimeoutError)):
            resp = Response(body(503, "the service's store is unreachable; retry later",
                                 "store_unavailable"), status=503, mimetype="application/json")
            resp.headers["Retry-After"] = "5"
            return resp
        log.exception("unhandled error in the facade")
        return Response(body(500, "internal error; it has been logged", "internal_error"),
                        status=500, mimetype="application/json")
