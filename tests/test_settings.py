"""The typed settings (`mmservice.config`): coercion, refusal of bad and unknown values, the tenant
overlay, the generated README table, and no settings read around `config.load()`."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mmservice import config
from mmservice.errors import Invalid
from mmservice.moderation.policy import default_thresholds
from mmservice.settings_table import markdown, readme_block
from mmservice.testing.procs import service_env as worker_env

ROOT = Path(__file__).resolve().parent.parent


def test_environment_strings_become_typed_values():
    cfg = config.load(environ={
        "MMS_JOB_TTL_S": "60", "MMS_UPSTREAM_TIMEOUT_S": "2.5", "MMS_ALLOW_IMAGE_URL_FETCH": "no",
        "MMS_LOCAL_WHISPER_FALLBACK": "1", "MMS_VISION_IMAGE_INPUT": "false",
        "MMS_MODERATION_TEMPERATURE": "none", "MMS_LOG_LEVEL": "debug",
        "MMS_WEBHOOK_LOCAL_FIRST_ATTEMPT": "TRUE", "MMS_WEBHOOK_RETRY_SCHEDULE_S": "1, 2.5,10",
        "OPENAI_API_KEY": "sk-plain", "MMS_MAX_TEXT_CHARS": "", "UNRELATED": "x"})
    assert cfg["JOB_TTL_S"] == 60 and cfg["UPSTREAM_TIMEOUT_S"] == 2.5
    assert cfg["ALLOW_IMAGE_URL_FETCH"] is False and cfg["LOCAL_WHISPER_FALLBACK"] is True
    assert cfg["VISION_IMAGE_INPUT"] is False and cfg["MODERATION_IMAGE_INPUT"] is None
    assert cfg["MODERATION_TEMPERATURE"] is None and cfg["LOG_LEVEL"] == "DEBUG"
    assert cfg["WEBHOOK_LOCAL_FIRST_ATTEMPT"] == "on"
    assert cfg["WEBHOOK_RETRY_SCHEDULE_S"] == "1,2.5,10"
    assert cfg["OPENAI_API_KEY"] == "sk-plain"  # read unprefixed, as the openai client does
    assert cfg["MAX_TEXT_CHARS"] == 100_000  # empty means unset
    assert set(cfg) == set(config.FIELDS)
    prefixed = config.load(environ={"OPENAI_API_KEY": "a", "MMS_OPENAI_API_KEY": "b"})
    assert prefixed["OPENAI_API_KEY"] == "b"


def test_a_bad_value_names_its_variable():
    with pytest.raises(Invalid) as e:
        config.load(environ={"MMS_JOB_TTL_S": "a week"})
    assert e.value.field == "MMS_JOB_TTL_S" and e.value.message.startswith("MMS_JOB_TTL_S: ")
    assert "a week" in e.value.message
    for env, var in (({"MMS_UPSTREAM_MAX_ATTEMPTS": "0"}, "MMS_UPSTREAM_MAX_ATTEMPTS"),
                     ({"MMS_MODERATION_MODE": "sometimes"}, "MMS_MODERATION_MODE"),
                     ({"MMS_VISION_PROVIDER": "cloud"}, "MMS_VISION_PROVIDER"),
                     ({"MMS_THRESHOLDS": '{"sexual": 0.3'}, "MMS_THRESHOLDS"),
                     ({"MMS_WEBHOOK_RETRY_SCHEDULE_S": "5,-1"}, "MMS_WEBHOOK_RETRY_SCHEDULE_S"),
                     ({"OPENAI_API_KEY": "k", "MMS_ALLOW_IMAGE_URL_FETCH": "maybe"},
                      "MMS_ALLOW_IMAGE_URL_FETCH")):
        with pytest.raises(Invalid) as e:
            config.load(environ=env)
        assert e.value.field == var and e.value.code == "invalid_setting", e.value.message


def test_a_mistyped_variable_is_refused_with_the_closest_name():
    with pytest.raises(Invalid) as e:
        config.load(environ={"MMS_JOB_TTLS": "60"})
    assert e.value.field == "MMS_JOB_TTLS" and e.value.code == "unknown_setting"
    assert "did you mean MMS_JOB_TTL_S?" in e.value.message


def test_a_mistyped_variable_stops_the_cli_before_it_starts_anything():
    env = {k: v for k, v in os.environ.items() if not k.startswith("MMS_")}
    proc = subprocess.run([sys.executable, "-m", "mmservice", "demo"], check=False, cwd=ROOT,
                          timeout=60,
                          env={**env, "MMS_WEBHOOK_SECRET": "whsec_x"}, capture_output=True,
                          text=True)
    assert proc.returncode == 2
    assert "MMS_WEBHOOK_SECRET" in proc.stderr and "MMS_WEBHOOK_SECRETS" in proc.stderr


def test_overrides_go_through_the_same_validation():
    cfg = config.load({"JOB_TTL_S": "90", "UPSTREAM_TIMEOUT_S": 3, "WEBHOOK_SECRETS": ["a", " b"],
                       "THRESHOLDS": {"sexual": {"review": 0.3}}},
                      environ={"MMS_JOB_TTL_S": "60"})
    assert cfg["JOB_TTL_S"] == 90  # overrides beat the environment
    assert cfg["UPSTREAM_TIMEOUT_S"] == 3.0 and isinstance(cfg["UPSTREAM_TIMEOUT_S"], float)
    assert cfg["WEBHOOK_SECRETS"] == "a,b"
    assert default_thresholds(cfg)["sexual"] == {"review": 0.3, "block": 0.85}
    with pytest.raises(Invalid) as e:
        config.load({"MAX_TEXT_CHARS": "lots"}, environ={})
    assert e.value.field == "MMS_MAX_TEXT_CHARS"
    with pytest.raises(Invalid) as e:
        config.load({"MAX_TEXT_CHAR": 10}, environ={})
    assert e.value.field == "MAX_TEXT_CHAR" and "did you mean MAX_TEXT_CHARS?" in e.value.message


def test_a_loaded_cfg_survives_the_trip_through_a_worker_environment():
    """`tests/conftest.py` hands a cfg to the worker as `MMS_*` strings: every key must be
    declared and every value must read back as itself."""
    cfg = config.load({"WEBHOOK_SECRETS": "a,b", "MODERATION_TEMPERATURE": "none",
                       "VISION_IMAGE_INPUT": True, "THRESHOLDS": '{"hate": {"block": 0.7}}'},
                      environ={})
    assert config.load(environ=worker_env(cfg)) == cfg


def test_secrets_are_known_from_the_declarations():
    cfg = config.load({"OPENAI_API_KEY": "sk-1", "VISION_API_KEY": "sk-2",
                       "WEBHOOK_SECRETS": "whsec_x"}, environ={})
    shown = config.redacted(cfg)
    assert shown["OPENAI_API_KEY"] == shown["VISION_API_KEY"] == shown["WEBHOOK_SECRETS"] == "***"
    assert shown["SPEECH_API_KEY"] == "" and shown["REDIS_URL"] == cfg["REDIS_URL"]
    assert {"OPENAI_API_KEY", "WEBHOOK_SECRETS"} <= config.SECRET_KEYS


def test_tenant_overlay_takes_only_tenant_settings_and_validates_them():
    cfg = config.load(environ={})
    mine = config.overlay(cfg, {"THRESHOLDS_REVIEW": "0.3", "MAX_TEXT_CHARS": 500,
                                "WEBHOOK_DEFAULT_URL": " https://hooks.example.com/x "})
    assert mine["THRESHOLDS_REVIEW"] == 0.3 and mine["MAX_TEXT_CHARS"] == 500
    assert mine["WEBHOOK_DEFAULT_URL"] == "https://hooks.example.com/x"
    assert mine["REDIS_URL"] == cfg["REDIS_URL"] and cfg["MAX_TEXT_CHARS"] == 100_000
    with pytest.raises(Invalid) as e:
        config.overlay(cfg, {"REDIS_URL": "redis://elsewhere:6379/0"})
    assert e.value.field == "REDIS_URL" and "per tenant" in e.value.message
    with pytest.raises(Invalid) as e:
        config.overlay(cfg, {"MAX_TEXT_CHARS": -1})
    assert e.value.field == "MMS_MAX_TEXT_CHARS"
    with pytest.raises(Invalid) as e:
        config.overlay(cfg, {"THRESHOLD_REVIEW": 0.2})
    assert "did you mean THRESHOLDS_REVIEW?" in e.value.message
    assert {"THRESHOLDS", "WEBHOOK_SECRETS", "MAX_IMAGE_BYTES"} <= config.TENANT_KEYS


def test_webhook_settings_are_built_from_the_typed_cfg():
    from mmservice.webhooks import settings

    hooks = settings(config.load({"WEBHOOK_RETRY_SCHEDULE_S": "0.5,2", "WEBHOOK_SECRETS": "a,b",
                                  "WEBHOOK_LOCAL_SENDERS": "2"}, environ={}))
    assert hooks.schedule_s == (0.5, 2.0) and hooks.secrets == ("a", "b")
    assert hooks.local_senders == 2 and hooks.timeout_s == 15.0 and hooks.ttl_s == 604800


def test_local_engines_read_the_cfg_they_are_given(tmp_path, monkeypatch):
    from mmservice.providers.local import LocalTranscription, models
    from mmservice.providers.registry import describe

    # The process-wide engine state, fresh here and restored after: the cfg the engines were
    # configured with, and a Whisper slot that another test may already have loaded.
    monkeypatch.setattr(models, "_configured", None)
    monkeypatch.setitem(models.SLOTS, "whisper", models._Slot("whisper", models._load_whisper))
    cfg = config.load({"LOCAL_WHISPER_MODEL": str(tmp_path / "my-model"),
                       "TRANSCRIPTION_PROVIDER": "local", "LOCAL_WHISPER_BEAM": "3"}, environ={})
    assert models.whisper_model_dir(cfg) == (tmp_path / "my-model", False)
    assert LocalTranscription(cfg).model == "faster-whisper:my-model-int8"
    assert describe(cfg)["transcription"]["model"] == "faster-whisper:my-model-int8"
    assert models.setting("LOCAL_WHISPER_BEAM") == 3  # the engines' loaders read it from there


def test_readme_table_is_the_generated_one():
    readme = (ROOT / "README.md").read_text()
    assert readme_block(readme) == markdown()
    printed = subprocess.run([sys.executable, "-m", "mmservice", "settings-table"], cwd=ROOT,
                             capture_output=True, text=True, timeout=60, check=True).stdout
    assert printed == markdown()
    for key in config.FIELDS:
        assert f"`{config.env_names(key)[0]}`" in readme


# `os.environ`/`getenv` outside config.py; a child process's environment may be copied.
_ENV_READ = re.compile(r"\bos\.environ\b|\bgetenv\b|from os import[^\n]*\benviron\b")
_CHILD_ENV = re.compile(r"=\s*dict\(os\.environ\)")


def test_no_settings_are_read_from_the_environment_outside_config():
    stray = []
    for top in ("mmservice", "workers"):
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel == "mmservice/config.py" or rel.startswith("mmservice/devstub/"):
                continue
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if _ENV_READ.search(line) and not _CHILD_ENV.search(line):
                    stray.append(f"{rel}:{n}: {line.strip()}")
    assert stray == []
