"""Structured logs: one JSON object per line, with the job id and upstream request id when known.

Why JSON: operators grep by `job_id` across API and worker logs. Media and secrets never reach a
log line: only ids, codes, sizes and timings are passed as `extra`.
"""
from __future__ import annotations

import json
import logging
import time

_STD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)),
               "level": record.levelname, "logger": record.name, "msg": record.getMessage()}
        for k, v in record.__dict__.items():
            if k not in _STD and not k.startswith("_") and v is not None:
                out[k] = v if isinstance(v, (str, int, float, bool)) else str(v)  # type: ignore[assignment]
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out)


def setup(level: str = "INFO") -> None:
    root = logging.getLogger("mmservice")
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    h = logging.StreamHandler()
    h.setFormatter(JsonFormatter())
    root.addHandler(h)
    root.setLevel(level)
    root.propagate = False
    # httpx logs every request URL at INFO; a webhook or image URL may carry a token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
