"""What to do after one attempt: done, retry after how long, give up, or disable the endpoint.

Why a pure function: the policy (Standard Webhooks schedule, `Retry-After`, 410, 4xx) is the part
most worth testing exhaustively and the part operators ask about; keeping it free of Redis and
HTTP lets the worker, the tests and the README agree on one table.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

SUCCEEDED, RETRY, FAILED, DISABLE = "succeeded", "retry", "failed", "disable"
# Statuses whose Retry-After the receiver means for us (rate limit, overload, gateway trouble).
RETRY_AFTER_STATUSES = {429, 502, 503, 504}


@dataclass(frozen=True)
class Decision:
    outcome: str  # SUCCEEDED | RETRY | FAILED | DISABLE
    delay_s: float = 0.0
    reason: str = ""


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or an HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def jittered(delay: float, rng: random.Random | None = None) -> float:
    """±10 % so a receiver that was down is not hit by every retry in the same second."""
    return delay * (rng or random).uniform(0.9, 1.1)


def decide(*, status_code: int | None, error_code: str | None, attempts_in_round: int,
           client_errors_in_round: int, schedule: tuple[float, ...], retry_after: str | None,
           retry_after_max_s: float, final_error: bool = False,
           rng: random.Random | None = None) -> Decision:
    """`attempts_in_round` counts this attempt; `client_errors_in_round` counts earlier
    attempts of this round that got a non-retryable 4xx/3xx answer."""
    if status_code is not None and 200 <= status_code < 300:
        return Decision(SUCCEEDED)
    if status_code == 410:
        return Decision(DISABLE, reason="endpoint_gone")
    if final_error:
        return Decision(FAILED, reason=error_code or "refused")
    retries_done = attempts_in_round - 1
    if retries_done >= len(schedule):
        return Decision(FAILED, reason="retries_exhausted")
    delay = jittered(schedule[retries_done], rng)
    if status_code in RETRY_AFTER_STATUSES:
        asked = parse_retry_after(retry_after)
        if asked is not None:
            # Never earlier than asked; the cap keeps a hostile header from parking us for days.
            delay = min(asked, retry_after_max_s) * (rng or random).uniform(1.0, 1.1)
        return Decision(RETRY, delay, reason=f"http_{status_code}")
    if status_code is not None and status_code < 500:
        # A 4xx (or an unfollowed redirect) is usually a receiver bug: one more try, then stop.
        if client_errors_in_round >= 1:
            return Decision(FAILED, reason=f"http_{status_code}")
        return Decision(RETRY, delay, reason=f"http_{status_code}")
    return Decision(RETRY, delay, reason=f"http_{status_code}" if status_code else
                    (error_code or "error"))


def is_client_error(status_code: int | None) -> bool:
    """Answers that count towards "other 4xx stop after one more try"."""
    return (status_code is not None and 300 <= status_code < 500 and status_code != 410
            and status_code not in RETRY_AFTER_STATUSES)

