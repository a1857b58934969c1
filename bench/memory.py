"""Figure 7 - memory: RSS of the API (gunicorn -w 2 --threads 32: master + workers) and of one
worker (threads pool, c = 8) after 1,000 text moderation jobs, and RSS growth between the
1,000th and the 5,000th job (target < 5 %). Jobs go through `POST /v1/jobs` (4 client threads,
keep-alive); the stub answers at once. Then the same for a worker with the local engines loaded
(`bench/_local_worker.py` calls `mmservice.providers.local.warm_up()` at start,
MMS_MODERATION_PROVIDER=local), jobs created in-process; and, in a bare subprocess, the
worker's modules with and without `warm_up()`.

Last line: the largest growth ratio measured (RSS at 5,000 / RSS at 1,000).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._http import KeepAlive, in_threads  # noqa: E402
from bench._machine import rss_mb  # noqa: E402
from bench._report import BenchError, main_guard, report, result  # noqa: E402
from bench._submit import Submitter, texts  # noqa: E402
from mmservice.testing.procs import PY, ROOT, service_env, wait_until  # noqa: E402
from mmservice.testing.stack import ScratchStack  # noqa: E402

CHECKPOINTS = (1000, 5000)
LOCAL_JOBS = (1000, 5000) if os.environ.get("BENCH_MEMORY_LOCAL_GROWTH") == "1" else (1000,)
TARGET_GROWTH = 0.05
CLIENTS = 4


def submit_via_api(port: int, items: list[str]) -> int:
    """POST every text (CLIENTS keep-alive threads); returns failures."""
    lock = threading.Lock()
    it = iter(items)
    bad = [0]

    def run():
        c = KeepAlive("127.0.0.1", port)
        while True:
            with lock:
                t = next(it, None)
            if t is None:
                break
            status, _ = c.json("POST", "/v1/jobs", {"text": t})
            if status != 202:
                bad[0] += 1
        c.close()

    in_threads(CLIENTS, lambda _i: run(), 600)
    return bad[0]


def sample(api, worker) -> dict:
    time.sleep(1.0)  # let the last responses and acks finish
    pids = api.pids() if api else []
    out = {"worker_mb": rss_mb([worker.pid])}
    if api:
        out.update(api_master_mb=rss_mb(pids[:1]), api_workers_mb=rss_mb(pids[1:]),
                   api_workers_each_mb=[rss_mb([p]) for p in pids[1:]])
    return out


def bare_modules() -> dict:
    """RSS of a plain process that imports the worker's modules, before and after warm_up()."""
    code = ("import json, psutil\n"
            "p = psutil.Process()\n"
            "import workers.celery_app, workers.tasks\n"
            "import workers.tasks_webhooks\n"
            "import mmservice.providers.openai_provider\n"
            "a = p.memory_info().rss\n"
            "from mmservice.providers.local import warm_up\n"
            "e = warm_up()\n"
            "b = p.memory_info().rss\n"
            "print(json.dumps({'modules_mb': round(a / 2**20, 1), 'with_engines_mb': "
            "round(b / 2**20, 1), 'engines': sorted(k for k, v in e.items() "
            "if v.get('loaded'))}))\n")
    out = subprocess.run([PY, "-c", code], cwd=ROOT, env=service_env({}), capture_output=True,
                         text=True, timeout=180)
    if out.returncode != 0:
        return {"error": out.stderr[-500:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def local_available() -> tuple[bool, str]:
    out = subprocess.run([PY, "-c", "import mmservice.providers.local as L; L.warm_up"],
                         cwd=ROOT, env=service_env({}), capture_output=True, text=True,
                         timeout=120)
    return out.returncode == 0, out.stderr.strip()[-300:]


def main() -> int:
    details: dict = {"api": "gunicorn -w 2 --threads 32", "worker": "threads c=8",
                     "clients": CLIENTS}
    results = []
    with ScratchStack("memory", stub_latency_ms=0) as st:
        cfg = st.cfg()
        worker = st.worker(cfg, concurrency=8)
        api = st.gunicorn("app:app", cfg, "api")
        details["idle"] = sample(api, worker)
        sub = Submitter(cfg)
        done = 0
        t0 = time.monotonic()
        for n in CHECKPOINTS:
            bad = submit_via_api(api.port, texts(n - done, seed=n))
            if bad:
                raise BenchError(f"{bad} submissions failed")
            wait_until(lambda n=n: sub.settled() >= n, 300, 0.1, f"{n} jobs settled")
            done = n
            details[f"after_{n}"] = s = sample(api, worker)
            s["elapsed_s"] = round(time.monotonic() - t0, 1)
            print(f"after {n} jobs: {s}", flush=True)
        if sub.failed():
            raise BenchError(f"{sub.failed()} jobs failed")
        a, b = details["after_1000"], details["after_5000"]
        g_api = round(b["api_workers_mb"] / a["api_workers_mb"] - 1, 4)
        g_worker = round(b["worker_mb"] / a["worker_mb"] - 1, 4)
        results += [
            result("api_rss_after_1000_jobs", a["api_workers_mb"], "MB (2 gunicorn workers)",
                   f"idle {details['idle']['api_workers_mb']} MB; master "
                   f"{a['api_master_mb']} MB", "reported (no target)", None),
            result("worker_rss_after_1000_jobs", a["worker_mb"], "MB",
                   f"idle {details['idle']['worker_mb']} MB", "reported (no target)", None),
            result("api_rss_growth_1000_to_5000", g_api, "fraction",
                   f"{a['api_workers_mb']} -> {b['api_workers_mb']} MB", f"< {TARGET_GROWTH}",
                   g_api < TARGET_GROWTH),
            result("worker_rss_growth_1000_to_5000", g_worker, "fraction",
                   f"{a['worker_mb']} -> {b['worker_mb']} MB", f"< {TARGET_GROWTH}",
                   g_worker < TARGET_GROWTH),
        ]
        st.stop(worker)
        st.stop(api.proc)

        ok, why = local_available()
        if not ok:
            details["local"] = {"not_measured": f"mmservice.providers.local not importable: {why}"}
            results.append(result("worker_rss_local_engines_after_1000_jobs", None, "MB",
                                  "not measured", "reported (no target)", None,
                                  note="local engines not importable"))
        else:
            details["bare_modules"] = bare_modules()
            print(f"bare modules: {details['bare_modules']}", flush=True)
            lcfg = st.cfg(MODERATION_PROVIDER="local")
            st.redis_client().flushdb()
            lsub = Submitter(lcfg)
            lw = st.worker(lcfg, concurrency=8, app="bench._local_worker", name="local",
                           timeout=180)
            details["local_idle"] = {"worker_mb": rss_mb([lw.pid])}
            done = 0
            t0 = time.monotonic()
            for n in LOCAL_JOBS:
                for t in texts(n - done, seed=10 + n):
                    lsub.text(t)
                wait_until(lambda n=n: lsub.settled() >= n, 400, 0.1, f"{n} local jobs")
                done = n
                details[f"local_after_{n}"] = s = sample(None, lw)
                s["elapsed_s"] = round(time.monotonic() - t0, 1)
                print(f"local, after {n} jobs: {s}", flush=True)
            if lsub.failed():
                raise BenchError(f"{lsub.failed()} local jobs failed")
            la = details["local_after_1000"]
            results.append(result(
                "worker_rss_local_engines_after_1000_jobs", la["worker_mb"], "MB",
                f"same worker without engines: {a['worker_mb']} MB after 1,000 jobs; engines "
                f"loaded at start: {details['local_idle']['worker_mb']} MB",
                "reported (no target)", None))
            if "local_after_5000" in details:
                lb = details["local_after_5000"]
                g = round(lb["worker_mb"] / la["worker_mb"] - 1, 4)
                results.append(result("worker_rss_local_growth_1000_to_5000", g, "fraction",
                                      f"{la['worker_mb']} -> {lb['worker_mb']} MB",
                                      f"< {TARGET_GROWTH}", g < TARGET_GROWTH))
            st.stop(lw)
    growths = [r["value"] for r in results if r["name"].endswith("growth_1000_to_5000")]
    return report("memory", results, details, round(1 + max(growths), 4))


if __name__ == "__main__":
    main_guard(main)
