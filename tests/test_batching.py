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


class _SlowFake:
    """A provider double that records each array request and takes 150 ms: the holding policy,
    not the network, is under test (the stub-backed tests above cover the wire)."""
    name, model = "fake", "m"

    def __init__(self):
        self.calls: list[list[str]] = []

    def moderate_texts(self, texts):
        from mmservice.providers.base import RawModeration

        self.calls.append(list(texts))
        time.sleep(0.15)
        return [RawModeration({"hate": 0.0}, [], "m", "fake") for _ in texts]


def _call_after(b, text: str, delay_s: float, pool: ThreadPoolExecutor):
    def go():
        time.sleep(delay_s)
        t0 = time.monotonic()
        b.moderate_texts([text])
        return time.monotonic() - t0
    return pool.submit(go)


def test_no_backlog_means_no_hold():
    """At a steady rate with nothing queued in the broker, a text is sent at once even while
    another batch is in flight: polling latency must not pay the window."""
    from mmservice.providers.batching import BatchingModeration

    inner = _SlowFake()
    b = BatchingModeration(inner, max_batch=32, wait_s=1.0, hold_at=4, backlog=lambda: 0)
    with ThreadPoolExecutor(4) as pool:
        first = _call_after(b, "a", 0, pool)
        second = _call_after(b, "b", 0.03, pool)
        assert second.result() < 0.15 + 0.1  # not held for the 1 s window
        first.result()
    assert inner.calls == [["a"], ["b"]]


def test_backlog_gathers_every_thread_into_one_request():
    """With jobs waiting in the broker, texts gather until every pool thread is waiting (then
    leave at once, well before the window): one request instead of several partial ones."""
    from mmservice.providers.batching import BatchingModeration

    inner = _SlowFake()
    b = BatchingModeration(inner, max_batch=32, wait_s=1.0, hold_at=4, backlog=lambda: 50,
                           callers=4)
    with ThreadPoolExecutor(4) as pool:
        futs = [_call_after(b, t, i * 0.02, pool) for i, t in enumerate("abcd")]
        waits = [f.result() for f in futs]
    assert inner.calls == [["a", "b", "c", "d"]]
    assert max(waits) < 0.06 + 0.15 + 0.15  # sent when "d" arrived, not after the 1 s window


def test_a_queue_shorter_than_the_pool_is_not_a_backlog():
    """A few messages in the broker are jobs in transit at a moderate rate (or threads busy on
    other queues): texts are not held for them."""
    from mmservice.providers.batching import BatchingModeration

    inner = _SlowFake()
    b = BatchingModeration(inner, max_batch=32, wait_s=1.0, hold_at=4, backlog=lambda: 3,
                           callers=8)
    with ThreadPoolExecutor(4) as pool:
        first = _call_after(b, "a", 0, pool)
        second = _call_after(b, "b", 0.03, pool)
        assert second.result() < 0.15 + 0.1
        first.result()
    assert inner.calls == [["a"], ["b"]]


def test_backlog_hold_is_bounded_by_the_window():
    from mmservice.providers.batching import BatchingModeration

    inner = _SlowFake()
    b = BatchingModeration(inner, max_batch=32, wait_s=0.2, hold_at=4, backlog=lambda: 50)
    with ThreadPoolExecutor(2) as pool:
        took = _call_after(b, "a", 0, pool).result()
    assert inner.calls == [["a"]]
    assert 0.2 + 0.15 - 0.02 < took < 0.2 + 0.15 + 0.2


def test_without_backlog_texts_gather_only_past_hold_at_texts_in_flight():
    """No backlog: texts go at once until `hold_at` texts fly; then they wait for a flight
    to return, unless every thread is already here or in the air."""
    from mmservice.providers.batching import BatchingModeration

    inner = _SlowFake()
    b = BatchingModeration(inner, max_batch=32, wait_s=1.0, hold_at=2, backlog=lambda: 0,
                           callers=5)
    with ThreadPoolExecutor(5) as pool:
        futs = [_call_after(b, t, i * 0.02, pool) for i, t in enumerate("abcd")]
        [f.result() for f in futs]
    # a and b fly at once; c and d wait for a flight to return (at ~0.15 s), then go together.
    assert inner.calls == [["a"], ["b"], ["c", "d"]]

    inner2 = _SlowFake()
    b2 = BatchingModeration(inner2, max_batch=32, wait_s=1.0, hold_at=2, backlog=lambda: 0,
                            callers=3)
    with ThreadPoolExecutor(3) as pool:
        futs = [_call_after(b2, t, i * 0.02, pool) for i, t in enumerate("abc")]
        waits = [f.result() for f in futs]
    # c is the last thread: nobody else can come, so it does not wait for a flight.
    assert inner2.calls == [["a"], ["b"], ["c"]] and waits[2] < 0.15 + 0.1


def test_a_failing_backlog_probe_never_holds_or_fails():
    from mmservice.providers.batching import BatchingModeration

    def probe():
        raise ConnectionError("redis down")

    inner = _SlowFake()
    b = BatchingModeration(inner, max_batch=32, wait_s=1.0, hold_at=4, backlog=probe)
    with ThreadPoolExecutor(2) as pool:
        first = _call_after(b, "a", 0, pool)
        second = _call_after(b, "b", 0.03, pool)
        assert second.result() < 0.15 + 0.1
        first.result()
    assert inner.calls == [["a"], ["b"]]
