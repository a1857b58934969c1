"""`python -m mmservice run|demo` as a user runs them: a real subprocess, real ports.

A port the launcher needs is held by a socket of the test (listening, never accepting): the
launcher must refuse at once naming the variable, and must not have connected to it (the held
socket has nothing to accept). The happy path starts the whole service and waits for its "up".
"""
from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.request

import pytest

from mmservice.embedded import EmbeddedRedis, ensure_port_free, free_port
from mmservice.testing.procs import ROOT, service_env


def _held_port() -> socket.socket:
    """A listening socket on a free loopback port, as another service would hold it."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    s.setblocking(False)
    return s


def _untouched(s: socket.socket) -> bool:
    try:
        conn, _ = s.accept()
    except BlockingIOError:
        return True
    conn.close()
    return False


def _cli(args: list[str], cfg: dict, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "mmservice", *args], cwd=ROOT,
                            env=service_env(cfg), text=True, **kw)


def _run(args: list[str], cfg: dict) -> subprocess.CompletedProcess:
    p = _cli(args, cfg, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = p.communicate(timeout=60)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def test_taken_api_port_is_refused_naming_MMS_PORT_before_anything_starts(tmp_path):
    held, redis_port = _held_port(), free_port()
    try:
        r = _run(["run"], {"PORT": held.getsockname()[1], "EMBEDDED_REDIS_PORT": redis_port,
                           "DATA_DIR": str(tmp_path)})
        assert r.returncode == 2, r.stderr
        assert "MMS_PORT" in r.stderr and "Nothing was started" in r.stderr
        assert "Traceback" not in r.stderr and "mmservice is up" not in r.stdout
        assert _untouched(held)
        ensure_port_free("127.0.0.1", redis_port)  # no Redis was started
        assert not (tmp_path / "redis").exists()
    finally:
        held.close()


def test_taken_redis_port_is_refused_naming_MMS_EMBEDDED_REDIS_PORT(tmp_path):
    held, api_port = _held_port(), free_port()
    try:
        r = _run(["run"], {"PORT": api_port, "EMBEDDED_REDIS_PORT": held.getsockname()[1],
                           "DATA_DIR": str(tmp_path)})
        assert r.returncode == 2, r.stderr
        assert "MMS_EMBEDDED_REDIS_PORT" in r.stderr and "Nothing was started" in r.stderr
        assert "embedded Redis on" not in r.stdout and "Traceback" not in r.stderr
        assert _untouched(held)
        ensure_port_free("127.0.0.1", api_port)  # the API socket was released
    finally:
        held.close()


def test_embedded_redis_never_adopts_a_redis_already_on_its_port(redis_server, tmp_path):
    """The race the up-front check cannot close: another Redis takes the port first. Ours exits
    ("Address already in use") and start() says so, though the other one answers PING."""
    with pytest.raises(RuntimeError, match="exited"):
        EmbeddedRedis(str(tmp_path / "r"), port=redis_server.port, appendonly=False).start()
    assert redis_server.alive()


def test_demo_against_a_closed_port_asks_whether_make_run_is_up():
    port = free_port()
    r = _run(["demo"], {"PORT": port})
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [r.stderr.strip()]  # one line, no traceback
    assert f"nothing answers at http://127.0.0.1:{port}" in r.stderr
    assert "is `make run` up?" in r.stderr


def test_make_run_says_up_once_warm_and_demo_follows_MMS_PORT(stub, tmp_path):
    port, redis_port = free_port(), free_port()
    cfg = {"PORT": port, "EMBEDDED_REDIS_PORT": redis_port, "DATA_DIR": str(tmp_path),
           "API_WORKERS": 1, "WORKER_CONCURRENCY": 2, "OPENAI_BASE_URL": stub.base_url,
           "OPENAI_API_KEY": "sk-test-secret-never-logged", "WORKER_PROCESSES": 2}
    proc = _cli(["run"], cfg, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                start_new_session=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout or []],
                     daemon=True).start()
    seen: list[str] = []
    try:
        while "Ctrl-C stops everything." not in "".join(seen):  # the end of the banner
            line = lines.get(timeout=120)  # the launcher's own deadlines end it sooner
            seen.append(line)
            assert proc.poll() is None, "".join(seen[-40:])
        out = "".join(seen)
        assert "mmservice is up" in out
        keys = re.findall(r"export MMS_KEY=(mms_\S+)", out)
        assert len(keys) == 1, out  # the first start's admin key, shown once
        assert f"embedded Redis on redis://127.0.0.1:{redis_port}/0" in out
        assert f"MMS_PORT={port} make demo" in out
        # Two worker processes: the first takes every queue, the second the light ones only
        # (audio and vision keep their heavy engines in one process); memory said per process.
        assert "worker 1/2 started" in out and "queues moderation,vision,audio,webhooks" in out
        assert re.search(r"worker 2/2 started \(pid \d+, queues moderation,webhooks\)", out)
        while not re.search(r"worker 2 \(pid \d+\) .*queues", "".join(seen)):  # after the banner
            seen.append(lines.get(timeout=30))
        assert re.search(r"worker 2 \(pid \d+\) +\d+ MB  queues moderation,webhooks",
                         "".join(seen)), "".join(seen)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10) as r:
            body = json.loads(r.read())
        assert r.status == 200 and body["checks"]["workers"]["ok"]
        assert all(c["warm"] for c in body["capabilities"].values()), body["capabilities"]

        assert _run(["demo"], {"PORT": port}).returncode == 1  # no key: refused, says MMS_KEY
        demo = _run(["demo"], {"PORT": port, "KEY": keys[0]})  # no MMS_BASE: follows MMS_PORT
        assert demo.returncode == 0, demo.stderr[-2000:]
        assert demo.stdout.count("submitted job job_") >= 4, demo.stdout
        assert "== text 'thanks for sharing this lovely recipe': job job_" in demo.stdout
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        rc = proc.wait(60)
    assert rc == 0
    ensure_port_free("127.0.0.1", redis_port)
    ensure_port_free("127.0.0.1", port)


@pytest.mark.parametrize("cfg,cores,expected", [
    ({"WORKER_PROCESSES": 0, "WORKER_SINGLE_QUEUES": "audio,vision"}, 4,
     ["moderation,vision,audio,webhooks"] + ["moderation,webhooks"] * 3),
    ({"WORKER_PROCESSES": 1, "WORKER_SINGLE_QUEUES": "audio,vision"}, 8,
     ["moderation,vision,audio,webhooks"]),
    ({"WORKER_PROCESSES": 3, "WORKER_SINGLE_QUEUES": ""}, 1,
     ["moderation,vision,audio,webhooks"] * 3),
    ({"WORKER_PROCESSES": 4, "WORKER_SINGLE_QUEUES": "moderation,vision,audio,webhooks"}, 4,
     ["moderation,vision,audio,webhooks"]),
])
def test_worker_plan_one_per_core_heavy_queues_in_one_process(cfg, cores, expected):
    from mmservice import config, worker_plan

    slots = worker_plan.plan(config.load(cfg, environ={}), cores=cores)
    assert [s.queues for s in slots] == expected
    assert len({s.node for s in slots}) == len(slots)  # every Celery node name is unique


def test_worker_single_queues_setting_is_validated():
    from mmservice import config
    from mmservice.errors import Invalid

    assert config.load({"WORKER_SINGLE_QUEUES": " audio , vision "},
                       environ={})["WORKER_SINGLE_QUEUES"] == "audio,vision"
    with pytest.raises(Invalid):
        config.load({"WORKER_PROCESSES": -1}, environ={})
