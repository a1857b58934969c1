"""A real webhook receiver on loopback, written the way the README tells integrators to write one:
verify every request with `standardwebhooks`, dedupe on `webhook-id`, answer 2xx when processed.

Scriptable so tests can play a flaky receiver: each request takes the next action from the
script (then the default, 200). Actions: {"status": 500}, {"status": 429, "headers":
{"Retry-After": "1.5"}}, {"status": 410}, {"sleep": 2.5} (answer late), {"hold": 1.0} (hold the
request open; `arrived` is set when it comes in, so a test can kill the sender meanwhile).
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


class Receiver:
    def __init__(self, secrets: list[str], port: int = 0, script: list[dict] | None = None,
                 on_arrival=None):
        self.secrets = list(secrets)
        self.on_arrival = on_arrival  # called first thing for each request (e.g. a snapshot)
        self.port = port
        self.script = list(script or [])
        self.requests: list[dict] = []  # every request, duplicates included
        self.processed: dict[str, dict] = {}  # webhook-id -> event, after dedupe
        self.arrived = threading.Event()
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                receiver._handle(self)

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    # -- what a real receiver does ----------------------------------------------------------
    def _verify(self, body: bytes, headers: dict) -> list[bool]:
        out = []
        for secret in self.secrets:
            try:
                Webhook(secret).verify(body, headers)
                out.append(True)
            except WebhookVerificationError:
                out.append(False)
        return out

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        if self.on_arrival:
            self.on_arrival()
        body = h.rfile.read(int(h.headers.get("content-length") or 0))
        headers = {k.lower(): v for k, v in h.headers.items()}
        verified = self._verify(body, headers)
        wid = headers.get("webhook-id", "")
        with self.lock:
            action = self.script.pop(0) if self.script else {}
            status = int(action.get("status", 200))
            duplicate = wid in self.processed
            entry = {"id": wid, "headers": headers, "body": body, "at": time.time(),
                     "verified": verified, "duplicate": duplicate, "action": action}
            self.requests.append(entry)
            if not any(verified):
                status = 401
            elif duplicate:
                status = 200  # already processed: acknowledge, do nothing again
            elif 200 <= status < 300:
                self.processed[wid] = json.loads(body)  # claimed on arrival, before any wait
            entry["status"] = status
        self.arrived.set()
        if not duplicate:
            time.sleep(float(action.get("hold", 0)) + float(action.get("sleep", 0)))
        try:
            reply = json.dumps({"ok": 200 <= status < 300, "duplicate": duplicate}).encode()
            h.send_response(status)
            for k, v in (action.get("headers") or {}).items():
                h.send_header(k, v)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(reply)))
            h.end_headers()
            h.wfile.write(reply)
        except OSError:
            pass  # the sender gave up (timeout) or died (killed worker)

    # -- for assertions ---------------------------------------------------------------------
    def wait_for(self, n: int, timeout: float = 20) -> list[dict]:
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if len(self.requests) >= n:
                    return list(self.requests)
            time.sleep(0.02)
        raise AssertionError(f"receiver got {len(self.requests)} requests, expected {n}")
