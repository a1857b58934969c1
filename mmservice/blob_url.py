"""`MMS_BLOB_URL` parsing: where blobs live, as one URL.

Why its own module: the settings validator (a typo stops start-up) and the blob store factory
read the same URL, and neither may import the other's heavy dependencies (boto3).
"""
from __future__ import annotations

import re
from typing import NamedTuple

# S3 bucket naming rules (3-63 chars, lowercase, digits, dots, hyphens); the prefix uses the
# blob keys' own safe characters so an object key never needs escaping.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_PREFIX = re.compile(r"^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*$")
RULE = "must be empty (the local MMS_BLOB_DIR) or s3://bucket[/prefix]"


class BlobUrl(NamedTuple):
    scheme: str  # "local" or "s3"
    bucket: str
    prefix: str  # without leading/trailing slashes; may be empty


def parse_blob_url(url: str) -> BlobUrl:
    """`""` -> local; `s3://bucket/some/prefix` -> ("s3", "bucket", "some/prefix")."""
    text = (url or "").strip()
    if not text:
        return BlobUrl("local", "", "")
    if not text.lower().startswith("s3://"):
        raise ValueError(RULE)
    bucket, _, prefix = text[5:].partition("/")
    prefix = prefix.strip("/")
    if not _BUCKET.match(bucket):
        raise ValueError(f"{RULE}: {bucket!r} is not a valid bucket name (3-63 lowercase "
                         "letters, digits, dots, hyphens)")
    if prefix and (not _PREFIX.match(prefix) or ".." in prefix.split("/")):
        raise ValueError(f"{RULE}: the prefix may hold letters, digits, '_', '-', '.' and '/'")
    return BlobUrl("s3", bucket, prefix)
