"""One attempt of a delivery: claim it, POST the frozen body signed, decide what comes next
(`schedule.decide`), record it.

Why the record, not the message, decides: a message only names (tenant, delivery id). Whoever
claims the delivery owns its next attempt under a lease; a duplicate message finds it claimed or
settled and does nothing, and a retry is a due time in the delivery's transaction (`store`), so
what is recorded and what happens next can never disagree.
"""
from __future__ import annotations

import logging
import time
from typing import Any

from mmservice import logs, metrics
from mmservice.errors import MMSError, NotFound
from mmservice.jobs.store import now_iso
from mmservice.webhooks import signing, transport
from mmservice.webhooks.schedule import DISABLE, RETRY, decide, is_client_error
from mmservice.webhooks.schedule import SUCCEEDED as OK
from mmservice.webhooks.store import CLAIMED, FAILED, SKIPPED, SUCCEEDED, Claim
from mmservice.webhooks.wiring import Hooks, hooks

log = logging.getLogger("mmservice.webhooks")


def run_attempt(tenant: str, delivery_id: str, deps, *, now: float | None = None) -> str:
    """Handle one task message for a delivery. Returns what happened (for logs and tests):
    an attempt's outcome, or "done", "not_due" or "gone" when there was nothing to attempt."""
    h = hooks(deps, tenant)
    try:
        c = h.store.claim(tenant, delivery_id, lease_s=h.cfg.lease_s,
                          now=time.time() if now is None else now,
                          reads=lambda pipe, rec: h.endpoints.queue_reads(pipe, tenant,
                                                                          rec["url"]))
    except NotFound:
        return "gone"
    if c.outcome != CLAIMED:
        return c.outcome
    return attempt(h, tenant, c)


def _settle(status: str, error: dict | None):
    def settle_record(rec: dict) -> None:
        rec.update(status=status, error=error, next_attempt_at=None)
    return settle_record


def attempt(h: Hooks, tenant: str, c: Claim) -> str:
    """Make the claimed attempt `c`, record it (with its retry's due time, if any)."""
    rec = c.rec
    delivery_id, n = rec["id"], rec["attempt_count"]
    ctx = {"delivery_id": delivery_id, "attempt": n, "event_type": rec["type"],
           **({"job_id": rec["job_id"]} if "job_id" in rec else {})}
    logs.start(tenant=tenant, **ctx)
    disabled, generated = h.endpoints.parse_reads(c.reads)
    if disabled:
        err = {"code": "endpoint_disabled",
               "message": f"the endpoint answered 410 Gone at {disabled.get('at')} (delivery "
                          f"{disabled.get('delivery_id')}); deliveries to it are skipped until "
                          "one is retried by hand"}
        h.store.finish(tenant, delivery_id, n, {"outcome": SKIPPED, "error": err},
                       _settle(SKIPPED, err))
        metrics.Recorder(h.store.r, h.store.keys.prefix).webhook_attempt(SKIPPED)
        log.info("webhook skipped: endpoint disabled", extra=ctx)
        return SKIPPED

    try:
        secrets = [generated] if generated else signing.active_secrets(
            h.cfg.secrets, h.store.r, h.store.keys.webhook_secret(tenant))
        headers = signing.headers(delivery_id, rec["_body"], secrets)
    except MMSError as e:
        res = transport.AttemptResult(error=e.to_dict())
    else:
        res = transport.post(rec["url"], rec["_body"].encode(), headers,
                             allow=h.cfg.allowlist, timeout_s=h.cfg.timeout_s)
    d = decide(status_code=res.status_code, error_code=(res.error or {}).get("code"),
               attempts_in_round=n - rec["_round_start"],
               client_errors_in_round=rec["_client_errors"], schedule=h.cfg.schedule_s,
               retry_after=res.retry_after, retry_after_max_s=h.cfg.retry_after_max_s,
               final_error=res.final)
    fields: dict[str, Any] = {
        "status_code": res.status_code, "latency_ms": res.latency_ms, "error": res.error,
        "response_body": res.response_body, "finished_at": now_iso()}
    also = None
    if d.outcome == OK:
        fields["outcome"], change = SUCCEEDED, _settle(SUCCEEDED, None)
    elif d.outcome == RETRY:
        next_ts = time.time() + d.delay_s
        fields.update(outcome="retry_scheduled", next_attempt_at=now_iso(next_ts))

        def change(r: dict) -> None:
            r.update(_next_ts=next_ts, next_attempt_at=now_iso(next_ts), error=res.error)
            r["_client_errors"] = (r["_client_errors"] + 1
                                   if is_client_error(res.status_code) else 0)
    elif d.outcome == DISABLE:
        err = {"code": "endpoint_gone",
               "message": "the receiver answered 410 Gone; the endpoint is disabled"}
        fields["outcome"], change = "endpoint_disabled", _settle(FAILED, err)
        info = {"at": now_iso(), "delivery_id": delivery_id, **(
            {"job_id": rec["job_id"]} if "job_id" in rec else {})}

        def also(pipe) -> None:
            h.endpoints.disable(pipe, tenant, rec["url"], info)
    else:
        reason = d.reason if d.reason == "retries_exhausted" else (res.error or {}).get("code")
        err = {"code": reason or "webhook_failed",
               "message": _give_up_message(d.reason, res.error)}
        fields["outcome"], change = FAILED, _settle(FAILED, err)
    h.store.finish(tenant, delivery_id, n, fields, change, also)
    metrics.Recorder(h.store.r, h.store.keys.prefix).webhook_attempt(str(fields["outcome"]))
    log.info("webhook attempt", extra={**ctx, "status_code": res.status_code,
                                       "outcome": fields["outcome"],
                                       "error": (res.error or {}).get("code"),
                                       "latency_ms": res.latency_ms})
    return fields["outcome"]


def _give_up_message(reason: str, error: dict | None) -> str:
    last = (error or {}).get("message", "")
    if reason == "retries_exhausted":
        return f"gave up after the last scheduled retry; last error: {last}"
    return f"not retried: {last}" if last else "not retried"
