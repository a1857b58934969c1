"""Issue 13, "Done when": nothing accepted is lost when the worker, Redis or the upstream fails.

Each scenario runs on a Redis server of its own (never the session's: it gets SIGKILLed and
SIGSTOPped), its own worker and gunicorn API, with the service's DEFAULT reliability settings,
against a devstub subprocess at 300 ms, while 8 clients submit 40 text jobs with a webhook. The
engine is `bench/_faults.py` (shared with `bench/faults.py`, which prints the same figures at 16
clients). Every wait is on job states in Redis, bounded by 2 minutes after the fault ended; the
only sleeps are the fault's own duration (SIGSTOP 10 s, the 10 s upstream storm) and the clients'
pacing.

All four scenarios of bench/faults.py are asserted: `kill_worker` (SIGKILL, a new worker
starts), `redis_restart` (SIGKILL of redis-server, restarted on its port with its AOF),
`redis_stop` (SIGSTOP for 10 s) and `storm` (429 then 500 from the upstream for 10 s).
`.venv/bin/python bench/faults.py` prints the same figures at 16 clients and 200 jobs.
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


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_no_job_lost_under_fault(scenario, slow_stub, tmp_path):
    f = run_scenario(scenario, slow_stub, str(tmp_path), JOBS, CLIENTS, LOAD_S, SETTLE_S)
    why = f"{scenario}: {f}\nworker logs in {tmp_path}"
    assert f["accepted"] > 0, why
    # every job answered 202 reaches `succeeded` within 2 minutes of the fault ending
    assert f["succeeded"] == f["accepted"], why
    # none settled twice (the jobs_finished hash counts each settle)
    assert f["settled_twice"] == 0, why
    # a job created for a POST that answered 503 (Redis ran the write when it resumed) runs too
    assert f["unheard_unfinished"] == 0, why
    # exactly one terminal webhook (one webhook-id) per job
    assert f["jobs_with_one_terminal_webhook"] == f["accepted"], why
    # the worker still runs (or, after kill_worker, its replacement does)
    assert f["worker_alive"], why
