"""Shared by every API process: a revocation, the request-rate counter; and quotas that refuse a
job before anything of it is stored.

The two API processes are real gunicorn processes on one Redis database, as in production.
"""
from __future__ import annotations

import os

import pytest
import requests

import mediagen
from mmservice.embedded import free_port
from mmservice.testing.procs import PY, GunicornApp, Proc, make_key, service_env, wait_until


@pytest.fixture()
def two_apis(stack, tmp_path):
    """A stack (worker + in-process API) and two gunicorn API processes on its database."""
    def make(cfg: dict, workers: int = 1):
        s = stack(cfg=cfg, workers=workers)
        apps = []
        for i in (1, 2):
            port = free_port()
            p = Proc(f"api{i}", [PY, "-m", "gunicorn", "app:app", "-b", f"127.0.0.1:{port}",
                                 "-w", "1", "--threads", "4"], service_env(s.cfg),
                     str(tmp_path / f"api{i}.log"))
            procs.append(p)
            app = GunicornApp(p, port)
            wait_until(lambda app=app: app.ready("/healthz"), 60, 0.1, f"api{i}")
            apps.append(app)
        return s, apps
    procs: list[Proc] = []
    yield make
    for p in procs:
        p.stop()


def test_a_revoked_key_is_refused_at_once_by_both_api_processes(two_apis):
    s, (a, b) = two_apis({})
    plain, key = s.services.auth.keys.create("rev", ["read"])
    hdr = {"Authorization": f"Bearer {plain}"}
    for app in (a, b):
        assert requests.get(app.base + "/v1/jobs", headers=hdr, timeout=10).status_code == 200
    s.services.auth.keys.revoke(key.id)
    for app in (a, b):  # the very next request, on each process
        r = requests.get(app.base + "/v1/jobs", headers=hdr, timeout=10)
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"


def test_the_request_rate_is_one_counter_across_api_processes(two_apis):
    s, (a, b) = two_apis({"RATE_LIMIT": "10/minute"}, workers=0)
    key = make_key(s.cfg["REDIS_URL"], tenant="rl", scopes=["read"])
    hdr = {"Authorization": f"Bearer {key}"}
    codes, last = [], None
    for i in range(16):
        last = requests.get((a if i % 2 else b).base + "/v1/jobs", headers=hdr, timeout=10)
        codes.append(last.status_code)
        if last.status_code == 200:
            assert int(last.headers["RateLimit-Limit"]) == 10
            assert 0 <= int(last.headers["RateLimit-Remaining"]) < 10
    # A window may roll over during the loop (a fixed minute): then the count starts again.
    assert codes[:10] == [200] * 10 or codes.count(200) > 10, codes
    assert 429 in codes, codes
    assert last is not None and last.status_code == 429
    assert last.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(last.headers["Retry-After"]) <= 60
    assert last.headers["RateLimit-Limit"] == "10" and last.headers["RateLimit-Remaining"] == "0"
    assert 1 <= int(last.headers["RateLimit-Reset"]) <= 60
    # Another key has its own count.
    other = make_key(s.cfg["REDIS_URL"], tenant="rl", scopes=["read"])
    assert requests.get(a.base + "/v1/jobs", headers={"api-key": other},
                        timeout=10).status_code == 200


def _tenant_footprint(s, tenant: str) -> tuple[list, list]:
    keys = sorted(k.decode() for k in s.redis.keys(f"mms:t:{tenant}:*")
                  if b":quota:" not in k and not k.endswith(b":apikeys")
                  and not k.endswith(b":settings"))
    # the tenant's files (its shard folders are shared by all its jobs: an empty one is no
    # footprint of a job)
    blob_dir = os.path.join(s.cfg["BLOB_DIR"], tenant)
    blobs = sorted(os.path.relpath(os.path.join(d, f), blob_dir)
                   for d, _sub, files in os.walk(blob_dir) for f in files)
    return keys, blobs


def test_a_job_refused_by_the_open_jobs_quota_stores_nothing(stack):
    s = stack(cfg={"MAX_OPEN_JOBS": 2}, workers=0)  # no worker: jobs stay queued (open)
    key = make_key(s.cfg["REDIS_URL"], tenant="q", scopes=["submit", "read"])
    c = requests.Session()
    c.headers["Authorization"] = f"Bearer {key}"
    png = mediagen.image()
    first = [c.post(s.api_url + "/v1/jobs", files={"file": ("a.png", png, "image/png")},
                    timeout=30) for _ in range(2)]
    assert [r.status_code for r in first] == [202, 202]
    before = _tenant_footprint(s, "q")
    refused = c.post(s.api_url + "/v1/jobs", files={"file": ("b.png", png, "image/png")},
                     headers={"Idempotency-Key": "q-3"}, timeout=30)
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "quota_exceeded"
    assert refused.headers["Retry-After"] and refused.headers["RateLimit-Remaining"] == "0"
    assert _tenant_footprint(s, "q") == before  # no record, index entry, marker, claim or blob
    assert s.redis.llen("moderation") == 2  # and no task message
    # Without an Idempotency-Key the upload is stored first and admitted with its record in
    # one script (`jobs.admission`): refused, its blob is deleted again.
    plain = c.post(s.api_url + "/v1/jobs", files={"file": ("c.png", png, "image/png")},
                   timeout=30)
    assert plain.status_code == 429 and plain.json()["error"]["code"] == "quota_exceeded"
    assert _tenant_footprint(s, "q") == before and s.redis.llen("moderation") == 2
    first_again = c.post(s.api_url + "/v1/jobs", json={"text": "x"}, timeout=30,
                         headers={"Idempotency-Key": "q-3"})
    assert first_again.status_code == 429  # q-3 was refused above: no claim was stored
    # A settled job frees its place (canceled here), and the same request is then accepted.
    c.delete(s.api_url + f"/v1/jobs/{first[0].json()['id']}", timeout=10)
    again = c.post(s.api_url + "/v1/jobs", files={"file": ("b.png", png, "image/png")},
                   headers={"Idempotency-Key": "q-3"}, timeout=30)
    assert again.status_code == 202, again.text
    assert s.services.auth.limits.open_count("q") == 2  # at the limit again
    # A retry of an accepted job is answered with its job, even at the limit.
    replay = c.post(s.api_url + "/v1/jobs", files={"file": ("b.png", png, "image/png")},
                    headers={"Idempotency-Key": "q-3"}, timeout=30)
    assert replay.status_code == 200 and replay.json()["id"] == again.json()["id"]


def test_a_stale_open_job_id_does_not_hold_a_place(stack):
    """An id whose job is gone (a process died between reserving and writing) is dropped when
    the quota would refuse, so the quota cannot leak shut."""
    s = stack(cfg={"MAX_OPEN_JOBS": 1}, workers=0)
    key = make_key(s.cfg["REDIS_URL"], tenant="st", scopes=["submit"])
    s.redis.sadd(s.services.store.keys.open_jobs("st"), "job_000000000001" + "0" * 20)
    r = requests.post(s.api_url + "/v1/jobs", json={"text": "hi"}, timeout=10,
                      headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 202, r.text
    assert s.services.auth.limits.open_count("st") == 1


def test_the_daily_upload_quota_refuses_before_storing(stack):
    s = stack(cfg={"MAX_UPLOAD_BYTES_PER_DAY": 3000}, workers=0)
    key = make_key(s.cfg["REDIS_URL"], tenant="up", scopes=["submit"])
    hdr = {"Authorization": f"Bearer {key}"}
    ok = requests.post(s.api_url + "/v1/jobs", json={"text": "x" * 1000}, headers=hdr,
                       timeout=10)
    assert ok.status_code == 202
    before = _tenant_footprint(s, "up")
    big = requests.post(s.api_url + "/v1/jobs", json={"text": "y" * 2500}, headers=hdr,
                        timeout=10)
    assert big.status_code == 429 and big.json()["error"]["code"] == "quota_exceeded"
    assert 1 <= int(big.headers["Retry-After"]) <= 86400
    assert int(big.headers["RateLimit-Remaining"]) < 2000
    assert _tenant_footprint(s, "up") == before
    small = requests.post(s.api_url + "/v1/jobs", json={"text": "z" * 100}, headers=hdr,
                          timeout=10)
    assert small.status_code == 202  # the refused request was not counted


def _bytes_today(s, tenant: str) -> int:
    keys = s.redis.keys(f"mms:t:{tenant}:quota:bytes:*")
    return sum(int(s.redis.get(k) or 0) for k in keys)


def test_admission_refusals_charge_and_reserve_nothing(stack):
    """Policy, upload bytes and the open-jobs place are admitted in one step
    (`mmservice.jobs.admission`): whatever refuses a job leaves every counter as it was."""
    s = stack(cfg={"MAX_UPLOAD_BYTES_PER_DAY": 10_000, "MAX_OPEN_JOBS": 1}, workers=0)
    key = make_key(s.cfg["REDIS_URL"], tenant="adm", scopes=["submit", "read"])
    hdr = {"Authorization": f"Bearer {key}"}
    url = s.api_url + "/v1/jobs"
    # An unknown policy: 422, nothing charged, no place taken.
    bad = requests.post(url, json={"text": "a" * 500, "options": {"policy": "nope"}},
                        headers=hdr, timeout=10)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "policy_not_found"
    assert _bytes_today(s, "adm") == 0 and s.services.auth.limits.open_count("adm") == 0
    # A request refused by validation is not charged either.
    invalid = requests.post(url, json={"text": "a" * 500, "tasks": ["nope"]}, headers=hdr,
                            timeout=10)
    assert invalid.status_code in (400, 422) and _bytes_today(s, "adm") == 0
    ok = requests.post(url, json={"text": "b" * 500}, headers=hdr, timeout=10)
    assert ok.status_code == 202, ok.text
    charged = _bytes_today(s, "adm")
    assert 500 < charged < 1000 and s.services.auth.limits.open_count("adm") == 1
    # The open-jobs quota refuses the next one: the bytes it charged are given back.
    full = requests.post(url, json={"text": "c" * 500}, headers=hdr, timeout=10)
    assert full.status_code == 429 and full.json()["error"]["code"] == "quota_exceeded"
    assert full.headers["RateLimit-Remaining"] == "0"
    assert _bytes_today(s, "adm") == charged


def test_a_tenant_rate_overrides_the_service_rate(stack):
    """The gate counts at the service's rate in its own round trip; a tenant with another
    rate (admin settings) is counted by the guard, at its rate."""
    s = stack(workers=0)  # RATE_LIMIT from base_cfg: a million a minute
    s.services.auth.settings.update("slow", {"RATE_LIMIT": "3/minute"})
    key = make_key(s.cfg["REDIS_URL"], tenant="slow", scopes=["read"])
    other = make_key(s.cfg["REDIS_URL"], tenant="fast", scopes=["read"])
    codes = [requests.get(s.api_url + "/v1/jobs", headers={"api-key": key},
                          timeout=10).status_code for _ in range(5)]
    assert 429 in codes and codes[:3] == [200] * 3 or codes.count(200) > 3, codes  # (a new
    # minute may begin during the loop: then the count starts again)
    assert 429 in codes, codes
    r = requests.get(s.api_url + "/v1/jobs", headers={"api-key": other}, timeout=10)
    assert r.status_code == 200 and r.headers["RateLimit-Limit"] == "1000000"
