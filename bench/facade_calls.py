"""What one facade moderation costs in its own process: Redis round trips and CPU (issue 18).

In-process (Flask's test client, the app with API keys on and `MODERATION_BATCH_SIZE=1`, as
`bench/facade_overhead.py` runs it under gunicorn), against the stub as a subprocess, so the
figures are the facade's own and not a server's or the network's:
- the round trips the request thread makes on a cache miss and on a hit
  (`mmservice.testing.roundtrips`: one per socket write of a command or pipeline), with what
  each carried;
- the CPU per cache hit: this process's CPU time (the background audit writer included, which
  is drained before the clock stops) over `N` hits of the same text, after a warm-up, the app
  called as a WSGI server calls it (an environ built once, not the test client's per call);
- with `PROFILE=1`, a cProfile of those hits on this thread's CPU clock (the top functions by
  `PROFILE_SORT`, default cumulative; `PROFILE_OUT=file` keeps the stats for pstats).

Usage: `python bench/facade_calls.py` (`N` hits, default 300). A quick, low-noise figure to
compare two commits on one machine; the served latency and throughput are facade_overhead.py's.
"""
from __future__ import annotations

import io
import itertools
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._report import main_guard, report, result  # noqa: E402
from mmservice.testing.roundtrips import counting  # noqa: E402
from mmservice.testing.stack import ScratchStack, make_key  # noqa: E402

N = int(os.environ.get("N", "300"))
_ids = itertools.count()


def text() -> str:
    return f"bench text {next(_ids)} {time.time_ns()} you idiot"


def main() -> int:
    from mmservice import create_app
    from mmservice.facade.audit_writer import writer_for

    with ScratchStack("facade-calls") as st:
        cfg = st.cfg(AUTH="on", RATE_LIMIT="100000000/minute", MODERATION_BATCH_SIZE=1)
        app = create_app(cfg)
        svc = app.extensions["mms"]
        key = make_key(cfg["REDIS_URL"])
        c = app.test_client()
        h = {"Authorization": f"Bearer {key}"}

        def call(t: str) -> dict:
            r = c.post("/v1/moderations", json={"model": "omni-moderation-latest", "input": t},
                       headers=h)
            if r.status_code != 200:
                raise RuntimeError(f"answered {r.status_code}: {r.data[:200]!r}")
            return r.get_json()

        for _ in range(30):  # warm: imports, connections, the list matcher
            t = text()
            call(t)
            call(t)
        writer_for(svc).drain()
        t = text()
        with counting() as miss:
            cached = call(t)["results"][0]["mmservice"]["cached"]
        assert not cached, "the miss was answered from the cache"
        with counting() as hit:
            cached = call(t)["results"][0]["mmservice"]["cached"]
        assert cached, "the repeat was not a hit"
        writer_for(svc).drain()

        same = text()
        call(same)
        writer_for(svc).drain()
        # The measured hits call the app as a WSGI server would, on an environ built once:
        # the test client's request building (werkzeug's EnvironBuilder) is not the app's CPU.
        from werkzeug.test import EnvironBuilder

        raw = json.dumps({"model": "omni-moderation-latest", "input": same}).encode()
        base = EnvironBuilder(path="/v1/moderations", method="POST", data=raw, headers=h,
                              content_type="application/json").get_environ()

        def hit_wsgi() -> None:
            env = dict(base, **{"wsgi.input": io.BytesIO(raw)})
            status: list[str] = []
            out = app(env, lambda st, hdrs, exc=None: status.append(st))
            try:
                body = b"".join(out)
            finally:
                getattr(out, "close", lambda: None)()
            if not status[0].startswith("200") or b'"cached": true' not in body:
                raise RuntimeError(f"not a hit: {status[0]} {body[:200]!r}")
        prof = None
        if os.environ.get("PROFILE"):
            import cProfile

            prof = cProfile.Profile(time.thread_time)  # this thread's CPU, not waits
            prof.enable()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for _ in range(N):
            hit_wsgi()
        writer_for(svc).drain()
        cpu_ms = (time.process_time() - cpu0) * 1000 / N
        wall_ms = (time.perf_counter() - wall0) * 1000 / N
        if prof is not None:
            import pstats

            prof.disable()
            if os.environ.get("PROFILE_OUT"):
                prof.dump_stats(os.environ["PROFILE_OUT"])
            order = os.environ.get("PROFILE_SORT", "cumulative")
            pstats.Stats(prof).sort_stats(order).print_stats(45)
        details = {"miss_round_trips": miss.names(), "hit_round_trips": hit.names(),
                   "hit_cpu_ms": round(cpu_ms, 3), "hit_wall_ms": round(wall_ms, 3), "n": N}
        print(json.dumps(details, indent=1), flush=True)
        results = [
            result("round trips, cache miss (request thread)", len(miss), "", None, "n/a", None),
            result("round trips, cache hit (request thread)", len(hit), "", None, "n/a", None),
            result("CPU per cache hit, in process", round(cpu_ms, 3), "ms", None, "n/a", None),
        ]
        return report("facade_calls", results, details, round(cpu_ms, 3))


if __name__ == "__main__":
    main_guard(main)
