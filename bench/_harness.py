"""Shared launcher for the benchmarks: the real pieces, started the way production starts them.

- Redis: `mmservice.embedded.EmbeddedRedis` (AOF off; see BENCHMARKS.md for why).
- Upstream: the devstub in its own process (`python -m mmservice.devstub`), controlled over its
  `/_stub/*` endpoints, so the stub never competes for the benchmark process's GIL.
- Workers: `python -m celery -A <app> worker --pool <pool> -c <n>` subprocesses.
- HTTP apps: `python -m gunicorn <module>:app -w 2 --threads 4 --timeout 60` subprocesses, the
  same flags `make run` uses (MMS_API_WORKERS=2) for the API and for the bare baseline app.

Everything is bounded: every wait has a deadline, every process started here is stopped (its own
process group, by pid) when the `Stack` closes, and the scratch directory is removed.
"""
from __future__ import annotations

import http.client
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from mmservice.embedded import EmbeddedRedis, free_port  # noqa: E402

PY = sys.executable
GUNICORN_WORKERS = int(os.environ.get("BENCH_API_WORKERS", "2"))  # = make run's MMS_API_WORKERS
GUNICORN_THREADS = 4  # = make run, Dockerfile and docker-compose
OUT_DIR = os.environ.get("BENCH_OUT_DIR") or os.path.join(ROOT, "bench", "out")
PROFILE = os.environ.get("BENCH_PROFILE", "") not in ("", "0")
PROFILE_DIR = os.environ.get("BENCH_PROFILE_DIR") or os.path.join(ROOT, "bench", "profiles")


class BenchError(RuntimeError):
    """The benchmark cannot run (a piece did not start, too many errors): exit non-zero."""


# ------------------------------------------------------------------------------------------
# small utilities
# ------------------------------------------------------------------------------------------

def pct(values: list[float], p: float) -> float:
    """Percentile by linear interpolation (p in 0..100)."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary(values: list[float], nd: int = 2) -> dict:
    if not values:
        return {"n": 0}
    return {"n": len(values), "min": round(min(values), nd), "p50": round(pct(values, 50), nd),
            "p90": round(pct(values, 90), nd), "p99": round(pct(values, 99), nd),
            "max": round(max(values), nd), "mean": round(statistics.fmean(values), nd)}


def result(name: str, value: float | None, unit: str, baseline: Any, target: str,
           met: bool | None, **extra) -> dict:
    out = {"name": name, "value": value, "unit": unit, "baseline": baseline, "target": target,
           "met": met}
    out.update(extra)
    return out


def write_output(script: str, results: list[dict], details: dict) -> str:
    os.makedirs(OUT_DIR, exist_ok=True)
    path = os.path.join(OUT_DIR, f"{script}.json")
    with open(path, "w") as f:
        json.dump({"script": script, "results": results, "details": details,
                   "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, f,
                  indent=2)
    return path


def print_results(results: list[dict]) -> None:
    for r in results:
        met = {True: "MET", False: "MISSED", None: "n/a"}[r["met"]]
        print(f"  {r['name']}: {r['value']} {r['unit']} (baseline {r['baseline']}; target "
              f"{r['target']}) {met}", flush=True)


def report(script: str, results: list[dict], details: dict, last_line: Any) -> int:
    """A benchmark's ending: details to bench/out/<script>.json, the figures for a person, and
    the headline ratio on the last line (what run_all.py reads). Returns main's exit code."""
    write_output(script, results, details)
    print_results(results)
    print(last_line, flush=True)
    return 0


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


def main_guard(fn: Callable[[], int]) -> None:
    """Run a benchmark's main; any exception is 'cannot run' (exit 2) with the reason.
    SIGTERM (run_all's watchdog) unwinds normally, so every `Stack` stops what it started."""
    def _term(*_a):
        raise SystemExit(143)

    signal.signal(signal.SIGTERM, _term)
    try:
        code = fn()
    except BenchError as e:
        print(f"BENCH CANNOT RUN: {e}", file=sys.stderr, flush=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(code or 0)


def wait_until(pred: Callable[[], bool], timeout: float, interval: float = 0.05,
               what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(interval)
    raise BenchError(f"timed out after {timeout:g}s waiting for {what}")


def http_json(method: str, url: str, body: Any = None, timeout: float = 10) -> Any:
    """One request on a fresh connection (control calls; not for measured traffic)."""
    from urllib.parse import urlsplit

    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        conn.request(method, u.path + (f"?{u.query}" if u.query else ""), body=data,
                     headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        if resp.status >= 400:
            raise BenchError(f"{method} {url} -> {resp.status}: {raw[:200]!r}")
        return json.loads(raw) if raw else None
    finally:
        conn.close()


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
    all_lat = [x for l in lat for x in l]
    return {"requests": len(all_lat), "bad": sum(bad), "elapsed_s": round(elapsed, 3),
            "rps": round(len(all_lat) / elapsed, 1) if elapsed else 0.0,
            "latency_ms": summary(all_lat), "errors": errors[:5]}


# ------------------------------------------------------------------------------------------
# processes
# ------------------------------------------------------------------------------------------

def service_env(cfg: dict, extra: dict | None = None) -> dict:
    """The environment of a service process: MMS_* settings from `cfg` (keys without prefix),
    OPENAI_* as the client reads them; nothing inherited from the caller's MMS_/OPENAI_ vars."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MMS_", "OPENAI_"))}
    for k, v in cfg.items():
        env[k if k.startswith("OPENAI_") else f"MMS_{k}"] = str(v)
    env["PYTHONPATH"] = ROOT
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.update(extra or {})
    return env


class Proc:
    """A subprocess in its own session; stopped by pid (its own process group)."""

    def __init__(self, name: str, args: list[str], env: dict, log_path: str, cwd: str = ROOT):
        self.name, self.args, self.log_path = name, args, log_path
        self._log = open(log_path, "ab")
        self.start_pos = self._log.tell()
        self.p = subprocess.Popen(args, cwd=cwd, env=env, stdout=self._log,
                                  stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.p.pid

    def alive(self) -> bool:
        return self.p.poll() is None

    def log_tail(self, n: int = 2000) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self.start_pos)
                return f.read().decode(errors="replace")[-n:]
        except OSError:
            return ""

    def wait_log(self, needle: bytes, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.log_path, "rb") as f:
                f.seek(self.start_pos)
                if needle in f.read():
                    return
            if not self.alive():
                raise BenchError(f"{self.name} exited early:\n{self.log_tail()}")
            time.sleep(0.1)
        raise BenchError(f"{self.name} not ready in {timeout:g}s:\n{self.log_tail()}")

    def stop(self, timeout: float = 15) -> None:
        if self.alive():
            try:
                os.killpg(self.p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.p.wait(5)
        self._log.close()


class StubProc(Proc):
    """The devstub in its own process; `configure`, `reset`, `requests` over HTTP."""

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
            raise BenchError(f"stub exited:\n{self.log_tail()}")
        try:
            http_json("GET", self.url + "/_stub/health", timeout=1)
            return True
        except (OSError, BenchError):
            return False

    def configure(self, **settings) -> dict:
        return http_json("POST", self.url + "/_stub/config", settings)

    def reset(self) -> None:
        http_json("POST", self.url + "/_stub/reset", {})

    def requests(self, path_suffix: str = "") -> list[dict]:
        data = http_json("GET", self.url + "/_stub/requests", timeout=30)["requests"]
        return [r for r in data if r.get("path", "").endswith(path_suffix)]


class Stack:
    """Scratch dir + Redis + stub, and launchers for workers and gunicorn apps."""

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

    def cfg(self, **overrides) -> dict:
        """Settings shared by the API and workers (MMS_* without the prefix)."""
        cfg = {"REDIS_URL": self.redis.url, "BLOB_DIR": os.path.join(self.dir, "blobs"),
               "LOG_LEVEL": "WARNING"}
        if self.stub:
            cfg.update({"OPENAI_BASE_URL": self.stub.base_url,
                        "OPENAI_API_KEY": "sk-bench-not-a-secret"})
        cfg.update(overrides)
        return cfg

    def worker(self, cfg: dict, *, queues: str = "moderation,vision,audio,webhooks",
               pool: str = "threads", concurrency: int = 8, app: str = "workers.celery_app",
               name: str = "w1", timeout: float = 60, extra_env: dict | None = None) -> Proc:
        args = [PY, "-m", "celery", "-A", app, "worker", "-Q", queues, "--pool", pool,
                "-c", str(concurrency), "--loglevel", "INFO", "-n",
                f"{name}-{os.getpid()}@%h", "--without-heartbeat", "--without-gossip",
                "--without-mingle"]
        p = Proc(f"worker {name}", args, service_env(cfg, extra_env), self.log(f"worker-{name}"))
        self.procs.append(p)
        p.wait_log(b" ready.", timeout)
        return p

    def gunicorn(self, module_app: str, cfg: dict, name: str, ready_path: str = "/healthz",
                 timeout: float = 60, extra_env: dict | None = None) -> "GunicornApp":
        port = free_port()
        args = [PY, "-m", "gunicorn", module_app, "-b", f"127.0.0.1:{port}",
                "-w", str(GUNICORN_WORKERS), "--threads", str(GUNICORN_THREADS),
                "--timeout", "60", "--access-logfile", self.log(f"{name}-access")]
        p = Proc(name, args, service_env(cfg, extra_env), self.log(name))
        self.procs.append(p)
        app = GunicornApp(p, port)
        wait_until(lambda: app.ready(ready_path), timeout, 0.1, f"{name} on :{port}")
        return app

    def redis_client(self):
        import redis

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

    def __enter__(self) -> "Stack":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class GunicornApp:
    def __init__(self, proc: Proc, port: int):
        self.proc, self.port = proc, port
        self.base = f"http://127.0.0.1:{port}"

    def ready(self, path: str) -> bool:
        if not self.proc.alive():
            raise BenchError(f"{self.proc.name} exited:\n{self.proc.log_tail()}")
        try:
            http_json("GET", self.base + path, timeout=1)
            return True
        except (OSError, BenchError):
            return False

    def pids(self) -> list[int]:
        import psutil

        try:
            master = psutil.Process(self.proc.pid)
            return [master.pid] + [c.pid for c in master.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []


# ------------------------------------------------------------------------------------------
# measurements of processes
# ------------------------------------------------------------------------------------------

def rss_mb(pids: list[int]) -> float:
    import psutil

    total = 0
    for pid in pids:
        try:
            total += psutil.Process(pid).memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return round(total / 2 ** 20, 1)


def cpu_seconds(pids: list[int]) -> float:
    import psutil

    total = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


class MachineLoad:
    """CPU used on the whole machine during a window, and how much of it was not ours (other
    sessions share this machine): `others_cores` = (all busy CPU - our processes) / wall."""

    def __init__(self, our_pids: list[int]):
        import psutil

        self.pids = our_pids
        self.t0 = time.monotonic()
        self.sys0 = psutil.cpu_times()
        self.ours0 = cpu_seconds(our_pids)

    def done(self) -> dict:
        import psutil

        wall = time.monotonic() - self.t0
        sys1 = psutil.cpu_times()
        busy = sum(getattr(sys1, f) - getattr(self.sys0, f) for f in ("user", "system", "nice",
                                                                       "irq", "softirq", "steal")
                   if hasattr(sys1, f))
        ours = cpu_seconds(self.pids) - self.ours0
        return {"wall_s": round(wall, 2), "machine_busy_cores": round(busy / wall, 2),
                "ours_cores": round(ours / wall, 2),
                "others_cores": round(max(0.0, busy - ours) / wall, 2),
                "loadavg_1m": round(os.getloadavg()[0], 2)}


def wait_for_quiet(our_pids: list[int], max_wait_s: float = None, threshold: float = 0.4,
                   window_s: float = 1.0) -> dict:
    """Other sessions share this 2-core machine. Before a measured phase, wait (bounded) for a
    window in which other processes use less than `threshold` cores. Returns what was seen;
    `quiet: False` means we measured anyway after `max_wait_s`."""
    if max_wait_s is None:
        max_wait_s = float(os.environ.get("BENCH_QUIET_WAIT_S", "20"))
    t0 = time.monotonic()
    seen = {}
    while True:
        m = MachineLoad(our_pids)
        time.sleep(window_s)
        seen = m.done()
        if seen["others_cores"] < threshold:
            return {"quiet": True, "waited_s": round(time.monotonic() - t0, 1), **seen}
        if time.monotonic() - t0 >= max_wait_s:
            return {"quiet": False, "waited_s": round(time.monotonic() - t0, 1), **seen}


@contextmanager
def profiled(name: str, pids: dict[str, int], duration_s: float):
    """py-spy record of each pid while the block runs (only with BENCH_PROFILE=1). Writes
    collapsed stacks to bench/profiles/<name>-<label>.txt and a summary beside them."""
    if not PROFILE:
        yield None
        return
    spy = shutil.which("py-spy") or os.path.join(os.path.dirname(PY), "py-spy")
    os.makedirs(PROFILE_DIR, exist_ok=True)
    running = []
    for label, pid in pids.items():
        out = os.path.join(PROFILE_DIR, f"{name}-{label}.txt")
        gil = ["--gil"] if os.environ.get("BENCH_PROFILE_GIL") == "1" else []
        p = subprocess.Popen([spy, "record", "--pid", str(pid), "--format", "raw", "--rate",
                              "200", "--duration", str(max(1, int(duration_s))), *gil,
                              "--nonblocking", "--output", out],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        running.append((label, out, p))
    try:
        yield [o for _, o, _ in running]
    finally:
        for label, out, p in running:
            try:
                p.wait(duration_s + 30)
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGINT)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
            if os.path.exists(out):
                from bench._profile import summarize_file

                with open(out[:-4] + "-top.txt", "w") as f:
                    f.write(summarize_file(out))


# ------------------------------------------------------------------------------------------
# jobs without the HTTP API (worker-side benchmarks)
# ------------------------------------------------------------------------------------------

class Submitter:
    """Creates jobs exactly as `POST /v1/jobs` does (`mmservice.jobs.intake.submit`: record,
    then the Celery message), in this process: for benchmarks of the worker alone."""

    def __init__(self, cfg: dict):
        from mmservice import config as mms_config
        from mmservice.blobs import blob_store_from_config
        from mmservice.jobs.dispatch import make_enqueue_step
        from mmservice.jobs.store import JobStore
        from mmservice.redis_conn import get_redis
        from workers.celery_app import make_celery

        self.cfg = mms_config.load(dict(cfg), environ={})
        self.r = get_redis(self.cfg["REDIS_URL"])
        self.store = JobStore(self.r, self.cfg["JOB_TTL_S"])
        self.blobs = blob_store_from_config(self.cfg)
        self.celery = make_celery(self.cfg)
        self.enqueue_step = make_enqueue_step(self.celery, self.r, self.cfg["JOB_TTL_S"])

    def text(self, text: str, **fields) -> str:
        from mmservice.jobs.intake import submit

        job, _ = submit({"text": text, **fields}, None, cfg=self.cfg, store=self.store,
                        blobs=self.blobs, enqueue=lambda j: self.enqueue_step(j, j["tasks"][0], marked=True),
                        tenant=self.cfg["TENANT"], idempotency_key=None)
        return job["id"]

    def settled(self) -> int:
        vals = self.r.hmget("mms:metrics:jobs_finished", ["succeeded", "failed"])
        return sum(int(v or 0) for v in vals)

    def failed(self) -> int:
        return int(self.r.hget("mms:metrics:jobs_finished", "failed") or 0)

    def job(self, job_id: str) -> dict:
        return self.store.get(self.cfg["TENANT"], job_id)


def texts(n: int, seed: int = 1, words: int = 12) -> list[str]:
    rng = random.Random(seed)
    vocab = ("the quick brown fox jumps over a lazy dog while the moderator reads every "
             "message carefully before lunch and nobody gets hurt today").split()
    return [" ".join(rng.choice(vocab) for _ in range(words)) + f" #{seed}-{i}" for i in range(n)]


def iso_ms(value: str) -> float:
    """A job timestamp (ISO, ms, Z) as epoch milliseconds."""
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000
