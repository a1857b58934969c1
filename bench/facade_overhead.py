"""What the OpenAI-compatible facade adds to a moderation call (issue 18).

Same stub, same run: `direct` = client -> stub `/v1/moderations`; `facade` = client -> mmservice
`/v1/moderations` (gunicorn, `make run`'s flags, API keys on) -> the same stub. Every measured
request carries a text never sent before (a cache miss) unless it measures the cache.

Figures (targets from the issue):
- added latency on a cache miss, one client, requests interleaved direct/facade so both see the
  same machine: p50 (<= 4 ms) and p99 (<= 15 ms) of facade minus direct;
- throughput with 32 concurrent clients, each on its own keep-alive connection: facade / direct
  (>= 0.75), twice: against the stub answering at once (then "direct" is only the stub's and the
  client's CPU on the same 2 cores, a ceiling no proxy that calls the stub can come near: the
  facade must spend under a third of the stub's own CPU per call for 0.75) and with the stub
  answering after `BENCH_FACADE_UPSTREAM_MS` (default 50), an upstream's latency: the issue's
  own reference figures (LiteLLM at 0.19-0.37x direct while spending 17-23 ms of CPU per
  request) are only possible with a stub of about 50-130 ms; there the figure says whether the
  facade's concurrency and CPU keep up with 32 clients' calls in flight;
- a cache hit (the same text again): p50 latency (<= 2 ms);
- facade CPU per request: the API processes' CPU seconds over the 32-client run / requests
  (<= 3 ms);
- RSS per API process (gunicorn worker) after the runs (<= 150 MiB).

Usage: `python bench/facade_overhead.py` (`N` sequential pairs, default 400; `SECONDS` per
throughput run, default 10). Last line: the throughput ratio.
"""
from __future__ import annotations

import itertools
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import json  # noqa: E402

from bench._http import KeepAlive, in_threads  # noqa: E402
from bench._machine import MachineLoad, cpu_seconds, rss_mb  # noqa: E402
from bench._report import main_guard, pct, report, result, summary  # noqa: E402
from mmservice.testing.stack import (  # noqa: E402
    GUNICORN_THREADS,
    GUNICORN_WORKERS,
    ScratchStack,
    make_key,
)

N = int(os.environ.get("N", "400"))
UPSTREAM_MS = float(os.environ.get("BENCH_FACADE_UPSTREAM_MS", "50"))
SECONDS = float(os.environ.get("SECONDS", "10"))
CLIENTS = 32
_ids = itertools.count()


def body() -> bytes:
    """A text no earlier request carried (the facade's cache misses)."""
    return json.dumps({"model": "omni-moderation-latest",
                       "input": f"bench text {next(_ids)} {time.time_ns()} you idiot"}).encode()


def once(conn: KeepAlive, path: str, headers: dict, data: bytes) -> float:
    t0 = time.perf_counter()
    status, out, _ = conn.request("POST", path, data, headers)
    ms = (time.perf_counter() - t0) * 1000
    if status != 200:
        raise RuntimeError(f"{path} answered {status}: {out[:200]!r}")
    return ms


def throughput(port: int, path: str, headers: dict) -> dict:
    stop_at = time.monotonic() + SECONDS
    counts = [0] * CLIENTS
    lat: list[list[float]] = [[] for _ in range(CLIENTS)]
    errors: list[str] = []

    def run(i: int) -> None:
        c = KeepAlive("127.0.0.1", port, timeout=60)
        try:
            while time.monotonic() < stop_at:
                try:
                    lat[i].append(once(c, path, headers, body()))
                    counts[i] += 1
                except Exception as e:  # noqa: BLE001 - counted, reported
                    errors.append(repr(e)[:200])
                    time.sleep(0.01)
        finally:
            c.close()

    elapsed = in_threads(CLIENTS, run, SECONDS + 60)
    n = sum(counts)
    return {"requests": n, "rps": round(n / elapsed, 1), "errors": len(errors),
            "first_errors": errors[:3],
            "latency_ms": summary([x for per in lat for x in per])}


def main() -> int:
    with ScratchStack("facade") as st:
        assert st.stub is not None
        cfg = st.cfg(AUTH="on", RATE_LIMIT="100000000/minute", MODERATION_BATCH_SIZE=1)
        api = st.gunicorn("app:app", cfg, "api")
        key = make_key(cfg["REDIS_URL"])
        stub_port = int(st.stub.url.rsplit(":", 1)[1])
        direct_h = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench"}
        facade_h = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
        d, f = KeepAlive("127.0.0.1", stub_port), KeepAlive("127.0.0.1", api.port)
        for _ in range(50):  # warm both (connections, the API's first-use imports)
            once(d, "/v1/moderations", direct_h, body())
            once(f, "/v1/moderations", facade_h, body())
        pids = api.pids()
        load = MachineLoad(pids + [st.stub.pid])
        direct, facade, hits = [], [], []
        for _ in range(N):
            direct.append(once(d, "/v1/moderations", direct_h, body()))
            same = body()
            facade.append(once(f, "/v1/moderations", facade_h, same))
            hits.append(once(f, "/v1/moderations", facade_h, same))
        seq_load = load.done()
        load = MachineLoad(pids + [st.stub.pid])
        t_direct = throughput(stub_port, "/v1/moderations", direct_h)
        cpu0 = cpu_seconds(pids)
        t_facade = throughput(api.port, "/v1/moderations", facade_h)
        cpu_ms = (cpu_seconds(pids) - cpu0) * 1000 / max(1, t_facade["requests"])
        tp_load = load.done()
        st.stub.configure(latency_ms=UPSTREAM_MS)
        slow_direct = throughput(stub_port, "/v1/moderations", direct_h)
        cpu0 = cpu_seconds(pids)
        slow_facade = throughput(api.port, "/v1/moderations", facade_h)
        slow_cpu_ms = (cpu_seconds(pids) - cpu0) * 1000 / max(1, slow_facade["requests"])
        slow_ratio = slow_facade["rps"] / slow_direct["rps"] if slow_direct["rps"] else 0.0
        st.stub.configure(latency_ms=0)
        workers = [p for p in pids if p != api.proc.pid]
        rss = {str(p): rss_mb([p]) for p in workers}
        add50 = pct(facade, 50) - pct(direct, 50)
        add99 = pct(facade, 99) - pct(direct, 99)
        ratio = t_facade["rps"] / t_direct["rps"] if t_direct["rps"] else 0.0
        hit50 = pct(hits, 50)
        worst_rss = max(rss.values()) if rss else float("nan")
        results = [
            result("added latency p50 (cache miss)", round(add50, 2), "ms",
                   round(pct(direct, 50), 2), "<= 4", add50 <= 4),
            result("added latency p99 (cache miss)", round(add99, 2), "ms",
                   round(pct(direct, 99), 2), "<= 15", add99 <= 15),
            result("throughput, 32 clients", round(ratio, 3), "x direct", t_direct["rps"],
                   ">= 0.75", ratio >= 0.75),
            result(f"throughput, 32 clients, upstream {UPSTREAM_MS:g} ms", round(slow_ratio, 3),
                   "x direct", slow_direct["rps"], ">= 0.75", slow_ratio >= 0.75),
            result("cache hit p50", round(hit50, 2), "ms", None, "<= 2", hit50 <= 2),
            result("facade CPU per request", round(cpu_ms, 2), "ms", None, "<= 3", cpu_ms <= 3),
            result("RSS per API process", worst_rss, "MiB", None, "<= 150", worst_rss <= 150),
        ]
        details = {"direct_ms": summary(direct), "facade_ms": summary(facade),
                   "hit_ms": summary(hits), "throughput_direct": t_direct,
                   "throughput_facade": t_facade, "upstream_ms": UPSTREAM_MS,
                   "throughput_direct_upstream": slow_direct,
                   "throughput_facade_upstream": slow_facade,
                   "facade_cpu_ms_upstream": round(slow_cpu_ms, 2),
                   "api_threads": GUNICORN_THREADS, "api_workers": GUNICORN_WORKERS,
                   "rss_mb": rss,
                   "machine_load_sequential": seq_load, "machine_load_throughput": tp_load}
        print(json.dumps(details, indent=1), flush=True)
        return report("facade_overhead", results, details, round(ratio, 3))


if __name__ == "__main__":

    main_guard(main)
