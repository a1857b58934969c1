"""Moderation micro-batching against the stub: many queued jobs share array requests; a lone job
is sent at once."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest


def test_many_jobs_share_requests(client, stub):
    stub.configure(latency_ms=150)
    try:
        with ThreadPoolExecutor(16) as pool:
            ids = list(pool.map(lambda i: client.submit({"text": f"batch item {i}"}).json()["id"],
                                range(40)))
        jobs = [client.poll(i, timeout=60) for i in ids]
    finally:
        stub.configure(latency_ms=0)
    assert all(j["status"] == "succeeded" for j in jobs)
    calls = stub.requests.matching("/moderations")
    sizes = [len(c["json"]["input"]) for c in calls]
    assert sum(sizes) == 40
    assert len(calls) <= 40 * 0.5, f"{len(calls)} requests for 40 jobs: {sizes}"
    # Each job got its own verdict back (not a neighbour's): scores differ by input.
    assert len({j["results"]["moderation"]["category_scores"]["harassment"] for j in jobs}) > 1


def test_lone_job_is_not_delayed(client, stub):
    job = client.run({"text": "alone"})
    assert job["status"] == "succeeded"
    assert len(stub.requests.matching("/moderations")) == 1


def test_batcher_splits_results_and_errors(base_cfg):
    from mmservice.errors import UpstreamError
    from mmservice.providers.base import RawModeration
    from mmservice.providers.batching import BatchingModeration

    class Fake:
        """A provider double: the batching logic, not the network, is under test here."""
        name, model = "fake", "m"

        def __init__(self):
            self.calls = []

        def moderate_texts(self, texts):
            self.calls.append(list(texts))
            time.sleep(0.05)
            if any("boom" in t for t in texts):
                raise UpstreamError("x", code="upstream_server_error")
            return [RawModeration({"hate": len(t) / 100}, ["hate"], "m", "fake") for t in texts]

    inner = Fake()
    b = BatchingModeration(inner, max_batch=8, wait_s=0.2)
    with ThreadPoolExecutor(12) as pool:
        out = list(pool.map(lambda n: b.moderate_texts(["x" * n, "y" * (n + 1)]), range(12)))
    for n, res in enumerate(out):
        assert [r.category_scores["hate"] for r in res] == [n / 100, (n + 1) / 100]
    assert max(len(c) for c in inner.calls) <= 8 and len(inner.calls) < 12
    with pytest.raises(UpstreamError):
        b.moderate_texts(["boom"])
