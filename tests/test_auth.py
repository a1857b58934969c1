"""API keys and scopes on every route: 401 without a (live) key, 403 without the scope, the
tenant from the key; the CLI; `MMS_AUTH=disabled` refused off loopback.

Routes are taken from the app itself (its url map and its OpenAPI document), so a route added
without a scope fails here.
"""
from __future__ import annotations

import re
import subprocess
import sys

import pytest
import requests

from mmservice.auth.keystore import SCOPES
from mmservice.auth.scopes import LOOPBACK_OR_ADMIN, PUBLIC, PUBLIC_ENDPOINTS, scope_of
from mmservice.errors import Invalid
from mmservice.testing.procs import ROOT, make_key, service_env

PUBLIC_PATHS = {"/healthz", "/readyz"}


@pytest.fixture(scope="module")
def s(module_stack):
    return module_stack(name="auth")


def _operations(s) -> list[tuple[str, str, str]]:
    """(method, path template, scope) of every operation in the document."""
    doc = s.client.get("/openapi.json").json()
    app = s.api.app
    out = []
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        if path not in doc["paths"]:
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            out.append((method, path, scope_of(app.view_functions[rule.endpoint])))
    assert len(out) >= 15, out
    return out


FACADE_PATHS = ("/v1/moderations", "/v1/chat/", "/v1/audio/", "/v1/models")


def _url(path: str) -> str:
    return (path.replace("{job_id}", "job_0000000000000000000000000000000")
            .replace("{delivery_id}", "msg_0").replace("{key_id}", "zzzzzzzz")
            .replace("{name}", "nobody").replace("{policy_name}", "nobody")
            .replace("{version}", "1").replace("{n}", "0"))


def test_every_route_declares_a_scope_and_the_document_says_so(s):
    app = s.api.app
    for rule in app.url_map.iter_rules():
        declared = scope_of(app.view_functions[rule.endpoint])
        if rule.endpoint.startswith(PUBLIC_ENDPOINTS):
            continue
        assert declared in (*SCOPES, PUBLIC, LOOPBACK_OR_ADMIN), f"{rule.rule}: {declared}"
    doc = s.client.get("/openapi.json").json()
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    for method, path, scope in _operations(s):
        op = doc["paths"][path][method.lower()]
        if scope == PUBLIC:
            assert path in PUBLIC_PATHS and "security" not in op, path
            continue
        assert op["security"] == [{"bearerAuth": []}], (method, path)
        assert {"401", "403", "429"} <= set(op["responses"]), (method, path)


def test_no_key_or_a_bad_key_is_401_with_a_challenge_on_every_route(s):
    bad = ["", "Bearer nope", "Bearer mms_abcd1234_" + "x" * 43, "Basic dXNlcjpwYXNz"]
    for method, path, scope in _operations(s):
        for header in bad:
            r = requests.request(method, s.api_url + _url(path), timeout=10,
                                 headers={"Authorization": header} if header else {})
            if scope == PUBLIC or (scope == LOOPBACK_OR_ADMIN):  # the test client is loopback
                assert r.status_code != 401, (method, path)
                continue
            assert r.status_code == 401, (method, path, header, r.text)
            assert r.headers["WWW-Authenticate"] == 'Bearer realm="mmservice"'
            assert r.json()["error"]["code"] == "unauthorized"


def test_a_key_without_the_scope_is_403_naming_it_on_every_route(s):
    keys = {sc: make_key(s.cfg["REDIS_URL"], scopes=[x for x in SCOPES if x != sc])
            for sc in SCOPES}
    for method, path, scope in _operations(s):
        if scope not in SCOPES:
            continue
        r = requests.request(method, s.api_url + _url(path), timeout=10,
                             headers={"Authorization": f"Bearer {keys[scope]}"})
        assert r.status_code == 403, (method, path, r.text)
        message = f"this API key lacks the {scope!r} scope"
        if path.startswith(FACADE_PATHS):  # the OpenAI-compatible routes: OpenAI's shape
            assert r.json()["error"] == {"code": "forbidden", "message": message,
                                         "type": "permission_error", "param": None}
        else:
            assert r.json()["error"] == {"code": "forbidden", "scope": scope,
                                         "message": message}
        # With the scope (all of them), the guard lets it through to the view.
        ok = requests.request(method, s.api_url + _url(path), timeout=10,
                              headers={"api-key": s.api.key})
        assert ok.status_code not in (401, 403), (method, path, ok.text)


def test_the_tenant_comes_from_the_key(s):
    a = make_key(s.cfg["REDIS_URL"], tenant="acme", scopes=["submit", "read"])
    job = requests.post(s.api_url + "/v1/jobs", json={"text": "hello"}, timeout=10,
                        headers={"Authorization": f"Bearer {a}"}).json()
    assert s.services.store.get("acme", job["id"])["tenant"] == "acme"
    assert s.client.get(f"/v1/jobs/{job['id']}").status_code == 404  # the default tenant's key
    r = requests.get(s.api_url + "/v1/usage", headers={"api-key": a}, timeout=10)
    assert r.status_code == 200 and r.json()["tenant"] == "acme"
    assert {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= set(r.headers)


def test_revoked_expired_and_rotated_keys(s):
    auth = s.services.auth.keys
    plain, key = auth.create("acme", ["read"])
    hdr = {"Authorization": f"Bearer {plain}"}
    assert requests.get(s.api_url + "/v1/jobs", headers=hdr, timeout=10).status_code == 200
    new_plain, new, old = auth.rotate(key.id)
    assert old.revoked_at and new.scopes == ("read",) and new.tenant == "acme"
    assert requests.get(s.api_url + "/v1/jobs", headers=hdr, timeout=10).status_code == 401
    assert requests.get(s.api_url + "/v1/jobs", timeout=10,
                        headers={"Authorization": f"Bearer {new_plain}"}).status_code == 200
    # An expired key: its expiry set in the past directly (the API refuses such a create).
    s.redis.hset(s.services.store.keys.api_key(new.id), "expires_ts", "1.0")
    assert requests.get(s.api_url + "/v1/jobs", timeout=10,
                        headers={"Authorization": f"Bearer {new_plain}"}).status_code == 401
    # Stored hashed: the key itself is nowhere in Redis.
    dump = b"".join(s.redis.dump(k) or b"" for k in s.redis.keys("mms:*auth*"))
    assert plain.encode() not in dump and new_plain.encode() not in dump


def _cli(cfg: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mmservice", "keys", *args], cwd=ROOT,
                          env=service_env(cfg), capture_output=True, text=True, timeout=60)


def test_keys_cli_create_list_rotate_revoke(s):
    made = _cli(s.cfg, "create", "--tenant", "cli-t", "--scopes", "submit,read", "--name", "ci",
                "--expires", "30d")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert re.fullmatch(r"mms_[a-z0-9]{8}_[A-Za-z0-9_-]{43}", key)
    key_id = key[4:12]
    assert f"mms_{key_id}" in made.stderr and key not in made.stderr
    listed = _cli(s.cfg, "list", "--tenant", "cli-t")
    assert f"mms_{key_id}" in listed.stdout and "active" in listed.stdout
    assert key not in listed.stdout and key[13:] not in listed.stdout
    hdr = {"Authorization": f"Bearer {key}"}
    assert requests.get(s.api_url + "/v1/jobs", headers=hdr, timeout=10).status_code == 200
    rotated = _cli(s.cfg, "rotate", f"mms_{key_id}")
    assert rotated.returncode == 0, rotated.stderr
    assert requests.get(s.api_url + "/v1/jobs", headers=hdr, timeout=10).status_code == 401
    new = rotated.stdout.strip()
    hdr = {"Authorization": f"Bearer {new}"}
    assert requests.get(s.api_url + "/v1/jobs", headers=hdr, timeout=10).status_code == 200
    assert _cli(s.cfg, "revoke", new[4:12]).returncode == 0
    assert requests.get(s.api_url + "/v1/jobs", headers=hdr, timeout=10).status_code == 401
    bad = _cli(s.cfg, "create", "--tenant", "cli-t", "--scopes", "read,root")
    assert bad.returncode == 2 and "root" in bad.stderr and "Traceback" not in bad.stderr


def test_auth_disabled_only_on_loopback(base_cfg, tmp_path):
    from mmservice import create_app

    with pytest.raises(Invalid, match="MMS_AUTH=disabled is refused"):
        create_app({**base_cfg, "AUTH": "disabled", "HOST": "0.0.0.0"})
    app = create_app({**base_cfg, "AUTH": "disabled", "HOST": "127.0.0.1", "TENANT": "local",
                      "BLOB_DIR": str(tmp_path)})
    c = app.test_client()
    assert c.get("/v1/usage").json["tenant"] == "local"  # loopback client, no key
    far = c.get("/v1/usage", environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert far.status_code == 401  # a client off loopback still needs a key
    r = subprocess.run([sys.executable, "-m", "mmservice", "run"], cwd=ROOT, timeout=60,
                       env=service_env({"AUTH": "disabled", "HOST": "0.0.0.0",
                                        "DATA_DIR": str(tmp_path)}),
                       capture_output=True, text=True)
    assert r.returncode == 2 and "MMS_AUTH=disabled is refused" in r.stderr
    assert "Nothing was started" in r.stderr and not (tmp_path / "redis").exists()


def test_refusals_and_key_events_are_counted_and_logged_without_the_key(s, caplog):
    import logging

    from mmservice.auth import events

    caplog.set_level(logging.INFO, logger="mmservice.auth")
    # Earlier tests' refusals from this address fill the window: start this burst afresh.
    s.redis.delete(s.services.store.keys.auth_failures(events.window()))
    bad = "mms_qqqq1111_" + "y" * 43
    for _ in range(12):
        requests.get(s.api_url + "/v1/jobs", headers={"Authorization": f"Bearer {bad}"},
                     timeout=10)
    plain = _cli(s.cfg, "create", "--tenant", "ev", "--scopes", "read").stdout.strip()
    requests.post(s.api_url + "/v1/jobs", headers={"api-key": plain}, json={"text": "x"},
                  timeout=10)
    metrics = s.client.get("/metrics").text
    assert re.search(r'mms_auth_events_total\{event="unauthorized",tenant="none"\} \d+', metrics)
    assert 'mms_auth_events_total{event="key_created",tenant="ev"} 1.0' in metrics
    assert 'mms_auth_events_total{event="forbidden",tenant="ev"} 1.0' in metrics
    refusals = [r for r in caplog.records if getattr(r, "auth_event", "") == "unauthorized"]
    assert 1 <= len(refusals) <= 3, [r.getMessage() for r in refusals]  # a burst, not 12 lines
    assert refusals[0].credential_id == "mms_qqqq1111" and refusals[0].source == "127.0.0.1"
    assert all(bad not in r.getMessage() and bad not in str(r.__dict__) for r in caplog.records)
