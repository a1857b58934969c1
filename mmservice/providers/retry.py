"""The one layer that retries upstream calls.

Why here and not in the openai client or Celery: the client is built with `max_retries=0` and an
explicit timeout, and Celery tasks do not retry upstream errors, so there is exactly one policy:
capped exponential backoff with full jitter, `Retry-After` honoured on 429/503, and no retry at
all for 400/401/403/404/422 (they cannot get better by waiting).

Why the time budget is the bound and the attempt cap only a backstop: a storm is measured in
seconds, not attempts. With 5 attempts, a 10 s storm of 429 (Retry-After 1) then 500 failed one
job in ten although the 120 s budget was far from spent; `UPSTREAM_MAX_ATTEMPTS` (30) is high
enough that a storm shorter than `UPSTREAM_RETRY_BUDGET_S` fails nothing. Between attempts the
upstream's circuit breaker (breaker.py) may hold a call back; that wait spends the same budget.
A call whose client hung up (`cancel.py`) ends with `cancel.Cancelled`: never retried, never
counted as the upstream's failure.
"""
from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

import openai
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
)

from mmservice import logs, metrics
from mmservice.errors import UpstreamError
from mmservice.providers import breaker as breakers
from mmservice.providers import cancel

log = logging.getLogger("mmservice.upstream")
T = TypeVar("T")

_STATUS_CODES = {
    400: "upstream_rejected_input", 401: "upstream_auth_failed", 403: "upstream_forbidden",
    404: "upstream_not_found", 413: "upstream_payload_too_large",
    422: "upstream_rejected_input",
}


def _retry_after(resp) -> float | None:
    if resp is None:
        return None
    h = resp.headers
    try:
        if h.get("retry-after-ms"):
            return float(h["retry-after-ms"]) / 1000
        if h.get("retry-after"):
            return float(h["retry-after"])
    except ValueError:
        return None
    return None


def _upstream_message(e: openai.APIStatusError) -> str:
    """The upstream's own error message, trimmed; never request headers (they hold the key)."""
    body = e.body if isinstance(e.body, dict) else {}
    msg = body.get("message") or (body.get("error") or {}).get("message") if body else None
    return (str(msg) if msg else e.message or "")[:300]


def classify(e: BaseException) -> UpstreamError:
    """Map the openai client's exceptions onto our error codes and retryability."""
    if isinstance(e, UpstreamError):
        return e
    if isinstance(e, openai.APITimeoutError):
        return UpstreamError("the upstream did not answer in time", code="upstream_timeout",
                             retryable=True)
    if isinstance(e, openai.APIConnectionError):
        return UpstreamError("the upstream could not be reached", code="upstream_unreachable",
                             retryable=True)
    if isinstance(e, openai.APIStatusError):
        st = e.status_code
        ra = _retry_after(e.response)
        if st == 429:
            return UpstreamError(f"upstream rate limit: {_upstream_message(e)}",
                                 code="upstream_rate_limited", retryable=True, retry_after=ra,
                                 upstream_status=st)
        if st >= 500 or st in (408, 409):
            return UpstreamError(f"upstream error {st}: {_upstream_message(e)}",
                                 code="upstream_unavailable" if st in (502, 503, 504)
                                 else "upstream_server_error", retryable=True,
                                 retry_after=ra, upstream_status=st)
        return UpstreamError(f"upstream answered {st}: {_upstream_message(e)}",
                             code=_STATUS_CODES.get(st, "upstream_client_error"),
                             retryable=False, upstream_status=st)
    if isinstance(e, (openai.APIResponseValidationError, json.JSONDecodeError, ValueError,
                      KeyError, TypeError, AttributeError)):
        return UpstreamError("the upstream answered with a malformed body",
                             code="upstream_malformed_response", retryable=True)
    raise e


class RetryPolicy:
    def __init__(self, cfg: dict, capability: str = "", upstream: str = ""):
        self.capability, self.metrics = capability, metrics.for_cfg(cfg)
        self.breaker = breakers.for_upstream(cfg, upstream, capability) if upstream else None
        self.max_attempts = int(cfg["UPSTREAM_MAX_ATTEMPTS"])
        self.base = float(cfg["UPSTREAM_BACKOFF_BASE_S"])
        self.cap = float(cfg["UPSTREAM_BACKOFF_MAX_S"])
        self.budget = float(cfg["UPSTREAM_RETRY_BUDGET_S"])

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        ra = getattr(exc, "retry_after", None)
        if ra is not None:
            return min(max(ra, 0.0), self.cap * 3)  # honour Retry-After, but not for ever
        # Full jitter: uniform(0, min(cap, base * 2^(n-1))) spreads retries from many workers.
        return random.uniform(0, min(self.cap, self.base * 2 ** (state.attempt_number - 1)))

    def call(self, fn: Callable[[], T], *, what: str, job_id: str | None = None,
             attempts: dict | None = None) -> T:
        """Run `fn` with the policy; on give-up raise the last UpstreamError."""
        deadline = time.monotonic() + self.budget
        last: list[UpstreamError] = []

        def attempt() -> Any:
            if self.breaker is not None:
                try:
                    self.breaker.acquire(deadline)
                except breakers.BreakerOpen as e:
                    raise (last[-1] if last else UpstreamError(
                        str(e), code="upstream_unavailable", retryable=False)) from None
            try:
                if cancel.cancelled():
                    raise cancel.Cancelled(what)
                out = fn()
            except BaseException as e:  # noqa: BLE001 - classified, re-raised
                if cancel.cancelled():  # the client hung up: no retry, no upstream failure
                    if self.breaker is not None:
                        self.breaker.abandon()
                    raise cancel.Cancelled(what) from None
                try:
                    err = classify(e)
                except BaseException:
                    if self.breaker is not None:
                        self.breaker.failure()  # never leave a half-open probe unanswered
                    raise
                last.append(err)
                if self.breaker is not None:
                    if err.retryable:
                        self.breaker.failure()
                    else:
                        self.breaker.success()  # it answered: the upstream itself is up
                logs.add(upstream_request_id=getattr(e, "request_id", None))
                self.metrics.upstream_error(self.capability, err.code, err.upstream_status)
                if attempts is not None:
                    attempts["attempts"] = attempts.get("attempts", 0) + 1
                log.warning("upstream call failed", extra={
                    "job_id": job_id, "call": what, "code": err.code,
                    "upstream_status": err.upstream_status, "retryable": err.retryable})
                raise err from None
            if self.breaker is not None:
                self.breaker.success()
            return out

        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts) | stop_after_delay(self.budget),
            # Never sleep past the budget (a long Retry-After or backoff would overrun it).
            wait=lambda st: min(self._wait(st), max(0.0, deadline - time.monotonic())),
            retry=retry_if_exception(lambda e: isinstance(e, UpstreamError) and e.retryable),
            reraise=True,
        )
        return retrying(attempt)
