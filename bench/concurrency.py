"""Figure 3 - worker concurrency for I/O-bound upstream calls: one worker process, the stub at a
fixed 200 ms, text moderation jobs queued ahead. Throughput against the ideal
concurrency / latency (c = 32: 160 jobs/s). Target: >= 0.8 of ideal up to the CPU limit.

Pool: `threads` (the project's choice; see BENCHMARKS.md). Micro-batching is switched off here
(`MMS_MODERATION_BATCH_SIZE=1`) so every job makes its own 200 ms upstream call: this measures
the pool, not the batcher (figure 4 measures the batcher).

Jobs are created in this process with the API's own `submit()` (faster than the worker drains
them), so no API process competes with the worker. The worker is warmed up first (its first job
builds the openai client, ~1 s). Throughput comes from the job records' `finished_at`, between
the 10th and 90th percentile job (no ramp-up, no tail). Last line: the ratio at c = 32.

Processes (issue 20): each level runs with one worker process and with one per core (what
`make run` starts, `MMS_WORKER_PROCESSES`), the c threads split evenly over them, so the same c
calls are in flight either way. `BENCH_CONCURRENCY_PROCESSES` overrides the counts ("1,2").
Worker CPU per job is set beside the bare openai client's CPU per call from the same run.
"""
from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._http import in_threads  # noqa: E402
from bench._machine import MachineLoad, cpu_seconds, profiled, wait_for_quiet  # noqa: E402
from bench._report import BenchError, main_guard, report, result  # noqa: E402
from bench._submit import Submitter, iso_ms, texts  # noqa: E402
from mmservice.testing.procs import wait_until  # noqa: E402
from mmservice.testing.stack import ScratchStack  # noqa: E402

STUB_MS = 200.0
LEVELS = [int(x) for x in os.environ.get("BENCH_CONCURRENCY_LEVELS", "8,32,64").split(",")]
HEADLINE = 32
CORES = os.cpu_count() or 1
PROCESSES = [int(x) for x in os.environ.get("BENCH_CONCURRENCY_PROCESSES",
                                            f"1,{CORES}" if CORES > 1 else "1").split(",")]
SECONDS_PER_LEVEL = float(os.environ.get("BENCH_CONCURRENCY_SECONDS", "6"))
TARGET = 0.8


def run_level(st: ScratchStack, c: int, procs: int = 1) -> dict:
    # All n jobs are queued ahead (about 2,000 at c = 64): the open-jobs quota must not refuse
    # them (it measures intake, not the worker).
    cfg = st.cfg(MODERATION_BATCH_SIZE=1, MAX_OPEN_JOBS=10 ** 9)
    ideal = c / (STUB_MS / 1000)
    n = int(ideal * SECONDS_PER_LEVEL) + c
    st.redis_client().flushdb()
    sub = Submitter(cfg)
    workers = [st.worker(cfg, queues="moderation", concurrency=c // procs + (i < c % procs),
                         name=f"c{c}p{procs}-{i}") for i in range(procs)]
    worker_pids = [w.pid for w in workers]
    pids = worker_pids + [st.stub.pid, st.redis.proc.pid, os.getpid()]
    try:
        # Warm-up: the first job of a process builds the openai client (~1 s): not measured.
        for t in texts(c, seed=1000 + c):
            sub.text(t)
        wait_until(lambda: sub.settled() >= c, 60, what=f"c={c} warm-up")
        base = sub.settled()
        before = wait_for_quiet(pids, max_wait_s=float(os.environ.get("BENCH_QUIET_WAIT_S",
                                                                         "10")))
        load = MachineLoad(pids)
        lo, hi = base + int(n * 0.1), base + int(n * 0.9)
        cpu_marks: dict[str, tuple[float, int]] = {}
        with profiled(f"concurrency-c{c}-p{procs}", {"worker": workers[0].pid},
                      n / ideal * 0.8):
            ids = [sub.text(t) for t in texts(n, seed=c)]  # faster than the worker drains
            deadline = time.monotonic() + max(60.0, 6 * n / ideal)
            while time.monotonic() < deadline:
                done = sub.settled()
                for key, at in (("lo", lo), ("hi", hi)):
                    if key not in cpu_marks and done >= at:
                        cpu_marks[key] = (cpu_seconds(worker_pids), done)
                if done >= base + n:
                    break
                time.sleep(0.02)
        machine = load.done()
        if sub.settled() < base + n:
            raise BenchError(f"c={c}: only {sub.settled() - base} of {n} jobs settled in time")
        if sub.failed():
            raise BenchError(f"c={c}: {sub.failed()} jobs failed")
    finally:
        for w in workers:
            st.stop(w)
    # Throughput from the job records: finish times of the 10th..90th percentile jobs.
    finished = sorted(iso_ms(sub.job(i)["finished_at"]) for i in ids)
    a, b = int(n * 0.1), int(n * 0.9)
    rate = (b - a) / ((finished[b] - finished[a]) / 1000)
    cpu_ms_per_job = ((cpu_marks["hi"][0] - cpu_marks["lo"][0]) * 1000
                      / max(1, cpu_marks["hi"][1] - cpu_marks["lo"][1]))
    out = {"concurrency": c, "processes": procs, "jobs": n, "ideal_jobs_per_s": round(ideal, 1),
           "jobs_per_s": round(rate, 1), "ratio": round(rate / ideal, 3),
           "worker_cpu_ms_per_job": round(cpu_ms_per_job, 2),
           "worker_cpu_cores": round(cpu_ms_per_job * rate / 1000, 2),
           "machine": machine, "before": before}
    print(f"c={c}: {out}", flush=True)
    return out


def bare_client(st: ScratchStack, c: int, seconds: float = 4.0) -> dict:
    """Baseline 4: the official `openai` client alone against the same stub, from this process.
    Sequential: latency over a raw http.client call (the client's own cost). Then `c` threads
    sharing one client for `seconds`: the most one Python process gets from the bare client."""
    import json

    import openai

    from bench._http import KeepAlive
    from bench._report import summary

    client = openai.OpenAI(base_url=st.stub.base_url, api_key="sk-bench", max_retries=0,
                           timeout=30)
    raw = KeepAlive("127.0.0.1", st.stub.port)
    body = json.dumps({"model": "omni-moderation-latest", "input": ["hello there"]}).encode()
    hdr = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench"}
    for _ in range(3):  # warm-up
        client.moderations.create(model="omni-moderation-latest", input=["hello there"])
        raw.request("POST", "/v1/moderations", body, hdr)
    lat_raw, lat_client = [], []
    for _ in range(10):
        t0 = time.perf_counter()
        raw.request("POST", "/v1/moderations", body, hdr)
        lat_raw.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        client.moderations.create(model="omni-moderation-latest", input=["hello there"])
        lat_client.append((time.perf_counter() - t0) * 1000)
    raw.close()
    stop_at = time.monotonic() + seconds
    counts = [0] * c
    cpu0 = cpu_seconds([os.getpid()])

    def run(i: int) -> None:
        while time.monotonic() < stop_at:
            client.moderations.create(model="omni-moderation-latest", input=[f"text {i}"])
            counts[i] += 1

    wall = in_threads(c, run, seconds + 30)
    rate = sum(counts) / wall
    client.close()
    return {"raw_http_latency_ms": summary(lat_raw), "openai_client_latency_ms":
            summary(lat_client), "client_overhead_ms_p50": round(
                summary(lat_client)["p50"] - summary(lat_raw)["p50"], 2),
            "threads": c, "calls_per_s": round(rate, 1),
            "ratio_of_ideal": round(rate / (c / (STUB_MS / 1000)), 3),
            "cpu_ms_per_call": round((cpu_seconds([os.getpid()]) - cpu0) * 1000
                                     / max(1, sum(counts)), 2)}


def main() -> int:
    details: dict = {"stub_latency_ms": STUB_MS, "pool": "threads", "batching": "off",
                     "levels": []}
    with ScratchStack("concurrency", stub_latency_ms=STUB_MS) as st:
        details["bare_openai_client"] = bare = bare_client(st, HEADLINE)
        print(f"bare openai client: {bare}", flush=True)
        for c in LEVELS:
            for procs in PROCESSES:
                lv = run_level(st, c, procs)
                lv["cpu_per_job_vs_bare_client_call"] = round(
                    lv["worker_cpu_ms_per_job"] / max(1e-9, bare["cpu_ms_per_call"]), 2)
                details["levels"].append(lv)
    # The headline: c = 32 with one process per core (what `make run` starts).
    head = next((lv for lv in details["levels"] if lv["concurrency"] == HEADLINE
                 and lv["processes"] == max(PROCESSES)), details["levels"][0])
    results = [result(f"worker_concurrency_ratio_c{head['concurrency']}_p{head['processes']}",
                      head["ratio"], "x ideal (concurrency / latency)",
                      f"ideal {head['ideal_jobs_per_s']} jobs/s (c={head['concurrency']}, "
                      f"{STUB_MS:g} ms upstream, {head['processes']} processes); got "
                      f"{head['jobs_per_s']} jobs/s; worker CPU/job "
                      f"{head['worker_cpu_ms_per_job']} ms = "
                      f"{head['cpu_per_job_vs_bare_client_call']}x the bare openai client's "
                      f"{bare['cpu_ms_per_call']} ms/call", f">= {TARGET}",
                      head["ratio"] >= TARGET)]
    for lv in details["levels"]:
        if lv is head:
            continue
        results.append(result(f"worker_concurrency_ratio_c{lv['concurrency']}"
                              f"_p{lv['processes']}", lv["ratio"],
                              "x ideal (concurrency / latency)",
                              f"ideal {lv['ideal_jobs_per_s']} jobs/s; got {lv['jobs_per_s']}"
                              f" jobs/s, workers {lv['worker_cpu_cores']} cores, CPU/job "
                              f"{lv['cpu_per_job_vs_bare_client_call']}x the bare client's",
                              f">= {TARGET} (below the CPU limit)", lv["ratio"] >= TARGET))
    return report("concurrency", results, details, head["ratio"])


if __name__ == "__main__":
    main_guard(main)
