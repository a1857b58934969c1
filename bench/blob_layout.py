"""The local blob store's layout (issue 14): CPU per 100 KB put into a shard folder shared by many
jobs (`mmservice/local_blobs.py`, today) against the folder-per-job layout it replaced, on a
filesystem where many folders were just deleted (what the media sweep and job deletions do).

    .venv/bin/python bench/blob_layout.py        # about 30 s; BENCH_BLOB_PUTS (3000)

Steps: make and delete `BENCH_BLOB_JUNK` (20,000) folders holding a 4 KB file each, in the same
filesystem (beside the scratch folder); then alternate the two layouts, two rounds each, each a
run of puts to new job ids. The old layout is reproduced here as it was (`os.makedirs` of the
job's folder, a temporary file in it, a rename), since the store no longer writes it. CPU is the
process's (`time.process_time`: kernel time included, which is where the difference lies).
Not part of `make bench`. Last line: old layout CPU per put / today's.
"""
from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._report import main_guard, report, result  # noqa: E402
from mmservice.local_blobs import LocalBlobStore  # noqa: E402

PUTS = int(os.environ.get("BENCH_BLOB_PUTS", "3000"))
JUNK = int(os.environ.get("BENCH_BLOB_JUNK", "20000"))


def _old_layout_put(root: str, key: str, data: bytes) -> None:
    path = os.path.join(root, *key.split("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _cpu_ms_per_put(put) -> float:
    t = time.process_time()
    for _ in range(PUTS):
        put(f"default/job_{uuid.uuid4().hex}/input")
    return (time.process_time() - t) * 1000 / PUTS


def main() -> int:
    data = os.urandom(100 * 1024)
    base = tempfile.mkdtemp(prefix="mms-bench-blobs-", dir=os.path.abspath("var")
                            if os.path.isdir("var") else None)
    try:
        junk = os.path.join(base, "junk")
        for i in range(JUNK):
            os.makedirs(os.path.join(junk, str(i)))
            with open(os.path.join(junk, str(i), "x"), "wb") as f:
                f.write(data[:4096])
        shutil.rmtree(junk)
        store = LocalBlobStore(os.path.join(base, "today"))
        old_root = os.path.join(base, "old")
        rounds = []
        for _ in range(2):
            today = _cpu_ms_per_put(lambda k: store.put(k, data))
            old = _cpu_ms_per_put(lambda k: _old_layout_put(old_root, k, data))
            rounds.append({"today_ms": round(today, 4), "old_ms": round(old, 4)})
            print(f"round: shard folders {today:.3f} ms CPU/put, folder per job {old:.3f} ms",
                  flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    today = statistics.median(r["today_ms"] for r in rounds)
    old = statistics.median(r["old_ms"] for r in rounds)
    ratio = round(old / today, 2)
    results = [result("blob_put_cpu_ms", round(today, 3), "ms CPU per 100 KB put (shard folders)",
                      f"folder per job {old:.3f} ms ({ratio}x), after deleting {JUNK} folders",
                      "-", None)]
    return report("blob_layout", results, {"rounds": rounds, "puts": PUTS, "junk": JUNK}, ratio)


if __name__ == "__main__":
    main_guard(main)
