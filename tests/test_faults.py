"""Issue 13, "Done when": nothing accepted is lost when the worker, Redis or the upstream fails.

Each scenario runs on a Redis server of its own (never the session's: it gets SIGKILLed and
SIGSTOPped), its own worker and gunicorn API, with the service's DEFAULT reliability settings,
against a devstub subprocess at 300 ms, while 8 clients submit 40 text jobs with a webhook. The
engine is `bench/_faults.py` (shared with `bench/faults.py`, which prints the same figures at 16
clients). Every wait is on job states in Redis, bounded by 2 minutes after the fault ended; the
only sleeps are the fault's own duration (SIGSTOP 10 s, the 10 s upstream storm) and the clients'
pacing.

One of bench/faults.py's four scenarios is asserted here: the upstream storm, which no longer
loses a job. The others are not asserted until they never lose one (issue 13 stays open):
`kill_worker` (a message the killed worker had received but not started waits for the broker's
visibility timeout: 1 of 40 in one run, 0 of 200 in the bench), `redis_restart` (no job lost, but
in one run of three a job that settled while Redis was down got no webhook: its delivery could
not be recorded; the emit now raises so the step's task retries, not yet proven under this test)
and `redis_stop` (a step whose Redis error cannot be retried while Redis is stopped is rejected,
and 2 jobs settled twice). `.venv/bin/python bench/faults.py` runs all four and prints their
figures.
"""
from __future__ import annotations

import pytest

from bench._faults import SCENARIOS, run_scenario
from mmservice.testing.procs import StubProc

JOBS, CLIENTS, LOAD_S, SETTLE_S = 40, 8, 4.0, 120.0


@pytest.fixture(scope="module")
def slow_stub(tmp_path_factory):
    """The upstream at 300 ms (the issue's setting), in its own process, reset per scenario."""
    stub = StubProc(str(tmp_path_factory.mktemp("faults") / "stub.log"), 300.0)
    yield stub
    stub.stop()


FIXED = ("storm",)
assert set(FIXED) <= set(SCENARIOS)


@pytest.mark.parametrize("scenario", FIXED)
def test_no_job_lost_under_fault(scenario, slow_stub, tmp_path):
    f = run_scenario(scenario, slow_stub, str(tmp_path), JOBS, CLIENTS, LOAD_S, SETTLE_S)
    why = f"{scenario}: {f}\nworker logs in {tmp_path}"
    assert f["accepted"] > 0, why
    # every job answered 202 reaches `succeeded` within 2 minutes of the fault ending
    assert f["succeeded"] == f["accepted"], why
    # none settled twice (the jobs_finished hash counts each settle)
    assert f["settled_twice"] == 0, why
    # exactly one terminal webhook (one webhook-id) per job
    assert f["jobs_with_one_terminal_webhook"] == f["accepted"], why
    # the worker still runs (or, after kill_worker, its replacement does)
    assert f["worker_alive"], why
