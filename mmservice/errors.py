"""Typed errors: domain code raises these, one handler renders them.

Why typed exceptions and not `abort()`: the same plain functions run in the API, in workers and in
the CLI. A worker stores `code`/`message` on the job; the API renders them as
`{"error": {"code", "message", "field"?}}` with `status`.
"""
from __future__ import annotations


class MMSError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None,
                 status: int | None = None, retry_after: float | None = None,
                 headers: dict[str, str] | None = None, details: dict | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.field = field
        self.retry_after = retry_after
        self.headers = headers or {}  # extra response headers (WWW-Authenticate, RateLimit-*)
        self.details = details or {}  # extra error fields, declared in ErrorBodySchema

    def to_dict(self) -> dict:
        err = {"code": self.code, "message": self.message}
        if self.field:
            err["field"] = self.field
        err.update(self.details)
        return err


class BadRequest(MMSError):
    status, code = 400, "bad_request"


class NotFound(MMSError):
    status, code = 404, "not_found"


class Conflict(MMSError):
    status, code = 409, "conflict"


class PayloadTooLarge(MMSError):
    status, code = 413, "payload_too_large"


class UnsupportedMedia(MMSError):
    status, code = 415, "unsupported_media_type"


class Invalid(MMSError):
    status, code = 422, "invalid"


class Unauthorized(MMSError):
    status, code = 401, "unauthorized"


class Forbidden(MMSError):
    status, code = 403, "forbidden"


class TooManyRequests(MMSError):
    status, code = 429, "rate_limited"


class Unavailable(MMSError):
    status, code = 503, "service_unavailable"


class UpstreamError(MMSError):
    """An upstream model call failed. `retryable` tells the retry layer whether to try again."""

    status, code = 502, "upstream_error"

    def __init__(self, message: str, *, code: str | None = None, retryable: bool = False,
                 retry_after: float | None = None, upstream_status: int | None = None):
        super().__init__(message, code=code, retry_after=retry_after)
        self.retryable = retryable
        self.upstream_status = upstream_status


class CapabilityUnavailable(MMSError):
    """The configured provider cannot do what was asked (e.g. free-form questions offline)."""

    status, code = 422, "capability_unavailable"
