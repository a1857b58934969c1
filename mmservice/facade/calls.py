"""Where a facade call runs: in the API process (openai provider) or on a worker (local).

Why hand local calls to a worker: the API process never loads a model (the offline engines
live in workers, warmed once per process). The hand-off is a short-lived Redis hash with the
call's parameters and media (a Celery message never carries media), a `mms.facade_call` task on
the capability's queue, and a reply list the API pops with BLPOP. The wait is cut into one-second
pops so a client that hung up is noticed: the call's hash is deleted (a worker that has not
started it finds nothing and skips it) and the API stops waiting.

Why the openai provider runs here: the call is one HTTP request to the upstream through the same
provider object a worker builds; a queue hop would only add latency. List matching then needs
the tenant's lists in this process: one `ListMatcher` per API process, built on first use, with
OCR off (`deps.ocr`: reading an image's text is a model).
"""
from __future__ import annotations

import base64
import dataclasses
import json
import logging
import secrets
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from mmservice.errors import MMSError, Unavailable, UpstreamError
from mmservice.facade import ops

TASK = "mms.facade_call"
log = logging.getLogger("mmservice.facade")
_lock = threading.Lock()


class ClientGone(Exception):
    """The client hung up while its call was waited for."""


def local(cfg: dict, op: str) -> bool:
    from mmservice.providers.registry import choose

    return choose(cfg, ops.ROUTES[op][0]) == "local"


def api_deps(svc: Any) -> Any:
    """The API's step dependencies plus this process's list matcher (no OCR), built once."""
    deps = getattr(svc, "facade_deps", None)
    if deps is None:
        with _lock:
            deps = getattr(svc, "facade_deps", None)
            if deps is None:
                from mmservice.lists.apply import ListMatcher

                lists = svc.deps.lists or ListMatcher(svc.redis, svc.store.keys)
                deps = dataclasses.replace(svc.deps, lists=lists, ocr=False)
                svc.facade_deps = deps
    return deps


def client_gone(environ: dict) -> bool:
    """The client closed its connection (EOF waiting on the socket). Only a real server's
    socket can tell: gunicorn's, or werkzeug's in tests; other servers never say gone."""
    sock = environ.get("gunicorn.socket") or environ.get("werkzeug.socket")
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except (OSError, ValueError):
        return True


def run(svc: Any, op: str, tenant: str, params: dict, media: list[bytes],
        gone: Callable[[], bool] = lambda: False) -> ops.Result:
    if local(svc.cfg, op):
        return in_worker(svc, op, tenant, params, media, gone)
    return ops.OPS[op](api_deps(svc), tenant, params, media)


def moderate_here(svc: Any, tenant: str, items: list[dict], media: list[bytes],
                  policy_name: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """-> (the policy ref, `ops.moderate`'s result) for a moderation judged in this process:
    the tenant's default policy, list names, shadow names and the items' cache entries read in
    one pipeline first (`prefetch.py`); the lookups counted by the background writer."""
    from mmservice.facade import moderations, prefetch
    from mmservice.facade.audit_writer import writer_for
    from mmservice.policies import BUILTIN

    deps = api_deps(svc)
    reads = prefetch.read(deps, tenant, items, media)
    ref, record = moderations.policy_record(deps.policies, tenant,
                                            policy_name or reads.default_policy or BUILTIN)
    recorder = writer_for(svc).recorder(deps.store.keys.prefix)
    caches = [prefetch.step_cache(deps, reads, recorder) for _ in items]
    out, _ = ops.moderate(prefetch.judging_deps(deps, reads, record), tenant,
                          {"items": items, "policy": ref}, media, caches)
    return ref, out


# -- the API's side of the hand-off -------------------------------------------------------------
def in_worker(svc: Any, op: str, tenant: str, params: dict, media: list[bytes],
              gone: Callable[[], bool]) -> ops.Result:
    r, keys = svc.redis, svc.store.keys
    call_id = secrets.token_hex(12)
    call_key, reply_key = keys.facade_call(call_id), keys.facade_reply(call_id)
    timeout = float(svc.cfg["FACADE_WORKER_TIMEOUT_S"])
    fields: dict[str, Any] = {"op": op, "tenant": tenant, "params": json.dumps(params),
                              "media": len(media)}
    fields.update({f"media{i}": m for i, m in enumerate(media)})
    pipe = r.pipeline(transaction=False)
    pipe.hset(call_key, mapping=fields)
    pipe.expire(call_key, int(timeout) + 60)
    pipe.execute()
    svc.celery.send_task(TASK, args=[call_id], queue=ops.ROUTES[op][1])
    deadline = time.monotonic() + timeout
    step = max(0.1, min(1.0, float(svc.cfg["REDIS_TIMEOUT_S"]) / 2))
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            r.delete(call_key)
            raise Unavailable(f"no worker answered within {timeout:g} s "
                              "(MMS_FACADE_WORKER_TIMEOUT_S): are workers running on the "
                              f"{ops.ROUTES[op][1]!r} queue?", code="worker_timeout",
                              retry_after=5)
        got = r.blpop([reply_key], timeout=min(step, left))
        if got is not None:
            return _answer(json.loads(got[1]))
        if gone():
            r.delete(call_key)
            raise ClientGone(call_id)


def _answer(reply: dict) -> ops.Result:
    err = reply.get("error")
    if err:
        if err.get("upstream"):
            raise UpstreamError(err["message"], code=err["code"],
                                retry_after=err.get("retry_after"),
                                upstream_status=err.get("upstream_status"))
        raise MMSError(err["message"], code=err["code"], status=int(err["status"]),
                       field=err.get("field"), retry_after=err.get("retry_after"))
    audio = reply.get("audio")
    return reply["result"], base64.b64decode(audio) if audio is not None else None


# -- the worker's side ---------------------------------------------------------------------------
def serve(deps: Any, call_id: str) -> str:
    """Run one handed-off call (the `mms.facade_call` task) and push its reply."""
    r, keys = deps.redis, deps.store.keys
    call_key = keys.facade_call(call_id)
    raw = r.hgetall(call_key)
    if not raw:
        return "gone"  # canceled by the API (client gone, or its wait ran out)
    f = {k.decode(): v for k, v in raw.items()}
    media = [f[f"media{i}"] for i in range(int(f["media"]))]
    try:
        result, audio = ops.OPS[f["op"].decode()](deps, f["tenant"].decode(),
                                                  json.loads(f["params"]), media)
        reply: dict[str, Any] = {"result": result, "audio": None if audio is None
                                 else base64.b64encode(audio).decode()}
    except MMSError as e:
        reply = {"error": {"message": e.message, "code": e.code, "status": e.status,
                           "field": e.field, "retry_after": e.retry_after,
                           "upstream": isinstance(e, UpstreamError),
                           "upstream_status": getattr(e, "upstream_status", None)}}
    except Exception:
        log.exception("facade call failed", extra={"call_id": call_id})
        reply = {"error": {"message": "internal error in the worker; it has been logged",
                           "code": "internal_error", "status": 500}}
    pipe = r.pipeline(transaction=True)
    pipe.rpush(keys.facade_reply(call_id), json.dumps(reply))
    pipe.expire(keys.facade_reply(call_id), 60)
    pipe.delete(call_key)
    pipe.execute()
    return "done"
