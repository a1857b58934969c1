"""Structured logs: one JSON object per line, from structlog loggers and stdlib `logging` alike.

Why JSON: operators grep by `job_id` across API and worker logs. Why context variables: a step
task, a transcription chunk, a webhook attempt and an API request each bind `job_id`, `tenant`
(and the upstream's request id once known) once, and every line they log carries them, including
lines of libraries and of call sites that pass nothing (`start`, `add`). Existing
`log.info("...", extra={...})` calls keep working: their extras become keys of the line.

Why a redaction step although media and secrets are never passed to a logger: a line is written
once and kept for months; one careless `extra` or exception text must not leak a key. Values of
secret-named keys, strings shaped like our keys and webhook secrets, bearer tokens and base64
payloads are masked before rendering.

Why the root logger: Celery, werkzeug and the openai client log through `logging`; with the one
handler on the root, every line of the process is JSON. In a worker, `setup_logging` (Celery's
signal) hands the whole set-up to us, so Celery adds no handler of its own.
"""
from __future__ import annotations

import logging
import re
import sys
import uuid
from typing import Any, TextIO

import structlog
from structlog.contextvars import bind_contextvars, clear_contextvars, merge_contextvars
from structlog.typing import EventDict

_SECRET_KEY_NAME = re.compile(r"key|secret|password|passwd|authorization|(^|_)token$", re.I)
_SECRET_VALUE = re.compile(
    r"\b(whsec_|sk-|mms_(?=[A-Za-z0-9]{16}))[A-Za-z0-9+/=_\-]{6,}"  # webhook secrets, API keys
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/=\-]+"  # Authorization: Bearer ...
    r"|(data:[\w.+/-]+;base64,)[A-Za-z0-9+/=]+"  # data URLs (media)
    r"|[A-Za-z0-9+/]{200,}={0,2}")  # any long base64 run (media bytes)
MASK = "***"
# Libraries that log request bodies or URLs at DEBUG/INFO (the openai client logs its request
# options, which hold the media as data URLs): kept at WARNING whatever the service's level.
QUIET = ("openai", "httpx", "httpcore", "httpcore2", "urllib3")


def _mask(m: re.Match) -> str:
    prefix = m.group(1) or m.group(2)
    if prefix:
        return prefix + MASK
    return "Bearer " + MASK if m.group(0)[:6].lower() == "bearer" else MASK


def redact_value(v: Any) -> Any:
    if isinstance(v, str):
        return _SECRET_VALUE.sub(_mask, v)
    if isinstance(v, dict):
        return {k: redact_pair(k, x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [redact_value(x) for x in v]
    return v


def redact_pair(k: Any, v: Any) -> Any:
    if isinstance(k, str) and _SECRET_KEY_NAME.search(k) \
            and v not in (None, "", 0):
        return MASK
    return redact_value(v)


def redact(_logger: Any, _name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: see the module docstring."""
    return {k: redact_pair(k, v) for k, v in event_dict.items()}


def _drop_none(_logger: Any, _name: str, event_dict: EventDict) -> EventDict:
    """An `extra` of None (e.g. `job_id=None` where the caller did not know it) says nothing:
    dropped, so the bound context fills it in."""
    return {k: v for k, v in event_dict.items() if v is not None}


def _first_keys(_logger: Any, _name: str, event_dict: EventDict) -> EventDict:
    head = {k: event_dict[k] for k in ("ts", "level", "logger", "msg") if k in event_dict}
    return {**head, **event_dict}


def _shared() -> list:
    """After the call's own keys: the bound context fills in the keys the call did not set."""
    return [_drop_none, merge_contextvars, structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts")]


def formatter() -> logging.Formatter:
    """The JSON formatter for any handler (tests use it to read a process's lines)."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *_shared()],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, structlog.processors.EventRenamer("msg"),
                    redact, _first_keys, structlog.processors.JSONRenderer(default=str)])


def _configure_structlog() -> None:
    if structlog.is_configured():
        return
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, *_shared(),
                    structlog.stdlib.PositionalArgumentsFormatter(),
                    structlog.processors.StackInfoRenderer(),
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger, cache_logger_on_first_use=True)


def setup(level: str = "INFO", stream: TextIO | None = None) -> None:
    """Route every logger of the process through one JSON handler; set the service's level.
    Safe to call again (the level follows the last call)."""
    _configure_structlog()
    root = logging.getLogger()
    if not any(getattr(h, "_mms_json", False) for h in root.handlers):
        h = logging.StreamHandler(stream or sys.stderr)
        h.setFormatter(formatter())
        h._mms_json = True  # type: ignore[attr-defined]
        root.addHandler(h)
    level = str(level).upper()
    root.setLevel(level)
    svc = logging.getLogger("mmservice")
    svc.setLevel(level)
    svc.propagate = True
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)


def get_logger(name: str) -> Any:
    _configure_structlog()
    return structlog.get_logger(name)


# -- context: bound once per unit of work ------------------------------------------------------
def start(**context: Any) -> None:
    """A new unit of work on this thread (a step task, a chunk, a webhook attempt, a request):
    forget the last one's context and bind this one's."""
    clear_contextvars()
    bind_contextvars(**{k: v for k, v in context.items() if v is not None})


def add(**context: Any) -> None:
    """More context for the rest of the unit of work (e.g. the upstream's request id)."""
    bind_contextvars(**{k: v for k, v in context.items() if v is not None})


def clear() -> None:
    clear_contextvars()


def init_app(app) -> None:
    """Per API request: a request id (the caller's `X-Request-Id`, else a new one) and the
    tenant on every line the request logs; cleared when it ends."""
    from flask import request

    @app.before_request
    def _bind() -> None:
        svc = app.extensions.get("mms")
        start(request_id=(request.headers.get("X-Request-Id") or uuid.uuid4().hex)[:64],
              tenant=svc.cfg["TENANT"] if svc else None)

    @app.teardown_request
    def _clear(_exc=None) -> None:
        clear()


try:  # in a Celery worker, this set-up replaces Celery's own (see the module docstring)
    from celery.signals import setup_logging as _celery_setup_logging
except ImportError:  # pragma: no cover - the API image always has Celery
    pass
else:
    @_celery_setup_logging.connect(weak=False)
    def _celery_logging(loglevel: Any = None, **_kw: Any) -> None:
        setup(logging.getLevelName(loglevel) if isinstance(loglevel, int) else loglevel or "INFO")
