"""One JSON error shape for every failure the API can answer.

Why handlers for werkzeug's and marshmallow's errors too: a 404 route, a 405 method, an
oversized body (413 from MAX_CONTENT_LENGTH) or a Redis outage must all answer
`{"error": {"code", "message", "field"?}}`, never an HTML page or a 500.
"""
from __future__ import annotations

import logging

import redis
from flask import Flask, jsonify
from kombu.exceptions import OperationalError as KombuOperationalError
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from mmservice.errors import MMSError

log = logging.getLogger("mmservice.api")

_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 406: "not_acceptable", 409: "conflict",
               413: "payload_too_large", 415: "unsupported_media_type", 422: "invalid",
               429: "rate_limited", 500: "internal_error", 503: "service_unavailable"}


def error_response(status: int, code: str, message: str, field: str | None = None,
                   retry_after: float | None = None, headers: dict | None = None,
                   details: dict | None = None):
    err = {"code": code, "message": message}
    if field:
        err["field"] = field
    err.update(details or {})
    resp = jsonify({"error": err})
    resp.headers.update(headers or {})
    resp.status_code = status
    if retry_after is not None:
        resp.headers["Retry-After"] = str(max(1, int(round(retry_after))))
    return resp


def first_validation_error(messages, prefix: str = "") -> tuple[str, str]:
    """marshmallow's nested messages -> (dotted field, first message)."""
    if isinstance(messages, dict):
        for key, val in messages.items():
            name = prefix if key == "_schema" else (f"{prefix}.{key}" if prefix else str(key))
            return first_validation_error(val, name)
    if isinstance(messages, list) and messages:
        head = messages[0]
        if isinstance(head, (dict, list)):
            return first_validation_error(head, prefix)
        return prefix, str(head)
    return prefix, str(messages)


def register(app: Flask) -> None:
    @app.errorhandler(MMSError)
    def _mms(e: MMSError):
        return error_response(e.status, e.code, e.message, e.field, e.retry_after, e.headers,
                              e.details)

    @app.errorhandler(ValidationError)
    def _validation(e: ValidationError):
        field, msg = first_validation_error(e.messages)
        if msg == "Unknown field.":
            return error_response(422, "unknown_field", f"unknown field {field!r}", field)
        return error_response(422, "validation_error", f"{field}: {msg}" if field else msg,
                              field or None)

    @app.errorhandler(HTTPException)
    def _http(e: HTTPException):
        status = e.code or 500
        code = _HTTP_CODES.get(status, "http_error")
        if status == 413:
            return error_response(413, "payload_too_large",
                                  "request body is larger than the service accepts "
                                  f"({app.config.get('MAX_CONTENT_LENGTH')} bytes)")
        data = getattr(e, "data", None) or {}
        if status == 422 and data.get("messages"):
            # flask-smorest's query/body parsing: the same codes as our own body parsing, so an
            # unknown query parameter reads like an unknown body field.
            field, msg = first_validation_error(data["messages"])
            field = field.split(".", 1)[-1] if field.startswith(("query.", "json.")) else field
            if msg == "Unknown field.":
                return error_response(422, "unknown_field", f"unknown field {field!r}", field)
            return error_response(422, "validation_error", f"{field}: {msg}", field or None)
        return error_response(status, code, e.description or code)

    @app.errorhandler(redis.exceptions.ConnectionError)
    @app.errorhandler(redis.exceptions.TimeoutError)
    @app.errorhandler(KombuOperationalError)
    def _store_down(e):
        log.error("store or broker unreachable", extra={"error": type(e).__name__})
        return error_response(503, "store_unavailable",
                              "the job store or broker is unreachable; retry later",
                              retry_after=5)

    @app.errorhandler(Exception)
    def _crash(e: Exception):
        log.exception("unhandled error")
        return error_response(500, "internal_error", "internal error; it has been logged")
