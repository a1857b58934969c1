"""Measurements of processes and of the machine: RSS and CPU of a set of pids, how much of the
machine other sessions used during a window (this 2-core machine is shared), a bounded wait for a
quiet window, and optional py-spy profiles of the service processes.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from contextlib import contextmanager

from mmservice.testing.procs import PY, ROOT

PROFILE = os.environ.get("BENCH_PROFILE", "") not in ("", "0")
PROFILE_DIR = os.environ.get("BENCH_PROFILE_DIR") or os.path.join(ROOT, "bench", "profiles")


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
            t = psutil.Process(pid).cpu_times()  # its ended children too (ffmpeg runs)
            total += t.user + t.system + t.children_user + t.children_system
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
        for _label, out, p in running:
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
