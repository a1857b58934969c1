"""The local-folder blob store: files under one directory, flat inside 256 shard folders per tenant.

Why no folder per job (the layout before 2026-12-04 was `<root>/<tenant>/<job>/<name>`): on ext4,
creating a file in a folder made moments ago is far dearer than in an old one once many folders
have been deleted, which the media sweep and job deletions do all day. Measured on the reference
machine right after deleting 20,000 small folders: a 100 KB put into a new per-job folder cost
0.98-1.0 ms of CPU, into an existing folder 0.08 ms (3,000 puts each; before any delete, 0.09
against 0.07 ms). The API pays it on every upload, and `bench/intake.py` saw the API's CPU per
request swing between 2.0 and 3.6 ms from round to round while the bare app's stayed put.

Layout: key `<tenant>/<job>/<a>/<b>` is the file `<root>/<tenant>/<shard>/<job>~a~b`, the shard
being two hex digits of the CRC-32 of `<job>` (256 folders per tenant, made once). `~` never
occurs in a key (`check_key`), so names cannot collide, and a job's blobs are the names equal to
`<job>` or starting with `<job>~` in one shard folder. A one-part key is `<root>/<key>`.

Older data (`<root>/<tenant>/<job>/...`) is still read when a key's new file is missing, and
`delete_prefix` and `sweep` delete it too; nothing is written there any more.

Writes are atomic (a temporary file in the same shard folder, then a rename), so a reader never
sees half a file, which matters when a worker reads an upload the API just wrote.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
import zlib
from collections.abc import Callable
from typing import BinaryIO

from mmservice.blob_keys import GONE, check_key
from mmservice.errors import NotFound

SEP = "~"
_TMP = ".tmp-"


def _shard(job: str) -> str:
    return f"{zlib.crc32(job.encode()) & 0xFF:02x}"


def _is_shard(name: str) -> bool:
    return len(name) == 2 and all(c in "0123456789abcdef" for c in name)


class LocalBlobStore:
    def __init__(self, root: str):
        self.root = os.path.abspath(root)
        os.makedirs(self.root, exist_ok=True)

    # -- where a key lives ----------------------------------------------------------------
    def local_path(self, key: str) -> str:
        """The file that holds `key` (this layout), for tools and tests."""
        parts = check_key(key).split("/")
        if len(parts) == 1:
            return os.path.join(self.root, parts[0])
        return os.path.join(self.root, parts[0], _shard(parts[1]), SEP.join(parts[1:]))

    def _old_path(self, key: str) -> str:
        return os.path.join(self.root, *key.split("/"))

    def _existing(self, key: str) -> str:
        """The file holding `key`: this layout's, else the older per-job folder's."""
        path = self.local_path(key)
        if os.path.exists(path):
            return path
        old = self._old_path(key)
        return old if os.path.isfile(old) else path

    # -- writes -------------------------------------------------------------------------------
    def put(self, key: str, data: bytes) -> None:
        self._write(key, lambda f: f.write(data))

    def put_stream(self, key: str, stream: BinaryIO) -> int:
        return self._write(key, lambda f: shutil.copyfileobj(stream, f, 1024 * 1024))

    def _write(self, key: str, fill: Callable[[BinaryIO], object]) -> int:
        path = self.local_path(key)
        folder = os.path.dirname(path)
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=_TMP)
        try:
            with os.fdopen(fd, "wb") as f:
                fill(f)
                n = f.tell()
            os.replace(tmp, path)
            return n
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    # -- reads --------------------------------------------------------------------------------
    def get(self, key: str) -> bytes:
        with self.open(key) as f:
            return f.read()

    def open(self, key: str) -> BinaryIO:
        try:
            return open(self._existing(key), "rb")
        except FileNotFoundError:
            raise NotFound(GONE, code="media_not_found") from None

    def download_url(self, key: str, filename: str, content_type: str) -> str | None:
        return None  # a local folder has no URL of its own: the API serves the bytes

    def size(self, key: str) -> int:
        try:
            return os.path.getsize(self._existing(key))
        except FileNotFoundError:
            raise NotFound(GONE, code="media_not_found") from None

    # -- deletes ------------------------------------------------------------------------------
    def delete_prefix(self, prefix: str) -> int:
        """Delete `prefix` and everything below it as folders, not strings: `t/job_1` never
        touches `t/job_12`. Returns how many blobs went."""
        key = prefix.rstrip("/")
        path = self.local_path(key)
        if "/" not in key:  # a tenant, or a one-part key
            return _remove_tree(path)
        folder, name = os.path.split(path)
        removed = 0
        for entry in _files(folder):
            if entry.name == name or entry.name.startswith(name + SEP):
                try:
                    os.unlink(entry.path)
                    removed += 1
                except FileNotFoundError:
                    continue
        return removed + _remove_tree(self._old_path(key))

    def sweep(self, older_than_s: float) -> int:
        """Delete the blobs of jobs not written for `older_than_s` (their records have
        expired); returns how many jobs' blobs went.

        Why: Redis expires job records by TTL, but files have no TTL; without this a busy
        service fills its disk."""
        cutoff = time.time() - older_than_s
        jobs: set[tuple[str, str]] = set()
        for tenant in _dirs(self.root):
            for entry in _dirs(tenant.path):
                if _is_shard(entry.name):
                    for f in _files(entry.path):
                        if _mtime(f) < cutoff:
                            try:
                                os.unlink(f.path)
                            except FileNotFoundError:
                                continue
                            if not f.name.startswith(_TMP):
                                jobs.add((tenant.name, f.name.split(SEP, 1)[0]))
                elif _mtime(entry) < cutoff:  # a job folder of the older layout
                    shutil.rmtree(entry.path, ignore_errors=True)
                    jobs.add((tenant.name, entry.name))
        return len(jobs)


def _dirs(path: str) -> list[os.DirEntry]:
    try:
        return [e for e in os.scandir(path) if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []


def _files(path: str) -> list[os.DirEntry]:
    try:
        return [e for e in os.scandir(path) if e.is_file(follow_symlinks=False)]
    except FileNotFoundError:
        return []


def _mtime(entry: os.DirEntry) -> float:
    try:
        return entry.stat(follow_symlinks=False).st_mtime
    except FileNotFoundError:
        return float("inf")


def _remove_tree(path: str) -> int:
    """Delete a file or a folder tree; how many files went."""
    if os.path.isdir(path):
        removed = 0
        for dirpath, _sub, files in os.walk(path, topdown=False):
            for name in files:
                if not name.startswith(_TMP):
                    removed += 1
                os.unlink(os.path.join(dirpath, name))
            os.rmdir(dirpath)
        return removed
    if os.path.isfile(path):
        os.unlink(path)
        return 1
    return 0
