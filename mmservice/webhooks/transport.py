"""One webhook POST: SSRF check on the resolved addresses, connect to a checked address, no
redirects, a timeout, and a short excerpt of the answer for the delivery log.

Why check at delivery time and pin the address: a hostname that was public at submission can
resolve to 127.0.0.1 or the metadata address by the time the worker connects (DNS rebinding), so
the worker resolves, checks, and connects to the address it checked (sending the original `Host`
and TLS server name). Why no redirects: a 3xx could point anywhere, including inside our network.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import httpx

from mmservice.errors import Invalid
from mmservice.netguard import check_url, pin_to, shared_client

EXCERPT_BYTES = 1024
# Refusals no retry can fix; a name that does not resolve may resolve later, so it is retried.
FINAL_CODES = {"url_not_allowed", "invalid_url"}


@dataclass
class AttemptResult:
    status_code: int | None = None
    latency_ms: float = 0.0
    error: dict | None = None
    response_body: str = ""
    retry_after: str | None = None
    final: bool = False  # refused: retrying cannot help
    addresses: list[str] = field(default_factory=list)


def _excerpt(resp: httpx.Response, deadline: float) -> str:
    buf = bytearray()
    for chunk in resp.iter_bytes():
        buf += chunk
        if len(buf) >= EXCERPT_BYTES or time.monotonic() > deadline:
            break
    return bytes(buf[:EXCERPT_BYTES]).decode("utf-8", errors="replace")


def post(url: str, body: bytes, headers: dict, *, allow: str, timeout_s: float) -> AttemptResult:
    """Never raises for network trouble: every outcome becomes an AttemptResult to record."""
    t0 = time.monotonic()
    out = AttemptResult()
    try:
        addresses = check_url(url, allow, field="webhook_url")
    except Invalid as e:
        out.error = {"code": e.code, "message": e.message}
        out.final = e.code in FINAL_CODES
        out.latency_ms = round((time.monotonic() - t0) * 1000, 1)
        return out
    out.addresses = addresses
    target, extra_headers, extensions = (pin_to(url, addresses[0]) if addresses
                                         else (url, {}, {}))
    try:
        client = shared_client("webhooks")
        with client.stream("POST", target, content=body, headers={**headers, **extra_headers},
                           extensions=extensions, timeout=httpx.Timeout(timeout_s)) as resp:
            out.status_code = resp.status_code
            out.retry_after = resp.headers.get("retry-after")
            out.response_body = _excerpt(resp, t0 + timeout_s)
        if 300 <= out.status_code < 400:
            out.error = {"code": "redirect_not_followed",
                         "message": f"the receiver answered {out.status_code} (redirects are not "
                                    "followed; configure the final URL)"}
        elif not 200 <= out.status_code < 300:
            out.error = {"code": "webhook_http_error",
                         "message": f"the receiver answered HTTP {out.status_code}"}
    except httpx.TimeoutException:
        out.error = {"code": "webhook_timeout",
                     "message": f"no answer within {timeout_s:g} s"}
    except httpx.HTTPError as e:
        out.error = {"code": "webhook_connection_error",
                     "message": f"could not reach the receiver ({type(e).__name__})"}
    out.latency_ms = round((time.monotonic() - t0) * 1000, 1)
    return out
