"""Blob store for media: uploads, prepared chunks and synthesized speech.

Why an interface: one machine keeps blobs in a local directory; many machines need a shared
store (S3-compatible). Job records keep only a key; Celery messages keep only the job id.
"""
from __future__ import annotations

from typing import BinaryIO, Protocol

from mmservice.blob_keys import GONE, check_key
from mmservice.local_blobs import LocalBlobStore

__all__ = ["GONE", "BlobStore", "LocalBlobStore", "blob_store_from_config", "check_key"]


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


def blob_store_from_config(cfg: dict) -> BlobStore:
    """`MMS_BLOB_URL=s3://bucket/prefix` -> the S3 store (boto3 imported only then); else the
    local folder `MMS_BLOB_DIR`."""
    from mmservice.blob_url import parse_blob_url

    where = parse_blob_url(cfg.get("BLOB_URL") or "")
    if where.scheme == "s3":
        from mmservice.s3blobs import S3BlobStore

        return S3BlobStore.from_config(cfg, where.bucket, where.prefix)
    return LocalBlobStore(cfg["BLOB_DIR"])
