"""What a blob key may be, shared by every blob store: `<tenant>/<job_id>/<name>` parts of
letters, digits, `_`, `.` and `-` (never `..`, `/` at either end, or an empty part), so a key can
name neither a path outside the store nor another tenant's blob."""
from __future__ import annotations

import re

_SAFE_KEY = re.compile(r"^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*$")
GONE = "media is gone (deleted or expired)"


def check_key(key: str) -> str:
    """`key` when it is a safe relative key (no `..`, no empty parts), else ValueError."""
    if not _SAFE_KEY.match(key) or ".." in key.split("/"):
        raise ValueError(f"unsafe blob key: {key!r}")
    return key
