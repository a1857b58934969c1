"""Where an intake request's CPU goes, in the API process: the same `POST /v1/jobs` (100 KB
JPEG, keys on, limits counted but never refusing) through an in-process app, with selected
functions wrapped in `time.process_time` counters (outermost call only). Why in-process and
not a profiler: a profiler's per-call cost inflates call-heavy code (marshmallow) several
times; these counters cost a few microseconds per request, so the shares hold.

`.venv/bin/python bench/intake_cpu.py` (about 20 s; `BENCH_INTAKE_CPU_N`, 1,000 requests).
`BENCH_INTAKE_CPU_KIND=hit`: the same for a text job answered from the result cache at intake
(`cache.at_intake`: `200` with the settled job), its entry written before the run.
Not part of `make bench`. Run it in an old worktree and here, alternately, for an A/B.
Last line: API CPU per request inside Flask (ms).
"""
from __future__ import annotations

import collections
import functools
import importlib
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TARGETS = [
    ("mmservice.auth.gate", "Gate", "_check"),
    ("mmservice.api.jobs", None, "_parse_multipart"),
    ("mmservice.jobs.intake", None, "inspect_media"),
    ("mmservice.jobs.intake", None, "_admit"),
    ("mmservice.blobs", "LocalBlobStore", "put"),
    ("mmservice.jobs.store", "JobStore", "create"),
    ("mmservice.jobs.store", "JobStore", "creation"),
    ("werkzeug.formparser", "FormDataParser", "parse"),
    ("mmservice.cache.at_intake", None, "decide"),
    ("mmservice.cache.at_intake", None, "store"),
    ("mmservice.cache.at_intake", None, "after"),
    ("marshmallow.schema", "Schema", "dump"),
    ("flask.app", "Flask", "wsgi_app"),
]
spent: collections.Counter = collections.Counter()
_depth: collections.Counter = collections.Counter()


def _wrap(module: str, cls: str | None, name: str) -> None:
    owner = getattr(importlib.import_module(module), cls) if cls else \
        importlib.import_module(module)
    f = getattr(owner, name, None)
    if f is None:  # older code without it
        return
    label = f"{cls}.{name}" if cls else name

    @functools.wraps(f)
    def counted(*a, **k):
        _depth[label] += 1
        t = time.process_time()
        try:
            return f(*a, **k)
        finally:
            _depth[label] -= 1
            if _depth[label] == 0:
                spent[label] += time.process_time() - t
    setattr(owner, name, counted)


def _cached_text(app) -> bytes:
    """A text job's body whose measurement is in the result cache, as a worker would have left
    it (the provider's identity, the tenant's namespace)."""
    import json
    from dataclasses import asdict

    from mmservice.cache import at_intake
    from mmservice.cache.store import ResultCache
    from mmservice.providers.base import RawModeration

    deps = app.extensions["mms"].deps
    fields = {"text": "you are a lovely person and I like your hat", "tasks": ["moderate"]}
    info = {"kind": "text"}
    p = at_intake.probe(deps, "default", fields, info, ["moderate"])
    assert p is not None, "the cache at intake is off"
    raw = RawModeration(category_scores={"harassment": 0.01, "hate": 0.0},
                        assessed_categories=["harassment", "hate"], model="m", provider="p")
    ResultCache(deps.redis, deps.store.keys, namespace=p.namespace, ttl_s=3600).put_many(
        {name: asdict(raw) for name in p.names})
    return json.dumps(fields).encode()


def main() -> None:
    for target in TARGETS:
        _wrap(*target)
    from bench._http import multipart
    from bench._media import jpeg_of_size
    from mmservice import create_app
    from mmservice.embedded import EmbeddedRedis
    from mmservice.testing.procs import make_key

    d = tempfile.mkdtemp(prefix="mms-bench-intakecpu-")
    r = EmbeddedRedis(d, appendonly=False).start()
    try:
        app = create_app({"REDIS_URL": r.url, "LOG_LEVEL": "ERROR", "BLOB_DIR": d + "/b",
                          "RATE_LIMIT": "100000000/minute", "MAX_OPEN_JOBS": 10 ** 9,
                          "MAX_UPLOAD_BYTES_PER_DAY": 10 ** 15})
        headers = {"Authorization": "Bearer " + make_key(r.url)}
        if os.environ.get("BENCH_INTAKE_CPU_KIND") == "hit":
            body, ctype, status = _cached_text(app), "application/json", 200
        else:
            body, ctype = multipart({}, "file", "photo.jpg", jpeg_of_size(100 * 1024),
                                    "image/jpeg")
            status = 202
        client = app.test_client()

        def run(n: int) -> float:
            t0 = time.process_time()
            for _ in range(n):
                resp = client.post("/v1/jobs", data=body,
                                   headers={"Content-Type": ctype, **headers})
                assert resp.status_code == status, resp.get_data()
            return (time.process_time() - t0) * 1000 / n

        run(50)
        spent.clear()
        n = int(os.environ.get("BENCH_INTAKE_CPU_N", "1000"))
        total = run(n)
        print(f"ms CPU per request, test client included: {total:.3f}")
        for label, s in sorted(spent.items(), key=lambda x: -x[1]):
            print(f"  {label:<28} {s * 1000 / n:.3f} ms")
        print(round(spent["Flask.wsgi_app"] * 1000 / n, 3))
    finally:
        r.stop()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
