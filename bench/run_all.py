"""`make bench`: run every benchmark, one subprocess each, and write `bench/results.json`.

results.json is a list of {"name", "value", "unit", "baseline", "target", "met"} (plus a few
extra keys such as "script"), one entry per figure. Per-script details (distributions, CPU per
job, machine load during each phase) go to bench/out/<script>.json and logs to
bench/out/<script>.log. Exit status: 0 when every script ran (targets may still be missed; see
"met"), 1 when a script could not run.

Options (environment): BENCH_ONLY=intake,memory runs a subset; BENCH_PROFILE=1 records py-spy
profiles of the service processes into bench/profiles/ (slower; not for the reported numbers).
"""
from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
OUT = os.path.join(BENCH, "out")

# (script, timeout in seconds). The sum of typical run times is about 8 minutes.
SCRIPTS = [
    ("intake", 150),
    ("auth_bruteforce", 90),
    ("e2e_latency", 200),
    ("concurrency", 180),
    ("batching", 120),
    ("image_prep", 60),
    ("long_audio", 180),
    ("memory", 240),
]
TOTAL_BUDGET_S = 700


def machine() -> dict:
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            mem = f.readline().split(":", 1)[1].strip()
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu_model": cpu, "mem_total": mem,
            "python": platform.python_version(), "platform": platform.platform(),
            "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def main() -> int:
    only = {s for s in os.environ.get("BENCH_ONLY", "").split(",") if s}
    scripts = [(s, t) for s, t in SCRIPTS if not only or s in only]
    os.makedirs(OUT, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("BENCH_QUIET_WAIT_S", "5")
    env["PYTHONUNBUFFERED"] = "1"
    info = machine()
    print(f"machine: {info}", flush=True)
    t_all = time.monotonic()
    results: list[dict] = []
    runs: dict[str, dict] = {}
    failed = False
    for script, timeout in scripts:
        left = TOTAL_BUDGET_S - (time.monotonic() - t_all)
        out_json = os.path.join(OUT, f"{script}.json")
        if os.path.exists(out_json):
            os.remove(out_json)
        print(f"\n=== {script} (timeout {min(timeout, max(30, int(left)))} s)", flush=True)
        t0 = time.monotonic()
        log_path = os.path.join(OUT, f"{script}.log")
        with open(log_path, "w") as log:
            p = subprocess.Popen([sys.executable, os.path.join(BENCH, f"{script}.py")],
                                 cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True, start_new_session=True)
            lines: list[str] = []
            timed_out = threading.Event()

            def kill(proc=p, timed_out=timed_out) -> None:  # the watchdog: TERM, then KILL
                timed_out.set()
                for sig in (signal.SIGTERM, signal.SIGKILL):
                    try:
                        os.killpg(proc.pid, sig)
                    except ProcessLookupError:
                        return
                    try:
                        proc.wait(15)
                        return
                    except subprocess.TimeoutExpired:
                        continue

            watchdog = threading.Timer(min(timeout, max(30, left)), kill)
            watchdog.start()
            try:
                for line in p.stdout:  # ends when the script exits or the watchdog kills it
                    log.write(line)
                    log.flush()
                    lines.append(line.rstrip("\n"))
                p.wait()
            finally:
                watchdog.cancel()
            code = "timeout" if timed_out.is_set() else p.returncode
        elapsed = round(time.monotonic() - t0, 1)
        last = lines[-1] if lines else ""
        runs[script] = {"exit": code, "elapsed_s": elapsed, "last_line": last}
        print(f"--- {script}: exit {code}, {elapsed} s, last line: {last}", flush=True)
        if code == 0 and os.path.exists(out_json):
            with open(out_json) as f:
                for r in json.load(f)["results"]:
                    results.append({**r, "script": script})
        else:
            failed = True
            tail = "\n".join(lines[-15:])
            print(tail, flush=True)
            results.append({"name": script, "value": None, "unit": None, "baseline": None,
                            "target": None, "met": False, "script": script,
                            "error": f"could not run (exit {code}); see bench/out/{script}.log"})
    total = round(time.monotonic() - t_all, 1)
    with open(os.path.join(BENCH, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    with open(os.path.join(OUT, "run_all.json"), "w") as f:
        json.dump({"machine": info, "runs": runs, "total_s": total}, f, indent=2)
    print(f"\n{'figure':45} {'value':>10} {'target':>22}  met", flush=True)
    for r in results:
        met = {True: "yes", False: "NO", None: "-"}[r["met"]]
        print(f"{r['name']:45} {str(r['value']):>10} {str(r['target'])[:22]:>22}  {met}")
    print(f"\ntotal {total} s; wrote bench/results.json", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
