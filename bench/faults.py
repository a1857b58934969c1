"""Issue 13's measurement: is accepted work lost when the worker, Redis or the upstream fails?

With the service's DEFAULT reliability settings (one worker, concurrency 8), 16 clients submit
text jobs with a webhook to a local receiver, against the devstub at 300 ms latency, while one
fault is injected (each scenario on a fresh Redis, run one after another):

  kill_worker    SIGKILL the worker mid-load, start a new one
  redis_restart  SIGKILL redis-server, restart it on the same port (AOF on, as `make run`)
  redis_stop     SIGSTOP redis-server for 10 s, then SIGCONT
  storm          the upstream answers 429 (Retry-After: 1) for 5 s, then 500 for 5 s

Per scenario: jobs accepted (202), succeeded / failed / unfinished 2 min after the fault ended,
jobs settled twice (`jobs_finished` hash vs distinct settled jobs), upstream calls per job (stub
request count; micro-batching puts several jobs in one call), inputs sent upstream more than
once, terminal webhooks per job, time to recover (fault end -> last job settled), and whether the
worker is still alive. The last line is the number of lost jobs (accepted, not succeeded) over
all scenarios: 0 is the goal. The engine is `bench/_faults.py`, shared with tests/test_faults.py.

Options: BENCH_FAULTS=kill_worker,storm picks scenarios; BENCH_FAULTS_JOBS (200),
BENCH_FAULTS_CLIENTS (16), BENCH_FAULTS_LOAD_S (8: how long the submissions are spread over),
BENCH_FAULTS_SETTLE_S (120). Not in `make test` nor in run_all.py: on code that loses jobs each
failing scenario waits its full 2 minutes.
"""
from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._faults import SCENARIOS, run_scenario  # noqa: E402
from bench._report import OUT_DIR, main_guard, report, result  # noqa: E402
from mmservice.testing.procs import StubProc  # noqa: E402

STUB_MS = 300.0


def main() -> int:
    picked = [s for s in os.environ.get("BENCH_FAULTS", ",".join(SCENARIOS)).split(",") if s]
    unknown = set(picked) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenarios {sorted(unknown)}; known: {', '.join(SCENARIOS)}")
    jobs = int(os.environ.get("BENCH_FAULTS_JOBS", "200"))
    clients = int(os.environ.get("BENCH_FAULTS_CLIENTS", "16"))
    load_s = float(os.environ.get("BENCH_FAULTS_LOAD_S", "8"))
    settle_s = float(os.environ.get("BENCH_FAULTS_SETTLE_S", "120"))
    log_dir = os.path.join(OUT_DIR, "faults-logs")
    os.makedirs(log_dir, exist_ok=True)
    for name in os.listdir(log_dir):  # logs of this run only
        os.remove(os.path.join(log_dir, name))
    stub = StubProc(os.path.join(log_dir, "stub.log"), STUB_MS)
    details: dict = {"jobs": jobs, "clients": clients, "load_s": load_s, "settle_s": settle_s,
                     "stub_latency_ms": STUB_MS, "scenarios": {}}
    results, lost = [], 0
    t_all = time.monotonic()
    try:
        for name in picked:
            t0 = time.monotonic()
            f = run_scenario(name, stub, log_dir, jobs, clients, load_s, settle_s)
            f["elapsed_s"] = round(time.monotonic() - t0, 1)
            details["scenarios"][name] = f
            lost += f["lost"]
            print(f"{name}: accepted {f['accepted']}/{f['submitted']} {f['answers']}; "
                  f"succeeded {f['succeeded']}, failed {f['failed']} {f['failed_codes']}, "
                  f"unfinished {f['unfinished']}; settled twice {f['settled_twice']}; "
                  f"upstream calls/job {f['upstream_calls_per_job']} (inputs re-sent "
                  f"{f['inputs_sent_more_than_once']}); terminal webhooks/job "
                  f"{f['terminal_webhooks_per_job']}; recovered "
                  + (f"{f['recover_s']} s" if f["recover_s"] is not None
                     else f"never (within {settle_s:g} s)")
                  + f" after a {f['fault_s']} s fault; worker alive {f['worker_alive']}; "
                  f"{f['elapsed_s']} s", flush=True)
            for line in f["worker_log_problems"]:
                print(f"    worker log: {line}", flush=True)
            results.append(result(f"faults_{name}_lost", f["lost"], "jobs",
                                  f"{f['accepted']} accepted", "0", f["lost"] == 0,
                                  settled_twice=f["settled_twice"],
                                  recover_s=f["recover_s"], worker_alive=f["worker_alive"]))
    finally:
        stub.stop()
    details["total_s"] = round(time.monotonic() - t_all, 1)
    print(f"total {details['total_s']} s; logs in {log_dir}", flush=True)
    return report("faults", results, details, lost)


if __name__ == "__main__":
    main_guard(main)
