"""What API keys, the rate limit and the quotas cost an intake request, in the API process:
the same `POST /v1/jobs` (100 KB JPEG) through two in-process apps, one with keys (the default)
and one with `MMS_AUTH=disabled`, in alternating rounds, CPU time (`time.process_time`) per
request. Why in-process: on a shared 2-core machine the throughput ratios of `intake.py` swing
with other load; one process's CPU time per request is steadier, and the difference is what
auth adds. Not part of `make bench`; `ROUNDS` (6) rounds of 150 requests each.

Last line: the milliseconds of CPU auth adds per intake request (median over rounds).
"""
from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import redis as R  # noqa: E402

from bench._http import multipart  # noqa: E402
from bench._media import jpeg_of_size  # noqa: E402
from mmservice import create_app  # noqa: E402
from mmservice.embedded import EmbeddedRedis  # noqa: E402
from mmservice.testing.procs import make_key  # noqa: E402

d = tempfile.mkdtemp(prefix="mms-bench-authcost-")
r = EmbeddedRedis(d, appendonly=False).start()
on = create_app({"REDIS_URL": r.url, "LOG_LEVEL": "ERROR", "BLOB_DIR": d + "/b",
                 "RATE_LIMIT": "100000000/minute"})  # counted, never refusing
off_url = r.url.rsplit("/", 1)[0] + "/1"
off = create_app({"REDIS_URL": off_url, "LOG_LEVEL": "ERROR", "BLOB_DIR": d + "/b2",
                  "AUTH": "disabled"})
key = make_key(r.url)
body, ctype = multipart({}, "file", "photo.jpg", jpeg_of_size(100 * 1024), "image/jpeg")


def run(app, hdrs, n=150):
    c = app.test_client()
    t0 = time.process_time()
    for _ in range(n):
        resp = c.post("/v1/jobs", data=body, headers={"Content-Type": ctype, **hdrs})
        assert resp.status_code == 202, resp.get_data()
    return (time.process_time() - t0) * 1000 / n


res: dict[str, list[float]] = {"on": [], "off": []}
run(on, {"Authorization": "Bearer " + key}, 20)  # warm both
run(off, {}, 20)
for _round in range(int(os.environ.get("ROUNDS", "6"))):
    R.Redis.from_url(r.url).flushdb()
    key = make_key(r.url)
    res["on"].append(run(on, {"Authorization": "Bearer " + key}))
    R.Redis.from_url(off_url).flushdb()
    res["off"].append(run(off, {}))
print({k: [round(x, 3) for x in v] for k, v in res.items()})
on_m, off_m = statistics.median(res["on"]), statistics.median(res["off"])
print(f"median ms CPU/request in the API process: with keys {on_m:.3f}, without {off_m:.3f}, "
      f"auth adds {on_m - off_m:.3f} ({(on_m / off_m - 1) * 100:.1f} %)")
r.stop()
shutil.rmtree(d, ignore_errors=True)
print(round(on_m - off_m, 3))
