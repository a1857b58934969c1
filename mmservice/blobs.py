"""Blob store for media: uploads, prepared chunks and synthesized speech.

Why an interface: one machine keeps blobs in a local directory; many machines need a shared
store (S3-compatible). Job records keep only a key; Celery messages keep only the job id.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from typing import BinaryIO, Protocol

from mmservice.errors import NotFound

_SAFE_KEY = re.compile(r"^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*$")


class BlobStore(Protocol):
    """Keys are `<tenant>/<job_id>/<name>`: a job's blobs share a prefix, so deleting a job is
    one `delete_prefix`, and a tenant's blobs never mix with another's."""

    def put(self, key: str, data: bytes) -> None: ...
    def put_stream(self, key: str, stream: BinaryIO) -> int:
        """Store what `stream` holds without reading it all into memory; returns the bytes."""
        ...
    def get(self, key: str) -> bytes: ...
    def open(self, key: str) -> BinaryIO:
        """A streaming reader (the caller closes it): large media is never copied whole."""
        ...
    def size(self, key: str) -> int: ...
    def download_url(self, key: str, filename: str, content_type: str) -> str | None:
        """A URL a client may fetch the blob from directly (presigned), or None: the API
        serves it."""
        ...
    def delete_prefix(self, prefix: str) -> int: ...
    def sweep(self, older_than_s: float) -> int: ...


GONE = "media is gone (deleted or expired)"


class LocalBlobStore:
    """Files under one directory; writes are atomic (temp file + rename) so readers never see
    half a file, which matters when a worker reads an upload the API just wrote."""

    def __init__(self, root: str):
        self.root = os.path.abspath(root)
        os.makedirs(self.root, exist_ok=True)

    def _path(self, key: str) -> str:
        return os.path.join(self.root, *check_key(key).split("/"))

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def put_stream(self, key: str, stream: BinaryIO) -> int:
        path = self._path(key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                shutil.copyfileobj(stream, f, 1024 * 1024)
                n = f.tell()
            os.replace(tmp, path)
            return n
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def get(self, key: str) -> bytes:
        with self.open(key) as f:
            return f.read()

    def open(self, key: str) -> BinaryIO:
        try:
            return open(self._path(key), "rb")
        except FileNotFoundError:
            raise NotFound(GONE, code="media_not_found") from None

    def download_url(self, key: str, filename: str, content_type: str) -> str | None:
        return None  # a local folder has no URL of its own: the API serves the bytes

    def size(self, key: str) -> int:
        try:
            return os.path.getsize(self._path(key))
        except FileNotFoundError:
            raise NotFound(GONE, code="media_not_found") from None

    def sweep(self, older_than_s: float) -> int:
        """Delete job folders not touched for `older_than_s` (their records have expired).

        Why: Redis expires job records by TTL, but files have no TTL; without this a busy
        service fills its disk. Layout is `<tenant>/<job_id>/...`."""
        import time

        cutoff = time.time() - older_than_s
        removed = 0
        for tenant in os.scandir(self.root):
            if not tenant.is_dir():
                continue
            for job_dir in os.scandir(tenant.path):
                try:
                    if job_dir.is_dir() and job_dir.stat().st_mtime < cutoff:
                        shutil.rmtree(job_dir.path, ignore_errors=True)
                        removed += 1
                except FileNotFoundError:
                    continue
        return removed

    def delete_prefix(self, prefix: str) -> int:
        base = self._path(prefix.rstrip("/"))
        removed = 0
        if os.path.isdir(base):
            for dirpath, _dirs, files in os.walk(base, topdown=False):
                for name in files:
                    os.unlink(os.path.join(dirpath, name))
                    removed += 1
                os.rmdir(dirpath)
        elif os.path.exists(base):
            os.unlink(base)
            removed = 1
        return removed


def check_key(key: str) -> str:
    """`key` when it is a safe relative key (no `..`, no empty parts), else ValueError."""
    if not _SAFE_KEY.match(key) or ".." in key.split("/"):
        raise ValueError(f"unsafe blob key: {key!r}")
    return key


def blob_store_from_config(cfg: dict) -> BlobStore:
    """`MMS_BLOB_URL=s3://bucket/prefix` -> the S3 store (boto3 imported only then); else the
    local folder `MMS_BLOB_DIR`."""
    from mmservice.blob_url import parse_blob_url

    where = parse_blob_url(cfg.get("BLOB_URL") or "")
    if where.scheme == "s3":
        from mmservice.s3blobs import S3BlobStore

        return S3BlobStore.from_config(cfg, where.bucket, where.prefix)
    return LocalBlobStore(cfg["BLOB_DIR"])
