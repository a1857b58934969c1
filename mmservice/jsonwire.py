"""JSON for what is written and answered on every request: records, responses, events (orjson).

Why: orjson writes a 939-byte job in 0.7 us instead of the stdlib's 10.9 us, and a request
writes several (the record, the response, cache values). Measured on a cache hit answered at
intake: 2-4 % less API CPU (BENCHMARKS.md, late-evening runs of 2026-12-04); py-spy had put the
stdlib's encoder at about a tenth of that request's samples.

Why not everywhere: JSON whose exact bytes are hashed or signed by a stored chain (cache keys,
idempotency fingerprints, the audit log's hash chain) keeps `json.dumps(..., sort_keys=True)`:
another encoder's bytes would orphan cache entries and break verification of old entries.

Where it differs from `json.dumps` (each harmless where it is used): UTF-8 output instead of
`\\uXXXX` escapes; compact separators; NaN and infinities become `null` (the stdlib writes
invalid JSON). What orjson cannot write (a lone surrogate in a string, an integer beyond 64
bits) is written by the stdlib instead, so nothing that was accepted fails here. Types the
stdlib refuses are refused here too (`TypeError`), datetimes and dataclasses included
(`mmservice.api.json_provider` hands those to Flask's own conversions).
"""
from __future__ import annotations

import json
from typing import Any

import orjson

OPTIONS = (orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
           | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS)


def builtin(o: Any) -> Any:
    """What the stdlib encoder accepts beyond orjson's own types: subclasses of the builtins
    (an `IntEnum`, numpy's float64, a `str` enum)."""
    for base in (bool, int, float, str):
        if isinstance(o, base):
            return base(o)
    if isinstance(o, dict):
        return dict(o)
    if isinstance(o, (list, tuple)):
        return list(o)
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


def dumps(obj: Any) -> bytes:
    try:
        return orjson.dumps(obj, default=builtin, option=OPTIONS)
    except orjson.JSONEncodeError:  # a lone surrogate, an int beyond 64 bits: as the stdlib
        return json.dumps(obj).encode()


# Reading stays on the stdlib: orjson reads an integer beyond 64 bits as a float (silently
# inexact) and refuses the `\ud800` escapes the stdlib writes for a lone surrogate.
loads = json.loads
