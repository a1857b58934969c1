"""The blob store on an S3-compatible server (AWS S3, SeaweedFS, MinIO, R2...).

Why: a local folder ties the API and the workers to one host (or a shared volume). With the
blobs in a bucket, an upload received by the API on one host is read by a worker on another;
the job record (Redis) keeps only the key.

Layout: `s3://bucket/<prefix>/<tenant>/<job_id>/<name>`, the same keys as the local store
under the deployment's prefix. Retries belong to botocore (`standard` mode: 5xx, throttling,
timeouts, jittered backoff, `MMS_S3_MAX_ATTEMPTS` in all) and every call has a timeout
(`MMS_S3_TIMEOUT_S`). Building the store does no I/O: the client is made on first use (per
process, so a forked process never shares a parent's connections), and a missing bucket is
created on the first write that finds it missing (`MMS_S3_CREATE_BUCKET`).

The whole-object `put` and `get` every job makes go through obstore (`s3_fast`, about a
seventh of boto3's CPU per call); everything else stays on boto3.
"""
from __future__ import annotations

import functools
import io
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from typing import Any, BinaryIO, TypeVar

from mmservice.blobs import GONE, check_key
from mmservice.errors import MMSError, NotFound, Unavailable
from mmservice.s3_fast import FastS3, store_kwargs

log = logging.getLogger("mmservice.blobs")
T = TypeVar("T", bound=Callable[..., Any])

_MISSING_KEY = ("NoSuchKey", "404", "NotFound")
_MISSING_BUCKET = ("NoSuchBucket",)


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def _unavailable(method: T) -> T:
    """S3 failures that outlived botocore's retries become a 503 `blob_store_unavailable` (the
    API answers it with `Retry-After`; a worker records it on the job), never a 500. The log
    line names the S3 error code, never the endpoint's credentials."""
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return method(*args, **kwargs)
        except MMSError:
            raise
        except (BotoCoreError, ClientError) as exc:
            what = _code(exc) or type(exc).__name__
            log.warning("blob store call failed", extra={"op": method.__name__, "error": what})
            raise Unavailable(f"the blob store did not answer the {method.__name__} ({what}); "
                              "retry later", code="blob_store_unavailable",
                              retry_after=5) from None
    return wrapper  # type: ignore[return-value]


class S3BlobStore:
    def __init__(self, bucket: str, prefix: str = "", *, client_kwargs: dict | None = None,
                 sse: str = "", kms_key_id: str = "", multipart_bytes: int = 16 * 1024 * 1024,
                 presign_ttl_s: int = 0, create_bucket: bool = True):
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client_kwargs = dict(client_kwargs or {})
        self.extra: dict[str, str] = {}
        if sse:
            self.extra["ServerSideEncryption"] = sse
            if sse == "aws:kms" and kms_key_id:
                self.extra["SSEKMSKeyId"] = kms_key_id
        self.multipart_bytes = multipart_bytes
        self.presign_ttl_s = presign_ttl_s
        self.create_bucket = create_bucket
        self._lock = threading.Lock()
        self._client: Any = None
        self._client_pid = 0
        self.fast: FastS3 | None = None  # obstore for whole-object put/get; None: boto3 only

    @classmethod
    def from_config(cls, cfg: dict, bucket: str, prefix: str) -> S3BlobStore:
        from botocore.config import Config

        endpoint = cfg.get("S3_ENDPOINT_URL") or None
        kwargs: dict[str, Any] = {
            "endpoint_url": endpoint,
            "region_name": cfg.get("S3_REGION") or None,
            "config": Config(
                signature_version="s3v4",
                connect_timeout=float(cfg["S3_TIMEOUT_S"]),
                read_timeout=float(cfg["S3_TIMEOUT_S"]),
                retries={"mode": "standard", "max_attempts": int(cfg["S3_MAX_ATTEMPTS"])},
                max_pool_connections=64,  # worker threads share one client
                s3={"addressing_style": "path" if endpoint else "auto"}),
        }
        if cfg.get("S3_ACCESS_KEY_ID"):
            kwargs["aws_access_key_id"] = cfg["S3_ACCESS_KEY_ID"]
            kwargs["aws_secret_access_key"] = cfg.get("S3_SECRET_ACCESS_KEY") or None
        store = cls(bucket, prefix, client_kwargs=kwargs, sse=cfg.get("S3_SSE") or "",
                    kms_key_id=cfg.get("S3_SSE_KMS_KEY_ID") or "",
                    multipart_bytes=int(cfg["S3_MULTIPART_MB"]) * 1024 * 1024,
                    presign_ttl_s=int(cfg["S3_PRESIGN_TTL_S"]),
                    create_bucket=bool(cfg["S3_CREATE_BUCKET"]))
        store.fast = FastS3(bucket, store_kwargs(cfg, store.extra))
        return store

    # -- plumbing ------------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        """One boto3 client per process (thread-safe once made; making one is not)."""
        if self._client is None or self._client_pid != os.getpid():
            with self._lock:
                if self._client is None or self._client_pid != os.getpid():
                    import boto3

                    kwargs = dict(self.client_kwargs)
                    if not kwargs.get("region_name") and not boto3.session.Session().region_name:
                        kwargs["region_name"] = "us-east-1"
                    self._client = boto3.session.Session().client("s3", **kwargs)
                    self._client_pid = os.getpid()
        return self._client

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _transfer_config(self) -> Any:
        """Parts of `MMS_S3_MULTIPART_MB`, two in flight and at most two read ahead: a streamed
        upload holds about four parts in memory whatever its size (s3transfer's defaults
        would read ten ahead)."""
        from boto3.s3.transfer import TransferConfig

        config = TransferConfig(multipart_threshold=self.multipart_bytes,
                                multipart_chunksize=self.multipart_bytes, max_concurrency=2)
        config.max_in_memory_upload_chunks = 2
        return config

    def _writing(self, write: Any) -> Any:
        """Run a write; if the bucket is missing and we may, create it and write again."""
        from botocore.exceptions import ClientError

        try:
            return write()
        except ClientError as exc:
            # SeaweedFS answers a write to a missing bucket with AccessDenied, AWS with
            # NoSuchBucket: either way, ask whether the bucket is there.
            if _code(exc) not in _MISSING_BUCKET + ("AccessDenied",) or not self.create_bucket \
                    or not self.ensure_bucket():
                raise
        return write()

    def ensure_bucket(self) -> bool:
        """Create the bucket unless it exists; True when this call created it."""
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
            return False
        except ClientError as exc:
            if _code(exc) not in ("404", "NoSuchBucket", "NotFound"):
                raise
        try:
            self.client.create_bucket(Bucket=self.bucket)
        except ClientError as exc:  # another process made it first
            if _code(exc) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
        return True

    # -- the BlobStore interface ---------------------------------------------------------------
    @_unavailable
    def put(self, key: str, data: bytes) -> None:
        if len(data) >= self.multipart_bytes:
            self.put_stream(key, io.BytesIO(data))
            return
        full = self._key(key)
        if self.fast is not None and self.fast.store() is not None:
            self.fast.put(full, data, lambda: self.create_bucket and self.ensure_bucket())
            return
        self._writing(lambda: self.client.put_object(Bucket=self.bucket, Key=full, Body=data,
                                                     **self.extra))

    @_unavailable
    def put_stream(self, key: str, stream: BinaryIO) -> int:
        """Multipart upload (parts of `MMS_S3_MULTIPART_MB`, two at a time) from a stream:
        memory stays at a few parts whatever the size."""
        full = self._key(key)
        start = stream.tell() if stream.seekable() else 0

        def upload() -> int:
            if stream.seekable():
                stream.seek(start)
            counted = _Counting(stream)
            self.client.upload_fileobj(counted, self.bucket, full, ExtraArgs=self.extra or None,
                                       Config=self._transfer_config())
            return counted.n
        return int(self._writing(upload))

    @_unavailable
    def open(self, key: str) -> BinaryIO:
        from botocore.exceptions import ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        except ClientError as exc:
            if _code(exc) in _MISSING_KEY + _MISSING_BUCKET:
                raise NotFound(GONE, code="media_not_found") from None
            raise
        return body  # botocore's StreamingBody: read(n), iter_chunks(), close()

    @_unavailable
    def get(self, key: str) -> bytes:
        if self.fast is not None and self.fast.store() is not None:
            return self.fast.get(self._key(key))
        body = self.open(key)
        try:
            return body.read()
        finally:
            body.close()

    @_unavailable
    def size(self, key: str) -> int:
        from botocore.exceptions import ClientError

        try:
            return int(self.client.head_object(Bucket=self.bucket,
                                               Key=self._key(key))["ContentLength"])
        except ClientError as exc:
            if _code(exc) in _MISSING_KEY + _MISSING_BUCKET:
                raise NotFound(GONE, code="media_not_found") from None
            raise

    @_unavailable
    def download_url(self, key: str, filename: str, content_type: str) -> str | None:
        if self.presign_ttl_s <= 0:
            return None
        return str(self.client.generate_presigned_url(
            "get_object", ExpiresIn=self.presign_ttl_s,
            Params={"Bucket": self.bucket, "Key": self._key(key),
                    "ResponseContentType": content_type,
                    "ResponseContentDisposition": f'attachment; filename="{filename}"'}))

    def _objects(self, prefix: str) -> Any:
        """(key, last_modified) of every object under `prefix` (a full key prefix)."""
        from botocore.exceptions import ClientError

        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                      Prefix=prefix)
        try:
            for page in pages:
                for obj in page.get("Contents") or ():
                    yield obj["Key"], obj["LastModified"].timestamp()
        except ClientError as exc:
            if _code(exc) not in _MISSING_BUCKET:
                raise

    def _delete(self, keys: list[str]) -> int:
        removed = 0
        for i in range(0, len(keys), 1000):  # DeleteObjects takes up to 1000 keys
            batch = keys[i:i + 1000]
            self.client.delete_objects(Bucket=self.bucket, Delete={
                "Objects": [{"Key": k} for k in batch], "Quiet": True})
            removed += len(batch)
        return removed

    @_unavailable
    def delete_prefix(self, prefix: str) -> int:
        """The blob `prefix` names and everything under `prefix/` (never `prefix2/...`)."""
        full = self._key(prefix.rstrip("/"))
        keys = [k for k, _ in self._objects(full) if k == full or k.startswith(full + "/")]
        return self._delete(keys)

    @_unavailable
    def sweep(self, older_than_s: float) -> int:
        """Delete objects not written for `older_than_s` (their job records have expired).
        A lifecycle rule (`set_lifecycle`) does the same inside the bucket; this pass keeps
        media from outliving its job on servers without lifecycle support."""
        cutoff = time.time() - older_than_s
        root = f"{self.prefix}/" if self.prefix else ""
        old = [k for k, modified in self._objects(root) if modified < cutoff]
        return self._delete(old)

    @_unavailable
    def set_lifecycle(self, ttl_s: float) -> int:
        """Expire objects under the prefix `ttl_s` after writing, rounded up to whole days (S3's
        unit). Replaces the bucket's lifecycle configuration. Returns the days."""
        days = max(1, math.ceil(ttl_s / 86400))
        rule = {"ID": f"mmservice-{self.prefix or 'all'}"[:255], "Status": "Enabled",
                "Filter": {"Prefix": f"{self.prefix}/" if self.prefix else ""},
                "Expiration": {"Days": days}}
        self._writing(lambda: self.client.put_bucket_lifecycle_configuration(
            Bucket=self.bucket, LifecycleConfiguration={"Rules": [rule]}))
        return days


class _Counting:
    """A reader that counts what passes through it (the size of a streamed upload, without
    asking the server afterwards)."""

    def __init__(self, stream: BinaryIO):
        self.stream, self.n = stream, 0

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.n += len(data)
        return data
