"""Fixtures that start the real pieces: a Redis server, the upstream stub (HTTP), a Celery worker
process and the API on a real HTTP port. Tests then use the service the way a client would.

Why a separate worker process and not eager mode: eager mode hides serialization, routing and
concurrency bugs. Each fixture is session-scoped so the suite pays start-up once.
"""
from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from mmservice.embedded import EmbeddedRedis  # noqa: E402


def worker_env(cfg: dict) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MMS_", "OPENAI_"))}
    for k, v in cfg.items():
        env[k if k.startswith("OPENAI_") else f"MMS_{k}"] = str(v)
    env["PYTHONPATH"] = ROOT
    return env


class WorkerProcess:
    """A real `celery worker` subprocess; `kill()` is SIGKILL (a crash), `stop()` is graceful."""

    def __init__(self, cfg: dict, log_path: str, queues: str = "moderation,vision,audio,webhooks",
                 concurrency: int = 8, name: str = "w1"):
        self.cfg, self.log_path, self.queues = cfg, log_path, queues
        self.concurrency, self.name = concurrency, name
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> "WorkerProcess":
        self._log = open(self.log_path, "ab")
        start_pos = self._log.tell()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker", "-Q",
             self.queues, "--pool", "threads", "-c", str(self.concurrency), "--loglevel", "INFO",
             "-n", f"{self.name}-{os.getpid()}@%h", "--without-heartbeat", "--without-gossip",
             "--without-mingle"],
            cwd=ROOT, env=worker_env(self.cfg), stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            with open(self.log_path, "rb") as f:
                f.seek(start_pos)
                if b" ready." in f.read():
                    return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early; see {self.log_path}")
            time.sleep(0.1)
        raise RuntimeError(f"worker not ready in {timeout}s; see {self.log_path}")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


class ApiServer:
    """The Flask app behind a real threaded WSGI server on a loopback port."""

    def __init__(self, cfg: dict):
        from werkzeug.serving import make_server

        from mmservice import create_app

        self.app = create_app(cfg)
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()


class Client:
    """What a client does: submit, poll, read errors."""

    def __init__(self, base: str):
        self.base = base
        self.s = requests.Session()

    def url(self, path: str) -> str:
        return self.base + path

    def get(self, path: str, **kw):
        return self.s.get(self.url(path), timeout=30, **kw)

    def post(self, path: str, **kw):
        return self.s.post(self.url(path), timeout=60, **kw)

    def delete(self, path: str, **kw):
        return self.s.delete(self.url(path), timeout=30, **kw)

    def submit(self, payload: dict, headers: dict | None = None):
        return self.post("/v1/jobs", json=payload, headers=headers or {})

    def submit_file(self, name: str, data: bytes, mime: str, fields: dict | None = None):
        return self.post("/v1/jobs", files={"file": (name, io.BytesIO(data), mime)},
                         data=fields or {})

    def poll(self, job_id: str, timeout: float = 60, until=("succeeded", "failed", "canceled")):
        deadline = time.time() + timeout
        while time.time() < deadline:
            r = self.get(f"/v1/jobs/{job_id}")
            assert r.status_code == 200, r.text
            job = r.json()
            if job["status"] in until:
                return job
            time.sleep(0.05)
        raise AssertionError(f"job {job_id} not in {until} after {timeout}s: {job}")

    def run(self, payload: dict, timeout: float = 60) -> dict:
        r = self.submit(payload)
        assert r.status_code == 202, r.text
        return self.poll(r.json()["id"], timeout)


@pytest.fixture(scope="session")
def tmp_root(tmp_path_factory):
    return tmp_path_factory.mktemp("mms")


@pytest.fixture(scope="session")
def redis_server(tmp_root):
    server = EmbeddedRedis(str(tmp_root / "redis"), appendonly=False).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def stub():
    from mmservice.devstub.server import start_stub

    server = start_stub()
    yield server
    server.shutdown()


@pytest.fixture(scope="session")
def base_cfg(redis_server, stub, tmp_root) -> dict:
    """Settings shared by the API and the worker: short timeouts and backoff so fault tests run
    in seconds; loopback allow-listed for URL fetches and webhooks (tests own those servers)."""
    return {
        "REDIS_URL": redis_server.url,
        "BLOB_DIR": str(tmp_root / "blobs"),
        "OPENAI_BASE_URL": stub.base_url,
        "OPENAI_API_KEY": "sk-test-secret-never-logged",
        "UPSTREAM_TIMEOUT_S": 2.0,
        "UPSTREAM_MAX_ATTEMPTS": 4,
        "UPSTREAM_BACKOFF_BASE_S": 0.05,
        "UPSTREAM_BACKOFF_MAX_S": 0.5,
        "UPSTREAM_RETRY_BUDGET_S": 20.0,
        "ALLOW_PRIVATE_URLS": "127.0.0.1",
        "TRANSCRIPTION_MAX_CHUNK_S": 30,  # clips over 30 s are chunked, so tests stay short
        "LOG_LEVEL": "INFO",
    }


@pytest.fixture(scope="session")
def worker(base_cfg, tmp_root):
    w = WorkerProcess(base_cfg, str(tmp_root / "worker.log")).start()
    yield w
    w.stop()


@pytest.fixture(scope="session")
def api(base_cfg):
    server = ApiServer(base_cfg)
    yield server
    server.stop()


@pytest.fixture()
def client(api, worker, stub) -> Client:
    stub.reset()
    return Client(api.base)


@pytest.fixture(scope="session")
def worker_log(tmp_root):
    return str(tmp_root / "worker.log")
