"""The benchmarks' HTTP clients: a keep-alive connection per thread (as a production client with a
pool), a multipart body builder, and a closed-loop load generator over threads.

Control calls (stub configuration, readiness) use `mmservice.testing.procs.http_json` instead:
a fresh connection each, never measured.
"""
from __future__ import annotations

import http.client
import json
import random
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from bench._report import summary


def in_threads(n: int, target: Callable[[int], None], join_s: float) -> float:
    """Run `target(0..n-1)` in n daemon threads, each joined for at most `join_s`; returns the
    wall time in seconds (the load generators' fan-out)."""
    t0 = time.monotonic()
    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(join_s)
    return time.monotonic() - t0


class KeepAlive:
    """One keep-alive HTTP/1.1 connection (one per thread); reconnects once on a dropped
    connection. Used for every measured request, like a production client with a pool."""

    def __init__(self, host: str, port: int, timeout: float = 60):
        self.host, self.port, self.timeout = host, port, timeout
        self.conn: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        c = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        c.connect()
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return c

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict | None = None) -> tuple[int, bytes, dict]:
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = self._connect()
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                resp = self.conn.getresponse()
                data = resp.read()
                if resp.getheader("connection", "").lower() == "close":
                    self.close()
                return resp.status, data, dict(resp.getheaders())
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                    http.client.CannotSendRequest, http.client.BadStatusLine):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def json(self, method: str, path: str, payload: Any = None) -> tuple[int, Any]:
        body = json.dumps(payload).encode() if payload is not None else None
        status, data, _ = self.request(method, path, body,
                                       {"Content-Type": "application/json"} if body else {})
        try:
            return status, json.loads(data) if data else None
        except ValueError:
            return status, data

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except OSError:
                pass
            self.conn = None


def multipart(fields: dict[str, str], file_field: str, filename: str, data: bytes,
              mime: str) -> tuple[bytes, str]:
    boundary = "bench" + "".join(random.choice("0123456789abcdef") for _ in range(24))
    parts = []
    for k, v in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n'
                     f"{v}\r\n".encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; '
                 f'filename="{filename}"\r\nContent-Type: {mime}\r\n\r\n'.encode())
    parts.append(data)
    parts.append(f"\r\n--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def closed_loop(host: str, port: int, method: str, path: str, body: bytes, headers: dict,
                connections: int, duration_s: float, ok=(200, 201, 202)) -> dict:
    """`connections` threads, each a keep-alive connection sending back to back for
    `duration_s`. Returns throughput and latency; bounded by the duration (+ one request)."""
    stop_at = time.monotonic() + duration_s
    lat: list[list[float]] = [[] for _ in range(connections)]
    bad: list[int] = [0] * connections
    errors: list[str] = []

    def run(i: int) -> None:
        c = KeepAlive(host, port, timeout=30)
        try:
            while time.monotonic() < stop_at:
                t0 = time.perf_counter()
                try:
                    status, _, _ = c.request(method, path, body, headers)
                except OSError as e:
                    errors.append(repr(e))
                    bad[i] += 1
                    time.sleep(0.01)
                    continue
                lat[i].append((time.perf_counter() - t0) * 1000)
                if status not in ok:
                    bad[i] += 1
        finally:
            c.close()

    elapsed = in_threads(connections, run, duration_s + 60)
    all_lat = [x for per_thread in lat for x in per_thread]
    return {"requests": len(all_lat), "bad": sum(bad), "elapsed_s": round(elapsed, 3),
            "rps": round(len(all_lat) / elapsed, 1) if elapsed else 0.0,
            "latency_ms": summary(all_lat), "errors": errors[:5]}
