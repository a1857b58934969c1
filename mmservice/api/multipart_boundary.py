"""Werkzeug's multipart decoder, with its boundary found by `bytes.find` before its regex runs.

Why: werkzeug 3.1 finds the delimiter that ends a part with a regex whose first item is an
optional-width line break (`(?:\\r\\n|\\n|\\r)--boundary...`). Python's `re` has no literal prefix
to skip to, so it tries every byte of the buffer: 0.20 ms for the 36 KB tail of a 100 KB
upload on the reference machine, more than half of the whole form parse (0.37 ms), paid on
every multipart request (and up to a 64 KB buffer per part). `bytes.find` of the literal
`--boundary` (memchr speed) and the same regex from two bytes before it take 0.006 ms.

Why the answer is the same: every match of either pattern contains `--boundary`, and a match's
line-break prefix is at most two bytes, so no match can start before (first occurrence - 2);
searching from there returns exactly the match a search from `pos` would. When the literal is
absent, neither pattern can match. `tests/test_multipart_boundary.py` checks this against the
stock decoder on bodies built to confuse it (the boundary inside data without a line break, with
a bad suffix, CR-only line breaks, many small parts) fed in chunks of every size.

How it is plugged in: werkzeug's `MultiPartParser.parse` builds its decoder from the module-level
name `werkzeug.formparser.MultipartDecoder`, with no hook; `install()` points that name at this
subclass, once, in the API process (`create_app`), and only when it still names the decoder this
was written against (a werkzeug that moved it keeps its own, unchanged).
"""
from __future__ import annotations

import re
import sys
from typing import Any

import werkzeug.formparser as formparser
from werkzeug.sansio.multipart import MultipartDecoder

# The longest line break the patterns accept before `--boundary` (`\r\n`).
_PREFIX = 2


class _LiteralFirst:
    """`regex.search` that first finds `literal`, which every match of `regex` contains within
    `_PREFIX` bytes of its start."""

    def __init__(self, regex: re.Pattern[bytes], literal: bytes):
        self.regex, self.literal = regex, literal
        self.pattern = regex.pattern

    def search(self, data: Any, pos: int = 0, endpos: int = sys.maxsize) -> Any:
        at = data.find(self.literal, pos, endpos)
        if at == -1:
            return None
        return self.regex.search(data, max(pos, at - _PREFIX), endpos)


class LiteralFirstDecoder(MultipartDecoder):
    """Werkzeug's decoder, its boundary patterns searched literal first (see the module)."""

    def __init__(self, boundary: bytes, *args: Any, **kwargs: Any) -> None:
        super().__init__(boundary, *args, **kwargs)
        literal = b"--" + boundary
        for name in ("boundary_re", "preamble_re"):
            regex = getattr(self, name, None)
            if isinstance(regex, re.Pattern):
                setattr(self, name, _LiteralFirst(regex, literal))


def install() -> bool:
    """Make werkzeug's form parser use `LiteralFirstDecoder`; False when werkzeug's layout is
    not the one this was written for (then nothing changes)."""
    current = getattr(formparser, "MultipartDecoder", None)
    if current is LiteralFirstDecoder:
        return True
    if current is not MultipartDecoder:
        return False
    formparser.MultipartDecoder = LiteralFirstDecoder  # type: ignore[misc]
    return True
