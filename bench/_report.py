"""How a benchmark ends: statistics over its samples, one result dict per figure, details to
`bench/out/<script>.json`, the figures printed for a person and the headline on the last line
(what run_all.py reads); and `main_guard`, which turns "a piece did not start" into exit 2.
"""
from __future__ import annotations

import json
import os
import signal
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from mmservice.testing.procs import ROOT, LaunchError

OUT_DIR = os.environ.get("BENCH_OUT_DIR") or os.path.join(ROOT, "bench", "out")


class BenchError(LaunchError):
    """The benchmark cannot run (a piece did not start, too many errors): exit non-zero."""


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


def main_guard(fn: Callable[[], int]) -> None:
    """Run a benchmark's main; any exception is 'cannot run' (exit 2) with the reason.
    SIGTERM (run_all's watchdog) unwinds normally, so every `ScratchStack` stops what it started."""
    def _term(*_a):
        raise SystemExit(143)

    signal.signal(signal.SIGTERM, _term)
    try:
        code = fn()
    except LaunchError as e:  # BenchError, or a launcher's wait ran out
        print(f"BENCH CANNOT RUN: {e}", file=sys.stderr, flush=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(code or 0)
