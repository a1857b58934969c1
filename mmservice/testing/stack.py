"""A whole service for one test module or one benchmark: Redis, worker(s), the API.

Why a factory: a feature that needs different settings needs its own worker, and a worker takes
every task on its broker, so it needs its own Redis database. `RedisDatabases` hands out fresh
databases of one embedded server (and starts another server when they run out), so no module
picks a database number by hand. `Stack` is the tests' unit (in-process API, worker
subprocesses); `ScratchStack` is the benchmarks' (own Redis, the stub and gunicorn as
subprocesses, a scratch directory removed on close). Both start workers with `WorkerProcess`.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Any

import redis

from mmservice.config import DEFAULTS, process_variable
from mmservice.embedded import EmbeddedRedis, free_port
from mmservice.testing.client import Client
from mmservice.testing.procs import (
    ALL_QUEUES,
    PY,
    ApiServer,
    GunicornApp,
    LaunchError,
    Proc,
    StubProc,
    WorkerProcess,
    make_key,
    service_env,
    wait_until,
)

__all__ = ["ALL_QUEUES", "ApiServer", "Client", "GunicornApp", "LaunchError", "Proc",
           "RedisDatabases", "ScratchStack", "Stack", "StubProc", "WorkerProcess",
           "broker_idle", "make_key", "service_env", "wait_until"]

# `make run`'s defaults (MMS_API_WORKERS, MMS_API_THREADS; the Dockerfile and compose run 16
# threads too), or a bench's own
GUNICORN_WORKERS = int(process_variable("BENCH_API_WORKERS", str(DEFAULTS["API_WORKERS"])))
GUNICORN_THREADS = int(process_variable("BENCH_API_THREADS", str(DEFAULTS["API_THREADS"])))


def broker_idle(r: redis.Redis, queues: str = ALL_QUEUES) -> bool:
    """No Celery message for `queues` is waiting or unacknowledged on this database. Tasks are
    acked late (after they return), so this is the signal that the workers have finished every
    task they took from those queues, and that none is left to be delivered again."""
    wanted = set(queues.split(","))
    if any(r.llen(q) for q in wanted):
        return False
    # kombu's Redis transport keeps each unacked delivery as [message, exchange, routing_key].
    return not any(json.loads(raw)[2] in wanted for raw in r.hvals("unacked"))


class RedisDatabases:
    """Fresh, empty Redis databases on demand: a counter over an embedded server's databases,
    and a new embedded server when they run out. `reserved` are never handed out."""

    DATABASES = 16  # redis-server's default `databases`

    def __init__(self, data_dir: str, reserved: tuple[int, ...] = (0,)):
        self.data_dir = data_dir
        self.reserved = set(reserved)
        self.servers: list[EmbeddedRedis] = []
        self._next = self.DATABASES  # start a server on first use

    def allocate(self) -> str:
        while self._next in self.reserved:
            self._next += 1
        if self._next >= self.DATABASES:
            n = len(self.servers)
            self.servers.append(EmbeddedRedis(os.path.join(self.data_dir, f"redis-{n}"),
                                              appendonly=False).start())
            self._next = 0
            return self.allocate()
        url = self.servers[-1].url.rsplit("/", 1)[0] + f"/{self._next}"
        self._next += 1
        redis.Redis.from_url(url).flushdb()
        return url

    def stop(self) -> None:
        for s in self.servers:
            s.stop()
        self.servers.clear()


class Stack:
    """Worker subprocess(es) and an in-process API on a database of their own.

    `cfg` is the whole settings dict (the caller merges its base settings); `REDIS_URL` is
    replaced by a fresh database from `databases`. `workers=0` starts none (add them with
    `add_worker`, e.g. to kill one and start its heir)."""

    def __init__(self, cfg: dict, databases: RedisDatabases, log_dir: str, name: str = "stack",
                 queues: str = ALL_QUEUES, workers: int = 1, concurrency: int = 8):
        self.cfg = {**cfg, "REDIS_URL": databases.allocate()}
        self.name, self.log_dir = name, log_dir
        self.queues, self.concurrency = queues, concurrency
        self.redis = redis.Redis.from_url(self.cfg["REDIS_URL"])
        self.workers: list[WorkerProcess] = []
        self.api: ApiServer | None = None
        try:
            for i in range(workers):
                self.add_worker(f"{name}{i + 1}")
            self.api = ApiServer(self.cfg)
        except BaseException:
            self.close()
            raise
        self.api_url = self.api.base
        self.client = Client(self.api_url, self.api.key)

    @property
    def worker(self) -> WorkerProcess:
        return self.workers[0]

    @property
    def log_path(self) -> str:
        return os.path.join(self.log_dir, f"worker-{self.name}.log")

    def add_worker(self, name: str, **kw: Any) -> WorkerProcess:
        """Start one more worker (same settings and queues unless `kw` says otherwise)."""
        kw.setdefault("queues", self.queues)
        kw.setdefault("concurrency", self.concurrency)
        w = WorkerProcess(self.cfg, self.log_path, name=name, **kw)
        self.workers.append(w)
        return w.start()

    @property
    def services(self) -> Any:
        """The API app's services (store, redis, ...)."""
        assert self.api is not None
        return self.api.app.extensions["mms"]

    def close(self) -> None:
        for w in reversed(self.workers):
            w.stop()
        if self.api is not None:
            self.api.stop()


class ScratchStack:
    """A scratch directory, a Redis server of its own and (optionally) the stub as a subprocess,
    with launchers for workers and gunicorn apps. Every process started here is stopped (by pid)
    on `close`, and the directory is removed."""

    def __init__(self, name: str, stub_latency_ms: float = 0.0,
                 stub_latency_per_audio_second_ms: float = 0.0, with_stub: bool = True):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix=f"mms-bench-{name}-")
        self.procs: list[Proc] = []
        self.redis = EmbeddedRedis(os.path.join(self.dir, "redis"), appendonly=False).start()
        self.stub: StubProc | None = None
        try:
            if with_stub:
                self.stub = StubProc(self.log("stub"), stub_latency_ms,
                                     stub_latency_per_audio_second_ms)
                self.procs.append(self.stub)
        except BaseException:
            self.close()
            raise

    def log(self, name: str) -> str:
        return os.path.join(self.dir, f"{name}.log")

    def cfg(self, **overrides: Any) -> dict:
        """Settings shared by the API and workers (MMS_* without the prefix). API keys are off
        (`AUTH=disabled`, loopback): the pipeline benchmarks measure the pipeline; the ones
        that measure auth (intake, auth_bruteforce) turn it on and send keys (`make_key`)."""
        cfg: dict[str, Any] = {"REDIS_URL": self.redis.url, "AUTH": "disabled",
                               "BLOB_DIR": os.path.join(self.dir, "blobs"), "LOG_LEVEL": "WARNING"}
        if self.stub:
            cfg.update({"OPENAI_BASE_URL": self.stub.base_url,
                        "OPENAI_API_KEY": "sk-bench-not-a-secret"})
        cfg.update(overrides)
        return cfg

    def worker(self, cfg: dict, *, queues: str = ALL_QUEUES, pool: str = "threads",
               concurrency: int = 8, app: str = "workers.celery_app", name: str = "w1",
               timeout: float = 60, extra_env: dict | None = None) -> WorkerProcess:
        w = WorkerProcess(cfg, self.log(f"worker-{name}"), queues=queues, pool=pool,
                          concurrency=concurrency, name=name, app=app, extra_env=extra_env)
        self.procs.append(w)
        return w.start(timeout)

    def gunicorn(self, module_app: str, cfg: dict, name: str, ready_path: str = "/healthz",
                 timeout: float = 60, extra_env: dict | None = None) -> GunicornApp:
        port = free_port()
        args = [PY, "-m", "gunicorn", module_app, "-b", f"127.0.0.1:{port}",
                "-w", str(GUNICORN_WORKERS), "--threads", str(GUNICORN_THREADS),
                "--timeout", "60", "--access-logfile", self.log(f"{name}-access")]
        p = Proc(name, args, service_env(cfg, extra_env), self.log(name))
        self.procs.append(p)
        app = GunicornApp(p, port)
        wait_until(lambda: app.ready(ready_path), timeout, 0.1, f"{name} on :{port}")
        return app

    def redis_client(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis.url)

    def stop(self, proc: Proc) -> None:
        proc.stop()
        if proc in self.procs:
            self.procs.remove(proc)

    def close(self) -> None:
        for p in reversed(self.procs):
            try:
                p.stop()
            except Exception:  # noqa: BLE001 - keep stopping the others
                pass
        self.procs.clear()
        try:
            self.redis.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> ScratchStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
