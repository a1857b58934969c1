"""Fault injection under load, shared by `bench/faults.py` (the numbers) and
`tests/test_faults.py` (the acceptance test of issue 13).

Why one engine for both: the benchmark and the test must mean the same thing by "lost",
"settled twice" and "one terminal webhook", or a green test and a bad number can coexist.

One scenario = a fresh Redis server of its own (AOF on, as `make run` starts it, so a restart
keeps what was written), one worker (default reliability settings: concurrency 8), the API under
gunicorn, a webhook receiver on loopback, and N clients submitting text jobs with a
`webhook_url`. Once a third of the jobs were accepted the fault is injected; then every accepted
job is watched in Redis (the job records, never `GET /v1/jobs`, which would settle overdue jobs
and hide what a webhook-only client sees) until all are terminal or `settle_s` after the fault.
Every loop is bounded in count and time; every address is loopback.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import redis
import requests

from mmservice.embedded import EmbeddedRedis, free_port
from mmservice.keys import Keys
from mmservice.testing.procs import PY, Proc, StubProc, WorkerProcess, service_env, wait_until
from mmservice.testing.stack import GUNICORN_THREADS, GUNICORN_WORKERS, GunicornApp, broker_idle

SCENARIOS = ("kill_worker", "redis_restart", "redis_stop", "storm")
SECRET = "whsec_ZmF1bHRzLWJlbmNoLXNlY3JldC0wMTIzNDU2Nzg5YWI="
TERMINAL = ("succeeded", "failed", "canceled")
REDIS_STOP_S = 10.0
STORM_429_S, STORM_500_S = 5.0, 5.0
KEYS = Keys()  # the default prefix, as the service uses it


class HookReceiver:
    """Counts webhook deliveries per job: every request (retries included) and the distinct
    `webhook-id`s of terminal events (`job.succeeded` / `job.failed` / `job.canceled`)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str, str]] = []  # (job id, event type, webhook-id)
        rec = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                try:
                    doc = json.loads(body)
                    entry = (str(doc["data"]["id"]), str(doc["type"]),
                             self.headers.get("webhook-id", ""))
                except (ValueError, KeyError, TypeError):
                    entry = ("", "unparsable", "")
                with rec.lock:
                    rec.requests.append(entry)
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                         daemon=True).start()

    def terminal_ids(self) -> dict[str, set[str]]:
        """job id -> distinct webhook-ids of its terminal events."""
        out: dict[str, set[str]] = {}
        with self.lock:
            for job, typ, wid in self.requests:
                if typ.rsplit(".", 1)[-1] in TERMINAL:
                    out.setdefault(job, set()).add(wid)
        return out

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Scenario:
    """The pieces of one scenario, started fresh; `close()` stops all of them by pid."""

    def __init__(self, name: str, stub: StubProc, receiver: HookReceiver, log_dir: str):
        self.name, self.stub, self.receiver = name, stub, receiver
        self.dir = tempfile.mkdtemp(prefix=f"mms-faults-{name}-")
        self.log_dir = log_dir
        self.redis = EmbeddedRedis(os.path.join(self.dir, "redis"), appendonly=True).start()
        self.cfg = {"REDIS_URL": self.redis.url, "BLOB_DIR": os.path.join(self.dir, "blobs"),
                    "OPENAI_BASE_URL": stub.base_url, "OPENAI_API_KEY": "sk-faults-not-a-secret",
                    "WEBHOOK_SECRETS": SECRET, "WEBHOOK_ALLOWLIST": "127.0.0.1",
                    "LOG_LEVEL": "INFO",
                    # Faults of the pipeline are measured: keys off (loopback), like ScratchStack.
                    "AUTH": "disabled"}
        self.workers: list[WorkerProcess] = []
        self.api: Proc | None = None
        self.r = redis.Redis.from_url(self.redis.url, socket_timeout=5,
                                      socket_connect_timeout=2)
        try:
            self.add_worker()
            port = free_port()
            self.api = Proc("api", [PY, "-m", "gunicorn", "app:app", "-b", f"127.0.0.1:{port}",
                                    "-w", str(GUNICORN_WORKERS), "--threads",
                                    str(GUNICORN_THREADS), "--timeout", "60"],
                            service_env(self.cfg), self.log("api"))
            app = GunicornApp(self.api, port)
            wait_until(lambda: app.ready("/healthz"), 60, 0.1, f"api on :{port}")
            self.base = app.base
        except BaseException:
            self.close()
            raise

    def log(self, what: str) -> str:
        return os.path.join(self.log_dir, f"faults-{self.name}-{what}.log")

    def add_worker(self) -> WorkerProcess:
        w = WorkerProcess(self.cfg, self.log("worker"), name=f"{self.name}{len(self.workers)}")
        self.workers.append(w)
        return w.start(90)

    # -- the faults -------------------------------------------------------------------------
    def inject(self) -> tuple[float, float]:
        """Apply the scenario's fault; returns (start, end) in epoch seconds."""
        t0 = time.time()
        if self.name == "kill_worker":
            self.workers[-1].kill()
            self.add_worker()
        elif self.name == "redis_restart":
            assert self.redis.proc is not None
            self.redis.proc.kill()
            self.redis.proc.wait(10)
            self.redis = EmbeddedRedis(self.redis.data_dir, port=self.redis.port,
                                       appendonly=True).start(30)
        elif self.name == "redis_stop":
            assert self.redis.proc is not None
            os.kill(self.redis.proc.pid, signal.SIGSTOP)
            try:
                time.sleep(REDIS_STOP_S)  # the fault itself, not a synchronisation
            finally:
                os.kill(self.redis.proc.pid, signal.SIGCONT)
        elif self.name == "storm":
            self._storm({"status": 429, "retry_after": 1}, STORM_429_S)
            self._storm({"status": 500}, STORM_500_S)
        else:
            raise ValueError(f"unknown scenario {self.name!r}")
        return t0, time.time()

    def _storm(self, fault: dict, seconds: float, depth: int = 4) -> None:
        """Keep `depth` copies of `fault` queued at the stub for `seconds` (its script is per
        request, so a window in time is a queue kept topped up; at most `depth` requests after
        the window still get the fault)."""
        from mmservice.testing.procs import http_json

        end = time.monotonic() + seconds
        while time.monotonic() < end:
            pending = http_json("GET", self.stub.url + "/_stub/script")["pending"]
            have = sum(len(v) for k, v in pending.items() if k.endswith("moderations"))
            if have < depth:
                http_json("POST", self.stub.url + "/_stub/script",
                          {"path": "/moderations", "faults": [fault] * (depth - have)})
            time.sleep(0.02)

    # -- observing --------------------------------------------------------------------------
    def jobs(self, ids: list[str]) -> dict[str, dict]:
        """The job records (read straight from Redis: a pure read, settles nothing)."""
        out: dict[str, dict] = {}
        for i in range(0, len(ids), 200):
            keys = [KEYS.job("default", j) for j in ids[i:i + 200]]
            for jid, raw in zip(ids[i:i + 200], self.r.mget(keys), strict=True):
                if raw:
                    out[jid] = json.loads(raw)
        return out

    def all_job_ids(self) -> list[str]:
        """Every job in the store: the accepted ones and any a client never heard of (a POST
        that answered 503 while Redis hung, whose write Redis ran when it resumed)."""
        return [j.decode() for j in self.r.zrange(KEYS.jobs_index("default"), 0, -1)]

    def finished_count(self) -> int:
        h = self.r.hgetall(KEYS.metrics("jobs_finished"))
        return sum(int(v) for v in h.values())

    def close(self) -> None:
        for w in reversed(self.workers):
            try:
                w.stop()
            except Exception:  # noqa: BLE001 - keep stopping the others
                pass
        if self.api is not None:
            self.api.stop()
        self.redis.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def submit_all(base: str, url: str, n: int, clients: int, load_s: float, tag: str,
               accepted: list[str], statuses: Counter) -> None:
    """`clients` threads submit `n` text jobs in total, paced to spread over `load_s` seconds;
    each 202's id goes to `accepted`, every answer (or exception) is counted in `statuses`."""
    per = [n // clients + (1 if i < n % clients else 0) for i in range(clients)]
    lock = threading.Lock()

    def client(c: int) -> None:
        s = requests.Session()
        gap = load_s / max(1, per[c])
        t_next = time.monotonic() + gap * c / clients
        for k in range(per[c]):
            delay = t_next - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # pacing of the load, not a synchronisation
            t_next += gap
            body = {"text": f"fault run {tag} client {c} job {k}: a friendly note",
                    "webhook_url": url}
            try:
                r = s.post(base + "/v1/jobs", json=body, timeout=30)
                code = str(r.status_code)
                jid = r.json().get("id") if r.status_code == 202 else None
            except (requests.RequestException, ValueError) as e:
                code, jid = type(e).__name__, None
            with lock:
                statuses[code] += 1
                if jid:
                    accepted.append(jid)

    threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(load_s + 120)


def run_scenario(name: str, stub: StubProc, log_dir: str, jobs: int, clients: int,
                 load_s: float, settle_s: float = 120.0) -> dict:
    """One scenario end to end; returns its figures (see the module docstring)."""
    stub.reset()
    receiver = HookReceiver()
    sc = Scenario(name, stub, receiver, log_dir)
    try:
        accepted: list[str] = []
        statuses: Counter = Counter()
        loader = threading.Thread(target=submit_all, daemon=True, args=(
            sc.base, receiver.url, jobs, clients, load_s, name, accepted, statuses))
        loader.start()
        wait_until(lambda: len(accepted) >= jobs // 3 or not loader.is_alive(), load_s + 60,
                   what="a third of the jobs accepted")
        fault_start, fault_end = sc.inject()
        loader.join(load_s + 150)
        ids = list(accepted)
        deadline = time.monotonic() + max(0.0, fault_end + settle_s - time.time())
        records: dict[str, dict] = {}
        while True:
            try:
                records = sc.jobs(ids)
            except redis.RedisError:
                pass
            done = sum(1 for j in records.values() if j.get("status") in TERMINAL)
            if done == len(ids) or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        # webhooks of settled jobs, then no message left that could deliver more. The bound
        # only ends a failure: an attempt that a killed worker had claimed is retried once its
        # lease ends (`WebhookSettings.lease_s`), so wait past that before calling it lost.
        settled = [j for j, rec in records.items() if rec.get("status") in TERMINAL]
        from mmservice import config, webhooks

        lease_s = webhooks.settings(config.load(sc.cfg, environ={})).lease_s
        hook_deadline = time.monotonic() + 2 * lease_s + 30
        while time.monotonic() < hook_deadline and not (
                all(j in receiver.terminal_ids() for j in settled) and broker_idle(sc.r)):
            time.sleep(0.1)
        return figures(sc, ids, records, statuses, fault_start, fault_end)
    finally:
        receiver.stop()
        sc.close()


def figures(sc: Scenario, ids: list[str], records: dict[str, dict], statuses: Counter,
            fault_start: float, fault_end: float) -> dict:
    by_status = Counter(records.get(j, {}).get("status", "missing") for j in ids)
    errors = Counter((records[j].get("error") or {}).get("code", "?") for j in ids
                     if records.get(j, {}).get("status") == "failed")
    finished = [_epoch(records[j]["finished_at"]) for j in ids
                if records.get(j, {}).get("finished_at")]
    hooks = sc.receiver.terminal_ids()
    per_job_hooks = Counter(len(hooks.get(j, ())) for j in ids)
    reqs = sc.stub.requests("/moderations")
    inputs: Counter = Counter()
    for rq in reqs:
        inp = (rq.get("json") or {}).get("input")
        for text in inp if isinstance(inp, list) else [inp]:
            if isinstance(text, str):
                inputs[text] += 1
    n = len(ids)
    everything: dict[str, dict] = {}
    if _up(sc):
        all_ids = sc.all_job_ids()
        everything = sc.jobs(all_ids)
    settled_all = sum(1 for rec in everything.values() if rec.get("finished_at"))
    unheard = [j for j in everything if j not in set(ids)]
    worker_log = "\n".join(w.log_text() for w in sc.workers)
    return {
        "scenario": sc.name, "submitted": sum(statuses.values()),
        "answers": dict(statuses), "accepted": n,
        "succeeded": by_status["succeeded"], "failed": by_status["failed"],
        "unfinished": n - by_status["succeeded"] - by_status["failed"] - by_status["canceled"],
        "by_status": dict(by_status), "failed_codes": dict(errors),
        "lost": n - by_status["succeeded"],
        "settled_count": sc.finished_count() if _up(sc) else None,
        # settles counted (jobs_finished) minus jobs settled, over every job in the store
        "settled_twice": (sc.finished_count() - settled_all) if _up(sc) else None,
        # jobs created for a POST that did not answer 202 (its client retries, with an
        # Idempotency-Key to get the same job); they run like any job
        "unheard_jobs": len(unheard),
        "unheard_unfinished": sum(1 for j in unheard if everything[j].get("status")
                                  not in TERMINAL),
        "upstream_calls": len(reqs),
        "upstream_calls_per_job": round(len(reqs) / n, 3) if n else None,
        "inputs_sent_more_than_once": sum(1 for c in inputs.values() if c > 1),
        "terminal_webhooks_per_job": {str(k): v for k, v in sorted(per_job_hooks.items())},
        "jobs_with_one_terminal_webhook": per_job_hooks[1],
        "webhook_requests": len(sc.receiver.requests),  # retries and duplicates included
        "settled_without_webhook": [j for j in ids if j not in hooks and records.get(
            j, {}).get("status") in TERMINAL][:5],
        # fault end -> last job settled; None when some job never settled (not recovered)
        "recover_s": round(max(finished) / 1000 - fault_end, 2)
        if finished and len(finished) == n else None,
        "fault_s": round(fault_end - fault_start, 2),
        "worker_alive": any(w.alive() for w in sc.workers),
        "workers_started": len(sc.workers),
        "worker_log_problems": _problems(worker_log),
    }


def _up(sc: Scenario) -> bool:
    try:
        return bool(sc.r.ping())
    except redis.RedisError:
        return False


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000


def _problems(log: str, limit: int = 12) -> list[str]:
    """The worker log's distinct CRITICAL / ERROR / exception lines (digits folded), so a report
    can say why jobs were lost."""
    seen: Counter = Counter()
    for line in log.splitlines():
        if "security_error" in line or not re.search(
                r"CRITICAL|ERROR|Unrecoverable|Error\(|Restoring|lost", line, re.I):
            continue
        try:  # the service logs JSON lines: keep level, logger, message
            doc = json.loads(line)
            line = f"{doc.get('level')} {doc.get('logger')}: {doc.get('msg')}"
        except (ValueError, AttributeError):
            pass
        seen[re.sub(r"[0-9a-f]{8,}|\d+", "#", line.strip())[:240]] += 1
    return [f"{c}x {t}" for t, c in seen.most_common(limit)]
