"""Figure 4 - moderation micro-batching (`mmservice/providers/batching.py`).

(a) Upstream requests per job when 200 text moderation jobs are queued: one worker, threads
    pool c = 32 (docker-compose's moderation worker), stub at 50 ms, the shipped batch settings
    (`mmservice.config.DEFAULTS`: size 32, window 50 ms, hold at 4). Baseline: the same with
    batching off (size 1), measured in the same run. Target <= 0.15 requests per job.
(b) Added latency at low load: 40 jobs one at a time (each submitted 100 ms after the previous
    one settled), job `started_at -> finished_at` from the records, batching on vs off.
    Target: p50(on) - p50(off) <= the wait window.

Jobs are created in this process with the API's `submit()`. Last line: requests per job (a).
"""
from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._machine import wait_for_quiet  # noqa: E402
from bench._report import BenchError, main_guard, report, result, summary  # noqa: E402
from bench._submit import Submitter, iso_ms, texts  # noqa: E402
from mmservice.testing.procs import wait_until  # noqa: E402
from mmservice.testing.stack import ScratchStack  # noqa: E402

STUB_MS = 50.0
QUEUED = 200
LOW_LOAD_JOBS = int(os.environ.get("BENCH_BATCH_LOW_JOBS", "40"))
CONCURRENCY = 32
BATCH_SIZE = 32
from mmservice.config import DEFAULTS  # noqa: E402

# exploration knob; default: as shipped
WAIT_MS = float(os.environ.get("BENCH_BATCH_WAIT_MS") or DEFAULTS["MODERATION_BATCH_WAIT_MS"])
TARGET_RPJ = 0.15


def queued(st: ScratchStack, batch_size: int, seed: int) -> dict:
    cfg = st.cfg(MODERATION_BATCH_SIZE=batch_size, MODERATION_BATCH_WAIT_MS=WAIT_MS)
    st.redis_client().flushdb()
    sub = Submitter(cfg)
    ids = [sub.text(t) for t in texts(QUEUED, seed=seed)]  # all queued before the worker
    st.stub.reset()
    t0 = time.monotonic()
    worker = st.worker(cfg, queues="moderation", concurrency=CONCURRENCY, name=f"b{batch_size}")
    try:
        wait_until(lambda: sub.settled() >= QUEUED, 120, what="the queued jobs")
        wall = time.monotonic() - t0
    finally:
        st.stop(worker)
    if sub.failed():
        raise BenchError(f"{sub.failed()} jobs failed (batch size {batch_size})")
    reqs = st.stub.requests("/v1/moderations")
    sizes = [len(r["json"]["input"]) if isinstance(r.get("json", {}).get("input"), list) else 1
             for r in reqs]
    first = min(iso_ms(sub.job(i)["started_at"]) for i in ids)
    last = max(iso_ms(sub.job(i)["finished_at"]) for i in ids)
    return {"batch_size": batch_size, "jobs": QUEUED, "upstream_requests": len(reqs),
            "requests_per_job": round(len(reqs) / QUEUED, 3), "texts_per_request":
            summary([float(x) for x in sizes], 1), "drain_s_first_start_to_last_finish":
            round((last - first) / 1000, 3), "wall_s_incl_worker_start": round(wall, 2)}


def low_load(st: ScratchStack, batch_size: int, seed: int) -> dict:
    cfg = st.cfg(MODERATION_BATCH_SIZE=batch_size, MODERATION_BATCH_WAIT_MS=WAIT_MS)
    st.redis_client().flushdb()
    sub = Submitter(cfg)
    worker = st.worker(cfg, queues="moderation", concurrency=CONCURRENCY, name=f"l{batch_size}")
    try:
        warm = sub.text("warm-up")
        wait_until(lambda: sub.settled() >= 1, 60, what="warm-up")
        before = wait_for_quiet([worker.pid, st.stub.pid, st.redis.proc.pid, os.getpid()],
                                max_wait_s=float(os.environ.get("BENCH_QUIET_WAIT_S", "10")))
        step_ms, total_ms = [], []
        for t in texts(LOW_LOAD_JOBS, seed=seed):
            done = sub.settled()
            job_id = sub.text(t)
            wait_until(lambda done=done: sub.settled() > done, 30, 0.005, "a low-load job")
            job = sub.job(job_id)
            step_ms.append(iso_ms(job["finished_at"]) - iso_ms(job["started_at"]))
            total_ms.append(iso_ms(job["finished_at"]) - iso_ms(job["created_at"]))
            time.sleep(0.1)
    finally:
        st.stop(worker)
    del warm
    return {"batch_size": batch_size, "jobs": LOW_LOAD_JOBS, "step_ms": summary(step_ms),
            "created_to_finished_ms": summary(total_ms), "before": before}


def main() -> int:
    details: dict = {"stub_latency_ms": STUB_MS, "concurrency": CONCURRENCY,
                     "batch_size": BATCH_SIZE, "wait_ms": WAIT_MS}
    with ScratchStack("batching", stub_latency_ms=STUB_MS) as st:
        details["queued_on"] = on = queued(st, BATCH_SIZE, 1)
        print(f"queued, batching on: {on}", flush=True)
        details["queued_off"] = off = queued(st, 1, 2)
        print(f"queued, batching off: {off}", flush=True)
        details["low_load_on"] = lon = low_load(st, BATCH_SIZE, 3)
        print(f"low load, batching on: {lon}", flush=True)
        details["low_load_off"] = loff = low_load(st, 1, 4)
        print(f"low load, batching off: {loff}", flush=True)
    added = round(lon["step_ms"]["p50"] - loff["step_ms"]["p50"], 2)
    added_p90 = round(lon["step_ms"]["p90"] - loff["step_ms"]["p90"], 2)
    details["added_latency_ms_p50"], details["added_latency_ms_p90"] = added, added_p90
    results = [
        result("batching_upstream_requests_per_job", on["requests_per_job"],
               "upstream requests / job", f"{off['requests_per_job']} with batching off "
               f"({QUEUED} queued jobs, c={CONCURRENCY}); "
               f"drain {on['drain_s_first_start_to_last_finish']}"
               f" s vs {off['drain_s_first_start_to_last_finish']} s",
               f"<= {TARGET_RPJ}", on["requests_per_job"] <= TARGET_RPJ),
        result("batching_added_latency_low_load_p50", added, "ms",
               f"step p50 {loff['step_ms']['p50']} ms with batching off (stub {STUB_MS:g} ms)",
               f"<= {WAIT_MS:g} ms (the wait window)", added <= WAIT_MS),
    ]
    return report("batching", results, details, on["requests_per_job"])


if __name__ == "__main__":
    main_guard(main)
