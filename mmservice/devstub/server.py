"""The HTTP server: keep-alive, fault delivery at the socket level, control endpoints.

stdlib only, so tests, benchmarks and `make run` need nothing beyond the runtime deps. Nagle is
off because a keep-alive client that writes headers and body separately otherwise waits ~40 ms
for the delayed ACK on every call, which would swamp any latency a benchmark wants to measure.
"""
from __future__ import annotations

import json
import select
import socket
import socketserver
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from .faults import Fault, ScriptBook, find_markers
from .profiles import PROFILES, get_profile
from .routes import Request, RequestLog, route
from .wire import Reply, StubError, make_id

MAX_UPLOAD_BYTES = 25 * 1024 * 1024  # OpenAI's limit for audio uploads
_BODY_SLACK = 1024 * 1024  # multipart framing and form fields on top of the file itself
_CONFIG_KEYS = ("latency_ms", "latency_per_audio_second_ms", "max_upload_bytes", "profile",
                "stream_chunk_delay_ms")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512
    allow_reuse_address = True

    def server_bind(self):
        # HTTPServer.server_bind calls getfqdn(), a reverse-DNS lookup that can stall for
        # seconds on machines without a resolver; the stub never needs its own FQDN.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address):
        pass  # clients that time out or reset mid-response are expected here, not news


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "devstub/1.0"
    sys_version = ""

    def log_message(self, format, *args):
        pass

    def setup(self):
        super().setup()
        self.server.stub._track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.stub._track(self.connection, False)

    def do_GET(self):
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def _dispatch(self):
        stub: StubServer = self.server.stub
        path = urlsplit(self.path).path
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            body = self._read_body(stub.max_upload_bytes + _BODY_SLACK)
        except StubError as e:
            return self._send(Reply.error(e))
        if path.startswith("/_stub/"):
            try:
                return self._send(stub._control(self.command, path, body))
            except (StubError, ValueError, TypeError, KeyError) as e:
                err = e if isinstance(e, StubError) else StubError(400, f"bad control call: {e}")
                return self._send(Reply.error(err))
        try:
            req, error = Request.parse(self.command, path, headers, body), None
            record = req.record()
        except StubError as e:
            req, error = None, e
            record = {"method": self.command, "path": path, "headers": headers,
                      "timestamp": time.time()}
        stub.requests.append(record)
        try:
            if error is not None:
                raise error
            profile = get_profile(headers.get("x-stub-profile"), stub.profile)
            record["profile"] = profile.name
            endpoint = route(self.command, path, profile)
            fault = find_markers(req.texts()) or stub._scripts.pop(path) or Fault()
        except StubError as e:
            record["status"] = e.status
            return self._send(Reply.error(e))
        if fault.as_dict():
            record["fault"] = fault.as_dict()
        if not self._pause((stub.latency_ms + fault.latency_ms) / 1000, record):
            return None
        if fault.reset or fault.hang_s:
            if fault.hang_s and not self._pause(fault.hang_s, record):
                return None
            record["status"] = "reset"
            return self._abort()
        if fault.status and fault.status >= 400:
            extra = {"Retry-After": _fmt_seconds(fault.retry_after)} \
                if fault.retry_after is not None else None
            reply = Reply.error(StubError(fault.status, fault.message, headers=extra))
        else:
            try:
                reply = endpoint(req, profile, stub)
            except StubError as e:
                reply = Reply.error(e)
            except Exception as e:  # a stub bug must reach the test as a 500, not a hang-up
                reply = Reply.error(StubError(500, f"devstub bug: {type(e).__name__}: {e}"))
            if fault.malformed:
                reply = Reply(200, reply.body[: max(1, len(reply.body) // 2)]
                              if reply.content_type == "application/json"
                              else b'{"id": "trunc', "application/json")
        record["status"] = reply.status
        self._send(reply, record)

    def _pause(self, seconds: float, record: dict) -> bool:
        """Wait `seconds` (a latency or a hang) unless the caller hangs up first: then its
        record says `status: "client_gone"` and nothing is answered (False). Like a real
        upstream that notices the closed connection and drops the work."""
        stub: StubServer = self.server.stub
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0 and not stub._stop.is_set():
            readable, _, _ = select.select([self.connection], [], [], min(left, 0.1))
            if not readable:
                continue
            try:
                data = self.connection.recv(1, socket.MSG_PEEK)
            except OSError:
                data = b""
            if data:  # the next request, pipelined: the caller is there
                stub.sleep(deadline - time.monotonic())
                break
            self.close_connection = True
            stub.requests.note(record, status="client_gone")
            return False
        return True

    def _read_body(self, limit: int) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                data = self.rfile.read(size)
                self.rfile.readline()
                if total <= limit:
                    chunks.append(data)
            body = b"".join(chunks)
        else:
            total = int(self.headers.get("Content-Length") or 0)
            if total > limit:  # drain so the client reads our 413 instead of a broken pipe
                left = total
                while left > 0:
                    got = self.rfile.read(min(left, 1 << 20))
                    if not got:
                        break
                    left -= len(got)
                body = b""
            else:
                body = self.rfile.read(total) if total else b""
        if total > limit:
            raise StubError(413, f"Maximum content size limit ({limit}) exceeded ({total} bytes "
                            "read)", type="server_error")
        return body

    def _send(self, reply: Reply, record: dict | None = None):
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        if reply.chunks is None:
            self.send_header("Content-Length", str(len(reply.body)))
        else:
            self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-request-id", make_id("req_"))
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        if reply.chunks is None:
            self.wfile.write(reply.body)
        else:
            self._stream(reply.chunks, record if record is not None else {})

    def _stream(self, chunks: list[bytes], record: dict) -> None:
        """One HTTP chunk per piece, flushed, `stream_chunk_delay_ms` apart. A caller that
        hangs up mid-stream is recorded (`stream: "client_gone"` and how many were sent)."""
        stub: StubServer = self.server.stub
        sent = 0
        try:
            for i, piece in enumerate(chunks):
                if i:
                    stub.sleep(stub.stream_chunk_delay_ms / 1000)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.flush()
                sent += 1
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            record.update(stream="complete", chunks_sent=sent)
        except OSError:
            record.update(stream="client_gone", chunks_sent=sent)
            self.close_connection = True

    def _abort(self):
        """Close with RST and no response: what a crashed or cut-off upstream looks like."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.rfile.close()  # drop the makefile() reference so close() really closes
            self.connection.close()
        except OSError:
            pass


def _fmt_seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


class StubServer:
    """An OpenAI-compatible upstream on a background thread (see `start_stub`)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, profile: str = "openai",
                 latency_ms: float = 0.0, latency_per_audio_second_ms: float = 0.0,
                 max_upload_bytes: int = MAX_UPLOAD_BYTES):
        get_profile(profile)  # fail at construction, not on the first request
        self.profile = profile
        self.latency_ms = float(latency_ms)
        self.latency_per_audio_second_ms = float(latency_per_audio_second_ms)
        self.max_upload_bytes = int(max_upload_bytes)
        self.stream_chunk_delay_ms = 0.0
        self.requests = RequestLog()
        self._scripts = ScriptBook()
        self._stop = threading.Event()
        self._conns: set = set()
        self._conns_lock = threading.Lock()
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.stub = self
        self.host, self.port = self._httpd.server_address[:2]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={
            "poll_interval": 0.1}, name=f"devstub:{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def start(self) -> StubServer:
        self._thread.start()
        return self

    def script(self, path_suffix: str, faults: list[dict]) -> None:
        """Queue faults for requests whose path ends with `path_suffix`, one per request."""
        self._scripts.add(path_suffix, faults)

    def configure(self, **settings) -> dict:
        unknown = set(settings) - set(_CONFIG_KEYS)
        if unknown:
            raise ValueError(f"unknown stub settings: {sorted(unknown)}")
        if "profile" in settings:
            get_profile(settings["profile"])
        for key, value in settings.items():
            setattr(self, key, value if key == "profile" else type(getattr(self, key))(value))
        return self.config()

    def config(self) -> dict:
        return {k: getattr(self, k) for k in _CONFIG_KEYS} | {"profiles": sorted(PROFILES)}

    def reset(self) -> None:
        self._scripts.clear()
        self.requests.clear()

    def sleep(self, seconds: float) -> None:
        """Interruptible by shutdown, so a hung request never holds the process open."""
        if seconds > 0:
            self._stop.wait(seconds)

    def shutdown(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._httpd.shutdown()
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:  # wake keep-alive threads blocked reading the next request
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._httpd.server_close()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def __enter__(self) -> StubServer:
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()

    def _track(self, conn, alive: bool) -> None:
        with self._conns_lock:
            (self._conns.add if alive else self._conns.discard)(conn)

    def _control(self, method: str, path: str, body: bytes) -> Reply:
        data = json.loads(body) if body else {}
        if path == "/_stub/requests" and method == "GET":
            return Reply.json({"requests": self.requests.snapshot()})
        if path == "/_stub/script" and method == "POST":
            self.script(data["path"], data["faults"])
            return Reply.json({"ok": True, "pending": self._scripts.pending()})
        if path == "/_stub/script" and method == "GET":
            return Reply.json({"pending": self._scripts.pending()})
        if path == "/_stub/config" and method in ("GET", "POST"):
            return Reply.json(self.configure(**data) if method == "POST" else self.config())
        if path == "/_stub/reset" and method == "POST":
            self.reset()
            return Reply.json({"ok": True})
        if path == "/_stub/health":
            return Reply.json({"ok": True, "base_url": self.base_url})
        raise StubError(404, f"Invalid URL ({method} {path})", code=None)


def start_stub(host: str = "127.0.0.1", port: int = 0, profile: str = "openai",
               latency_ms: float = 0.0, **settings) -> StubServer:
    """Start a stub in a background thread; port 0 picks a free port (see `.base_url`)."""
    return StubServer(host, port, profile, latency_ms, **settings).start()
