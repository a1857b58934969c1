"""The calls every job makes on the S3 blob store (`put` of an upload, `get` of it), through
`obstore` (Python bindings of Rust's `object_store`).

Why beside boto3: on SeaweedFS here a 100 KB put or get costs about 0.4 ms of CPU through
obstore against about 3 ms through boto3 (`bench/s3_calls.py`), and one of each is most of
what the S3 store added to a job's intake and to its worker's CPU (issue 20). `S3BlobStore`
keeps boto3 for everything else (multipart streams, presigned URLs, listing and deleting,
lifecycle rules, creating a missing bucket). Both clients read the same `MMS_S3_*` settings.
"""
from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from mmservice.blobs import GONE
from mmservice.errors import NotFound, Unavailable

log = logging.getLogger("mmservice.blobs")

_MISSING_BUCKET = ("NoSuchBucket", "AccessDenied")  # SeaweedFS answers AccessDenied


def s3_code(exc: Exception) -> str:
    """The S3 error code in an obstore error (its text quotes the server's XML answer)."""
    m = re.search(r"<Code>([A-Za-z0-9.]{1,64})</Code>", str(exc))
    return m.group(1) if m else ""


def failure(op: str, exc: Exception) -> Unavailable:
    """An error that outlived obstore's retries, worded as `s3blobs` words a botocore one:
    the S3 error code, never the rest of the text (the endpoint, the request)."""
    what = s3_code(exc) or type(exc).__name__
    log.warning("blob store call failed", extra={"op": op, "error": what})
    return Unavailable(f"the blob store did not answer the {op} ({what}); retry later",
                       code="blob_store_unavailable", retry_after=5)


def store_kwargs(cfg: dict, extra: dict[str, str]) -> dict[str, Any]:
    """obstore's S3Store settings from the `MMS_S3_*` settings (`extra`: boto3's SSE args)."""
    endpoint = cfg.get("S3_ENDPOINT_URL") or ""
    timeout = timedelta(seconds=float(cfg["S3_TIMEOUT_S"]))
    attempts = int(cfg["S3_MAX_ATTEMPTS"])
    out: dict[str, Any] = {
        "region": cfg.get("S3_REGION") or "us-east-1",
        "client_options": {"connect_timeout": timeout, "read_timeout": timeout,
                           "allow_http": endpoint.startswith("http://")},
        # botocore's `standard` mode waits about 1, 2, 4... s between attempts; obstore's
        # default starts at 0.1 s, which gave up on a server still starting (a connection
        # refused five times in half a second) where boto3 rode it out.
        "retry_config": {"max_retries": max(0, attempts - 1),
                         "retry_timeout": timeout * attempts,
                         "backoff": {"init_backoff": timedelta(seconds=1), "base": 2,
                                     "max_backoff": timedelta(seconds=20)}},
    }
    if endpoint:  # a custom endpoint is addressed path-style, as boto3's client is
        out.update(endpoint=endpoint, virtual_hosted_style_request=False)
    if cfg.get("S3_ACCESS_KEY_ID"):
        out.update(access_key_id=cfg["S3_ACCESS_KEY_ID"],
                   secret_access_key=cfg.get("S3_SECRET_ACCESS_KEY") or "")
    if extra.get("ServerSideEncryption"):
        out["server_side_encryption"] = extra["ServerSideEncryption"]
        if extra.get("SSEKMSKeyId"):
            out["sse_kms_key_id"] = extra["SSEKMSKeyId"]
    return out


class FastS3:
    """put/get of whole objects in one bucket; None from `store` means boto3 must do it."""

    def __init__(self, bucket: str, kwargs: dict[str, Any]):
        self.bucket, self.kwargs = bucket, kwargs
        self.usable = True
        self._lock = threading.Lock()
        self._store: Any = None
        self._pid = 0

    def store(self) -> Any:
        """One S3Store per process (its runtime's threads do not survive a fork)."""
        if self._store is None or self._pid != os.getpid():
            with self._lock:
                if self.usable and (self._store is None or self._pid != os.getpid()):
                    self._store = self._make()
                    self._pid = os.getpid()
        return self._store if self.usable else None

    def _make(self) -> Any:
        from obstore.store import S3Store

        kwargs = dict(self.kwargs)
        if "access_key_id" not in kwargs:  # boto3's chain: environment, profile, role
            from obstore.auth.boto3 import Boto3CredentialProvider

            try:
                kwargs["credential_provider"] = Boto3CredentialProvider()
            except ValueError:  # no credentials anywhere: boto3 says so on each call
                self.usable = False
                return None
        return S3Store(self.bucket, **kwargs)

    def put(self, key: str, data: bytes, make_bucket: Callable[[], bool]) -> None:
        """`make_bucket()` creates a missing bucket (True: made, write again)."""
        import obstore
        from obstore.exceptions import BaseError

        for attempt in (1, 2):
            try:
                obstore.put(self.store(), key, data, use_multipart=False)
                return
            except (BaseError, OSError, ValueError) as exc:  # what outlived the retries
                if attempt == 2 or s3_code(exc) not in _MISSING_BUCKET or not make_bucket():
                    raise failure("put", exc) from None

    def get(self, key: str) -> bytes:
        import obstore
        from obstore.exceptions import BaseError

        try:
            return bytes(obstore.get(self.store(), key).bytes())
        except FileNotFoundError:  # no such key, or no such bucket
            raise NotFound(GONE, code="media_not_found") from None
        except (BaseError, OSError, ValueError) as exc:
            raise failure("get", exc) from None
