"""What the review queue costs, as ratios to a bare Redis round trip measured in the same run
(the same client, interleaved rounds), on an embedded Redis of its own:

- `hook_allow`: the moderate step's hook (`review.from_verdict`) on an `allow` verdict: what
  every moderation job pays (the verdict's audit entry and one pipelined read);
- `hook_review`: the same hook making a new item (audit entries, the record, its queue place);
- `claim`: leasing the best item (the Lua claim script and the item read) from a queue of
  `DEPTH` items;
- `decide`: a decision with its token (lease check, record, counters, audit, the event);
- `claims_per_s`: 50 threads claiming at once, items handed out per second, against 50 threads
  of bare round trips.

Not part of `make bench`. Prints each figure; the last line is the claim's ratio.
Run: `.venv/bin/python bench/review.py` (BENCH_ROUNDS, default 5; DEPTH, default 2000).
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._machine import MachineLoad  # noqa: E402
from bench._report import write_output  # noqa: E402
from mmservice import config, review  # noqa: E402
from mmservice.embedded import EmbeddedRedis  # noqa: E402
from mmservice.review import actions, decisions  # noqa: E402
from mmservice.review.context import Ctx  # noqa: E402
from mmservice.services import build  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
DEPTH = int(os.environ.get("DEPTH", "2000"))
N = 200  # operations per round


def job(i: int, tenant: str) -> dict:
    return {"id": f"job_bench{i:08d}", "tenant": tenant,
            "input": {"kind": "text", "sha256": f"{i:064x}", "mime": "text/plain"},
            "_text": f"bench text {i}"}


RESULT = {"verdict": "review", "category_scores": {"harassment": 0.6},
          "categories": {"harassment": True}, "policy": {"name": "builtin", "version": 0}}


def per_op_us(fn, n: int) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - t0) / n * 1e6


def one_round(deps, rnd: int, rounds: dict, seq: list, ping) -> None:
    """One round of every single-call figure, on a tenant (and queue) of its own."""
    tenant = f"bench{rnd}"
    ctx = Ctx(deps, tenant)
    for i in range(DEPTH):  # the queue the claims run against
        review.from_verdict(deps, job(1_000_000 + rnd * DEPTH + i, tenant), RESULT)
    rounds["ping"].append(per_op_us(ping, N))

    def allow(i: int) -> None:
        seq[0] += 1
        review.from_verdict(deps, job(5_000_000 + seq[0], tenant),
                            {**RESULT, "verdict": "allow"})
    rounds["hook_allow"].append(per_op_us(allow, N))

    def make(i: int) -> None:
        seq[0] += 1
        review.from_verdict(deps, job(9_000_000 + seq[0], tenant), RESULT)
    rounds["hook_review"].append(per_op_us(make, N))
    leased: list[dict] = []

    def claim(i: int) -> None:
        leased.append(actions.next_item(ctx, "default", f"rev{i % 5}")["item"])
    rounds["claim"].append(per_op_us(claim, N))

    def decide(i: int) -> None:
        it = leased[i]
        decisions.decide(ctx, it["id"], {"decision": "reject",
                                         "lease_token": it["lease_token"]}, "rev")
    rounds["decide"].append(per_op_us(decide, N))
    rounds["ping"].append(per_op_us(ping, N))


def main() -> None:
    d = tempfile.mkdtemp(prefix="mms-bench-review-")
    rds = EmbeddedRedis(d, appendonly=False).start()
    try:
        cfg = config.load({"REDIS_URL": rds.url, "LOG_LEVEL": "ERROR", "BLOB_DIR": d + "/b",
                           "REVIEW_EXPOSURE_HIGH_PER_HOUR": 0})
        deps = build(cfg, role="api").deps
        r = deps.redis
        ping = lambda _i: r.ping()  # noqa: E731
        load = MachineLoad([os.getpid(), rds.proc.pid] if hasattr(rds, "proc") else
                           [os.getpid()])
        rounds: dict[str, list[float]] = {k: [] for k in
                                          ("ping", "hook_allow", "hook_review", "claim",
                                           "decide")}
        seq = [0]
        for rnd in range(ROUNDS):
            one_round(deps, rnd, rounds, seq, ping)

        # 50 concurrent claimers against 50 threads of bare round trips
        def threaded(fn, total: int) -> float:
            per = total // 50
            start = threading.Barrier(50)

            def work(k: int) -> None:
                start.wait()
                for j in range(per):
                    fn(k * per + j)
            ts = [threading.Thread(target=work, args=(k,)) for k in range(50)]
            t0 = time.perf_counter()
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            return per * 50 / (time.perf_counter() - t0)

        ctx = Ctx(deps, "bench-concurrent")
        for i in range(2000):
            review.from_verdict(deps, job(20_000_000 + i, "bench-concurrent"), RESULT)
        got: list[str] = []
        lock = threading.Lock()

        def claim50(i: int) -> None:
            it = actions.next_item(ctx, "default", f"r{i % 50}")["item"]
            with lock:
                got.append(it["id"])
        ping_rate = threaded(ping, 2000)
        claim_rate = threaded(claim50, 2000)
        assert len(got) == len(set(got)) == 2000, "an item was handed out twice"
        machine = load.done()
    finally:
        rds.stop()
        shutil.rmtree(d, ignore_errors=True)

    med = {k: statistics.median(v) for k, v in rounds.items()}
    results = []
    for k in ("hook_allow", "hook_review", "claim", "decide"):
        ratio = round(med[k] / med["ping"], 2)
        results.append({"name": k, "us_p50_of_rounds": round(med[k], 1),
                        "ratio_to_bare_round_trip": ratio})
        print(f"{k}: {med[k]:.0f} us per call, {ratio}x a bare Redis round trip "
              f"({med['ping']:.0f} us)")
    crat = round(claim_rate / ping_rate, 3)
    results.append({"name": "claims_per_s_50_threads", "value": round(claim_rate, 1),
                    "bare_round_trips_per_s": round(ping_rate, 1), "ratio": crat})
    print(f"50 concurrent claimers: {claim_rate:.0f} claims/s, {crat}x of 50 threads' bare "
          f"round trips ({ping_rate:.0f}/s), every item handed out once")
    print(f"machine during the run: {json.dumps(machine)}")
    write_output("review", results, {"rounds": rounds, "depth": DEPTH, "machine": machine})
    print(f"claim ratio to a bare round trip: {round(med['claim'] / med['ping'], 2)}")


if __name__ == "__main__":
    main()
