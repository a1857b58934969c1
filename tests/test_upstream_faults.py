"""Upstream failures through the real worker and the official client against the stub over HTTP.

One layer retries (ours, tenacity; the client has max_retries=0): 429 honours Retry-After, 5xx,
timeouts, resets and malformed bodies are retried with capped backoff; 400/401/403 fail at once.
"""
from __future__ import annotations

import time

import pytest

from mmservice.testing.stack import broker_idle, wait_until


def calls(stub, suffix="/moderations"):
    return stub.requests.matching(suffix)


def inputs(seen: list[dict]) -> list:
    """What each recorded call sent (a stray call from another test shows here)."""
    return [(round(r["timestamp"], 3), (r.get("json") or {}).get("input")) for r in seen]


def test_429_honours_retry_after(client, stub):
    stub.script("/moderations", [{"status": 429, "retry_after": 1}])
    job = client.run({"text": "rate limited once"})
    assert job["status"] == "succeeded", job
    seen = calls(stub)
    assert len(seen) == 2, inputs(seen)
    gap = seen[1]["timestamp"] - seen[0]["timestamp"]
    assert 0.95 <= gap < 10, inputs(seen)  # waited as told, not for some much longer delay


@pytest.mark.parametrize("fault", [{"status": 500}, {"status": 503}, {"malformed": True},
                                   {"reset": True}])
def test_transient_faults_are_retried(client, stub, fault):
    stub.script("/moderations", [fault, fault])
    job = client.run({"text": f"flaky upstream: {fault}"})  # a new text: not a cache hit
    assert job["status"] == "succeeded", job
    assert len(calls(stub)) == 3


def test_timeout_is_retried(client, stub):
    stub.script("/moderations", [{"hang": True}])
    job = client.run({"text": "slow upstream"}, timeout=30)
    assert job["status"] == "succeeded", job
    assert len(calls(stub)) == 2, inputs(calls(stub))


def test_persistent_500_fails_with_code_after_capped_attempts(client, stub):
    stub.script("/moderations", [{"status": 500}] * 10)
    job = client.run({"text": "always broken"}, timeout=30)
    assert job["status"] == "failed"
    assert job["error"]["code"] == "upstream_server_error"
    assert job["error"]["failed_tasks"] == ["moderate"]
    assert job["task_status"]["moderate"] == "failed"
    assert len(calls(stub)) == 4  # UPSTREAM_MAX_ATTEMPTS in the test config


@pytest.mark.parametrize("status,code", [(400, "upstream_rejected_input"),
                                         (401, "upstream_auth_failed"),
                                         (403, "upstream_forbidden")])
def test_client_errors_fail_at_once(client, stub, status, code):
    stub.script("/moderations", [{"status": status}])
    job = client.run({"text": "no retry for this"})
    assert job["status"] == "failed"
    assert job["error"]["code"] == code
    assert len(calls(stub)) == 1


def test_unreachable_upstream_is_classified(base_cfg):
    """Connection refused, through the official client, maps to upstream_unreachable."""
    from mmservice.embedded import free_port
    from mmservice.errors import UpstreamError
    from mmservice.providers.openai_provider import OpenAIModeration

    cfg = {**base_cfg, "MODERATION_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",
           "UPSTREAM_MAX_ATTEMPTS": 2}
    from mmservice import config
    prov = OpenAIModeration(config.load(cfg, environ={}))
    with pytest.raises(UpstreamError) as e:
        prov.moderate_texts(["hello"])
    assert e.value.code == "upstream_unreachable"


def test_per_capability_settings_override_global(base_cfg, stub):
    from mmservice import config
    from mmservice.providers.openai_provider import upstream_settings

    cfg = config.load({**base_cfg, "MODERATION_MODEL": "text-moderation-stable",
                       "MODERATION_API_KEY": "sk-mod"}, environ={})
    s = upstream_settings(cfg, "moderation")
    assert s == {"base_url": stub.base_url, "api_key": "sk-mod",
                 "model": "text-moderation-stable"}
    assert upstream_settings(cfg, "vision")["api_key"] == base_cfg["OPENAI_API_KEY"]
    env = {"MMS_MODERATION_BASE_URL": "http://x/v1", "OPENAI_API_KEY": "k"}
    cfg = config.load(environ=env)
    assert upstream_settings(cfg, "moderation")["base_url"] == "http://x/v1"
    assert upstream_settings(cfg, "moderation")["api_key"] == "k"
    assert upstream_settings(cfg, "moderation")["model"] == "omni-moderation-latest"


def test_job_deadline_marks_stuck_job_failed(client, api, stub):
    """A job past its deadline is failed on read even while a worker is still stuck on it, and
    the worker, once unstuck, does not bring it back."""
    svc = api.app.extensions["mms"]
    stub.script("/moderations", [{"hang": True}] * 3)
    jid = client.submit({"text": "stuck"}).json()["id"]
    wait_until(lambda: bool(calls(stub)), 20, what="the worker's (hanging) upstream call")
    assert client.get(f"/v1/jobs/{jid}").json()["status"] == "running"
    # The deadline passes: set it in the past rather than waiting for it.
    svc.store.update("default", jid, lambda j: j.update(_deadline_ts=time.time() - 1))
    job = client.get(f"/v1/jobs/{jid}").json()
    assert job["status"] == "failed" and job["error"]["code"] == "job_timeout"
    wait_until(lambda: broker_idle(svc.redis, "moderation"), 60,
               what="the worker to let go of the stuck job")
    assert client.get(f"/v1/jobs/{jid}").json()["status"] == "failed"
