"""Processes and servers, each started the way production starts it and stopped by pid.

Why one place: the worker command line, the environment a service process sees, and the wait for
"ready" were written separately for `make run`, the tests and the benchmarks, and drifted.
Every wait here has a deadline and raises `LaunchError` with the process's log tail.
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import redis

from mmservice.cli import worker_argv
from mmservice.embedded import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PY = sys.executable
ALL_QUEUES = "moderation,vision,audio,webhooks"


class LaunchError(RuntimeError):
    """A piece did not start, or a wait ran out."""


def service_env(cfg: dict, extra: dict | None = None) -> dict:
    """The environment of a service process: MMS_* settings from `cfg` (keys without prefix),
    OPENAI_* as the client reads them; nothing inherited from the caller's MMS_/OPENAI_ vars."""
    from mmservice.config import child_environment

    env = child_environment(cfg)
    env["PYTHONPATH"] = ROOT
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.update(extra or {})
    return env


def wait_until(pred: Callable[[], bool], timeout: float, interval: float = 0.05,
               what: str = "condition") -> None:
    """Poll `pred` until it is true; `LaunchError` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(interval)
    raise LaunchError(f"timed out after {timeout:g}s waiting for {what}")


def http_json(method: str, url: str, body: Any = None, timeout: float = 10) -> Any:
    """One request on a fresh connection (control calls; not for measured traffic)."""
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port, timeout=timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        conn.request(method, u.path + (f"?{u.query}" if u.query else ""), body=data,
                     headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        if resp.status >= 400:
            raise LaunchError(f"{method} {url} -> {resp.status}: {raw[:200]!r}")
        return json.loads(raw) if raw else None
    finally:
        conn.close()


class Proc:
    """A subprocess in its own session, logging to a file; stopped by pid (its process group)."""

    def __init__(self, name: str, args: list[str], env: dict, log_path: str, cwd: str = ROOT):
        self.name, self.args, self.log_path = name, args, log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.start_pos = self._log.tell()
        self.p = subprocess.Popen(args, cwd=cwd, env=env, stdout=self._log,
                                  stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.p.pid

    def alive(self) -> bool:
        return self.p.poll() is None

    def log_text(self) -> str:
        """What this process wrote since it started (the log file may be shared)."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self.start_pos)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def log_tail(self, n: int = 2000) -> str:
        return self.log_text()[-n:]

    def wait_log(self, needle: str, timeout: float, count: int = 1) -> None:
        """Until `needle` appears `count` times in this process's log (or it exits)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log_text().count(needle) >= count:
                return
            if not self.alive():
                raise LaunchError(f"{self.name} exited early:\n{self.log_tail()}")
            time.sleep(0.1)
        raise LaunchError(f"{self.name}: no {needle!r} in {timeout:g}s:\n{self.log_tail()}")

    def _signal(self, sig: int) -> None:
        try:
            os.killpg(self.p.pid, sig)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """SIGKILL: a crash, no goodbye."""
        if self.alive():
            self._signal(signal.SIGKILL)
            self.p.wait(10)

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM, then SIGKILL after `timeout` seconds."""
        if self.alive():
            self._signal(signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


class WorkerProcess(Proc):
    """A real `celery worker` subprocess, started by the same argv as `python -m mmservice run`.
    `start()` returns once its log says " ready."."""

    def __init__(self, cfg: dict, log_path: str, queues: str = ALL_QUEUES,
                 concurrency: int = 8, name: str = "w1", pool: str = "threads",
                 app: str = "workers.celery_app", extra_env: dict | None = None):
        self.cfg, self.queues, self.concurrency = cfg, queues, concurrency
        args = worker_argv(queues=queues, pool=pool, concurrency=concurrency,
                           node=f"{name}-{os.getpid()}@%h", app=app, lean=True)
        self._launch = (f"worker {name}", args, service_env(cfg, extra_env), log_path)
        self.started = False

    def start(self, timeout: float = 60) -> WorkerProcess:
        super().__init__(*self._launch)
        self.started = True
        self.wait_log(" ready.", timeout)
        return self

    def alive(self) -> bool:
        return self.started and super().alive()

    def stop(self, timeout: float = 20) -> None:
        if self.started:
            super().stop(timeout)


def make_key(redis_url: str, tenant: str = "default", scopes: Any = None,
             name: str = "test harness") -> str:
    """A new API key in the service's Redis (all scopes unless `scopes` says)."""
    from mmservice.auth.keystore import SCOPES, KeyStore
    from mmservice.keys import DEFAULT as DEFAULT_KEYS

    r = redis.Redis.from_url(redis_url)
    try:
        return KeyStore(r, DEFAULT_KEYS).create(tenant, scopes or SCOPES, name=name)[0]
    finally:
        r.close()


def keyed_client(app: Any, scopes: Any = None) -> Any:
    """Flask's test client for `app`, sending a new key of the `default` tenant."""
    key = make_key(app.extensions["mms"].cfg["REDIS_URL"], scopes=scopes)
    c = app.test_client()
    c.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return c


class ApiServer:
    """The Flask app behind a real threaded WSGI server on a loopback port, in this process
    (tests reach the app's services through `.app`). `key`: an admin key of the `default`
    tenant, made for it, which the harness's clients send."""

    def __init__(self, cfg: dict):
        from werkzeug.serving import make_server

        from mmservice import create_app

        self.app = create_app(cfg)
        self.key = make_key(self.app.extensions["mms"].cfg["REDIS_URL"])
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()


class StubProc(Proc):
    """The devstub in its own process (so it never competes for the caller's GIL); controlled
    over its `/_stub/*` endpoints."""

    def __init__(self, log_path: str, latency_ms: float = 0.0,
                 latency_per_audio_second_ms: float = 0.0):
        self.port = free_port()
        super().__init__("stub", [PY, "-m", "mmservice.devstub", "--port", str(self.port),
                                  "--latency-ms", str(latency_ms),
                                  "--latency-per-audio-second-ms",
                                  str(latency_per_audio_second_ms)],
                         service_env({}), log_path)
        self.url = f"http://127.0.0.1:{self.port}"
        self.base_url = self.url + "/v1"
        wait_until(self._healthy, 20, 0.1, "the upstream stub")

    def _healthy(self) -> bool:
        if not self.alive():
            raise LaunchError(f"stub exited:\n{self.log_tail()}")
        try:
            http_json("GET", self.url + "/_stub/health", timeout=1)
            return True
        except (OSError, LaunchError):
            return False

    def configure(self, **settings) -> dict:
        return http_json("POST", self.url + "/_stub/config", settings)

    def reset(self) -> None:
        http_json("POST", self.url + "/_stub/reset", {})

    def requests(self, path_suffix: str = "") -> list[dict]:
        data = http_json("GET", self.url + "/_stub/requests", timeout=30)["requests"]
        return [r for r in data if r.get("path", "").endswith(path_suffix)]


class GunicornApp:
    """A WSGI app under gunicorn, with the flags `make run` uses."""

    def __init__(self, proc: Proc, port: int):
        self.proc, self.port = proc, port
        self.base = f"http://127.0.0.1:{port}"

    def ready(self, path: str) -> bool:
        if not self.proc.alive():
            raise LaunchError(f"{self.proc.name} exited:\n{self.proc.log_tail()}")
        try:
            http_json("GET", self.base + path, timeout=1)
            return True
        except (OSError, LaunchError):
            return False

    def pids(self) -> list[int]:
        import psutil

        try:
            master = psutil.Process(self.proc.pid)
            return [master.pid] + [c.pid for c in master.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []
