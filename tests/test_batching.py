"""Moderation micro-batching against the stub: many queued jobs share array requests; a lone job
is sent at once."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from mmservice.testing.stack import wait_until


def test_many_jobs_share_requests(stack, stub):
    """40 text jobs wait in the broker before a worker starts: a real backlog, so the worker's
    threads gather their texts into shared requests (how many jobs happen to overlap does not
    depend on how fast this machine submits them)."""
    s = stack(workers=0)
    stub.reset()
    stub.configure(latency_ms=150)
    try:
        with ThreadPoolExecutor(16) as pool:
            ids = list(pool.map(
                lambda i: s.client.submit({"text": f"batch item {i}"}).json()["id"], range(40)))
        s.add_worker("batcher")
        jobs = [s.client.poll(i, timeout=60) for i in ids]
    finally:
        stub.configure(latency_ms=0)
    assert all(j["status"] == "succeeded" for j in jobs)
    calls = stub.requests.matching("/moderations")
    sizes = [len(c["json"]["input"]) for c in calls]
    assert sum(sizes) == 40
    assert len(calls) <= 40 * 0.5, f"{len(calls)} requests for 40 jobs: {sizes}"
    # Each job got its own verdict back (not a neighbour's): scores differ by input.
    assert len({j["results"]["moderation"]["category_scores"]["harassment"] for j in jobs}) > 1


def test_lone_job_is_not_delayed(stack, stub):
    """One job, one request. A stack of its own with a generous upstream timeout: on a loaded
    machine the shared stack's 2 s timeout can expire, and its retry would count as a request;
    a text of its own, so no cache entry answers it."""
    s = stack(cfg={"UPSTREAM_TIMEOUT_S": 30.0})
    text = f"alone {time.time_ns()}"
    job = s.client.run({"text": text})
    assert job["status"] == "succeeded"
    sent = [r for r in stub.requests.matching("/moderations")
            if text in ((r.get("json") or {}).get("input") or [])]
    assert len(sent) == 1


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


class _GatedFake:
    """A provider double that records each array request and returns it only when the test
    releases it: the holding policy, not the network or the clock, is under test (the
    stub-backed tests above cover the wire). Every wait below is far shorter than the batcher's
    window, so a text held for the window shows up as a wait that runs out."""
    name, model = "fake", "m"

    def __init__(self):
        self.calls: list[list[str]] = []
        self.gates: list[threading.Event] = []
        self._lock = threading.Lock()

    def moderate_texts(self, texts):
        from mmservice.providers.base import RawModeration

        gate = threading.Event()
        with self._lock:
            self.calls.append(list(texts))
            self.gates.append(gate)
        assert gate.wait(60), "the test never released this request"
        return [RawModeration({"hate": 0.0}, [], "m", "fake") for _ in texts]

    def release(self, i: int | None = None) -> None:
        with self._lock:
            gates = self.gates if i is None else [self.gates[i]]
        for g in gates:
            g.set()


WINDOW_S = 60.0  # the batching window in these tests: no wait below comes near it


def sent(inner: _GatedFake, n: int) -> None:
    """Until `n` requests have gone upstream (well within the window)."""
    wait_until(lambda: len(inner.calls) >= n, 10, what=f"{n} upstream requests")


def held(b, n: int) -> None:
    """Until `n` texts are waiting in the batcher."""
    def count() -> int:
        with b._cond:
            return sum(len(t) for t, _ in b._pending)
    wait_until(lambda: count() == n, 10, what=f"{n} held texts")


@pytest.fixture()
def inner():
    fake = _GatedFake()
    yield fake
    fake.release()  # never leave a batcher thread blocked, pass or fail


def _sent_at_once(b, inner):
    """Two texts with nothing queued in the broker: the second goes while the first is still in
    flight, without waiting for the window."""
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(b.moderate_texts, ["a"])
        sent(inner, 1)
        second = pool.submit(b.moderate_texts, ["b"])
        sent(inner, 2)  # the first is still in the air: "b" was not held for it or the window
        inner.release()
        assert len(first.result(10)) == len(second.result(10)) == 1
    assert inner.calls == [["a"], ["b"]]


def test_no_backlog_means_no_hold(inner):
    """At a steady rate with nothing queued in the broker, a text is sent at once even while
    another batch is in flight: polling latency must not pay the window."""
    from mmservice.providers.batching import BatchingModeration

    b = BatchingModeration(inner, max_batch=32, wait_s=WINDOW_S, hold_at=4, backlog=lambda: 0)
    _sent_at_once(b, inner)


def test_backlog_gathers_every_thread_into_one_request(inner):
    """With jobs waiting in the broker, texts gather until every pool thread is waiting (then
    leave at once, well before the window): one request instead of several partial ones."""
    from mmservice.providers.batching import BatchingModeration

    b = BatchingModeration(inner, max_batch=32, wait_s=WINDOW_S, hold_at=4, backlog=lambda: 50,
                           callers=4)
    with ThreadPoolExecutor(4) as pool:
        futs = []
        for n, t in enumerate("abc", 1):
            futs.append(pool.submit(b.moderate_texts, [t]))
            held(b, n)
        assert inner.calls == []  # three of four threads here: still gathering
        futs.append(pool.submit(b.moderate_texts, ["d"]))
        sent(inner, 1)  # the fourth thread arrived: sent at once, not after the window
        inner.release()
        assert all(len(f.result(10)) == 1 for f in futs)
    assert inner.calls == [["a", "b", "c", "d"]]


def test_a_queue_shorter_than_the_pool_is_not_a_backlog(inner):
    """A few messages in the broker are jobs in transit at a moderate rate (or threads busy on
    other queues): texts are not held for them."""
    from mmservice.providers.batching import BatchingModeration

    b = BatchingModeration(inner, max_batch=32, wait_s=WINDOW_S, hold_at=4, backlog=lambda: 3,
                           callers=8)
    _sent_at_once(b, inner)


def test_backlog_hold_is_bounded_by_the_window(inner):
    from mmservice.providers.batching import BatchingModeration

    b = BatchingModeration(inner, max_batch=32, wait_s=0.2, hold_at=4, backlog=lambda: 50)
    with ThreadPoolExecutor(2) as pool:
        t0 = time.monotonic()
        fut = pool.submit(b.moderate_texts, ["a"])
        sent(inner, 1)  # nobody else came, yet the text left: the window ended the hold
        assert time.monotonic() - t0 >= 0.2  # ... and not before the window
        inner.release()
        assert len(fut.result(10)) == 1
    assert inner.calls == [["a"]]


def test_without_backlog_texts_gather_only_past_hold_at_texts_in_flight(inner):
    """No backlog: texts go at once until `hold_at` texts fly; then they wait for a flight
    to return, unless every thread is already here or in the air."""
    from mmservice.providers.batching import BatchingModeration

    b = BatchingModeration(inner, max_batch=32, wait_s=WINDOW_S, hold_at=2, backlog=lambda: 0,
                           callers=5)
    with ThreadPoolExecutor(5) as pool:
        futs = [pool.submit(b.moderate_texts, ["a"])]
        sent(inner, 1)
        futs.append(pool.submit(b.moderate_texts, ["b"]))
        sent(inner, 2)  # a and b fly at once
        futs.append(pool.submit(b.moderate_texts, ["c"]))
        held(b, 1)
        futs.append(pool.submit(b.moderate_texts, ["d"]))
        held(b, 2)  # c and d wait for a flight to return
        assert len(inner.calls) == 2
        inner.release(0)
        sent(inner, 3)  # a returned: c and d go together
        inner.release()
        assert all(len(f.result(10)) == 1 for f in futs)
    assert inner.calls == [["a"], ["b"], ["c", "d"]]

    inner2 = _GatedFake()
    b2 = BatchingModeration(inner2, max_batch=32, wait_s=WINDOW_S, hold_at=2,
                            backlog=lambda: 0, callers=3)
    try:
        with ThreadPoolExecutor(3) as pool:
            futs = [pool.submit(b2.moderate_texts, ["a"])]
            sent(inner2, 1)
            futs.append(pool.submit(b2.moderate_texts, ["b"]))
            sent(inner2, 2)
            futs.append(pool.submit(b2.moderate_texts, ["c"]))
            # c is the last thread: nobody else can come, so it does not wait for a flight.
            sent(inner2, 3)
            inner2.release()
            assert all(len(f.result(10)) == 1 for f in futs)
    finally:
        inner2.release()
    assert inner2.calls == [["a"], ["b"], ["c"]]


def test_a_failing_backlog_probe_never_holds_or_fails(inner):
    from mmservice.providers.batching import BatchingModeration

    def probe():
        raise ConnectionError("redis down")

    b = BatchingModeration(inner, max_batch=32, wait_s=WINDOW_S, hold_at=4, backlog=probe)
    _sent_at_once(b, inner)
