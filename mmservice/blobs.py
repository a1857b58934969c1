"""Blob store for media: uploads, prepared chunks and synthesized speech.

Why an interface: one machine keeps blobs in a local directory; many machines need a shared
store (S3-compatible). Job records keep only a key; Celery messages keep only the job id.
"""
from __future__ import annotations

import os
import re
import tempfile
from typing import Protocol

from mmservice.errors import NotFound

_SAFE_KEY = re.compile(r"^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*$")


class BlobStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes: ...
    def size(self, key: str) -> int: ...
    def delete_prefix(self, prefix: str) -> int: ...
    def sweep(self, older_than_s: float) -> int: ...


class LocalBlobStore:
    """Files under one directory; writes are atomic (temp file + rename) so readers never see
    half a file, which matters when a worker reads an upload the API just wrote."""

    def __init__(self, root: str):
        self.root = os.path.abspath(root)
        os.makedirs(self.root, exist_ok=True)

    def _path(self, key: str) -> str:
        if not _SAFE_KEY.match(key) or ".." in key.split("/"):
            raise ValueError(f"unsafe blob key: {key!r}")
        return os.path.join(self.root, *key.split("/"))

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

    def get(self, key: str) -> bytes:
        try:
            with open(self._path(key), "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise NotFound("media is gone (deleted or expired)", code="media_not_found") from None

    def size(self, key: str) -> int:
        try:
            return os.path.getsize(self._path(key))
        except FileNotFoundError:
            raise NotFound("media is gone (deleted or expired)", code="media_not_found") from None

    def sweep(self, older_than_s: float) -> int:
        """Delete job folders not touched for `older_than_s` (their records have expired).

        Why: Redis expires job records by TTL, but files have no TTL; without this a busy
        service fills its disk. Layout is `<tenant>/<job_id>/...`."""
        import shutil
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


def blob_store_from_config(cfg: dict) -> BlobStore:
    return LocalBlobStore(cfg["BLOB_DIR"])
