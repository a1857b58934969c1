"""The same small job suite against every upstream personality the stub can play.

Each profile gets its own stub, and a worker and API on a fresh Redis database (the
`module_stack` factory), so one profile's worker never takes another's tasks. Profiles: `openai`
(endpoint moderation), `no-moderations` (a NIM: chat-mode moderation with a JSON schema),
`llamaguard` (an Ollama serving Llama Guard: S-codes), `prose` (a model that ignores the JSON
instruction), `deepseek` (text-only chat).
"""
from __future__ import annotations

import threading

import pytest

from mediagen import image
from mmservice.providers.chat_moderation import GUARD_ASSESSED, STRICT
from mmservice.testing.stack import Stack

PROFILES = {
    "openai": {},
    "no-moderations": {"MODERATION_KIND": "nim", "VISION_KIND": "nim",
                       "MODERATION_MODEL": "gpt-4o-mini"},
    "llamaguard": {"MODERATION_KIND": "ollama", "MODERATION_MODEL": "llama-guard-3-8b"},
    "prose": {"MODERATION_MODE": "chat", "MODERATION_MODEL": "gpt-4o-mini"},
    # The stub cannot read a prompt, so its JSON-mode answer (DeepSeek's default) carries no
    # scores; a schema makes it fill them in. test_deepseek_defaults_to_json_mode covers JSON mode.
    "deepseek": {"MODERATION_KIND": "deepseek", "VISION_KIND": "deepseek",
                 "MODERATION_RESPONSE_FORMAT": "json_schema"},
}
CHAT_PROFILES = ("no-moderations", "llamaguard", "prose", "deepseek")


class Env:
    def __init__(self, profile: str, stack: Stack, stub):
        self.profile, self.stack, self.stub = profile, stack, stub
        self.cfg, self.api, self.client = stack.cfg, stack.api, stack.client

    @property
    def worker(self):
        return self.stack.worker

    def chats(self) -> list[dict]:
        return self.stub.requests.matching("/chat/completions")


@pytest.fixture(scope="module")
def envs(module_stack):
    from mmservice.api import usage
    from mmservice.devstub.server import start_stub

    made: dict[str, Env] = {}
    stubs: list = []
    try:
        for profile, extra in PROFILES.items():
            stub = start_stub(profile=profile)
            stubs.append(stub)
            cfg = {"OPENAI_BASE_URL": stub.base_url, "UPSTREAM_MAX_ATTEMPTS": 2, **extra}
            for key in extra:  # a kind's fixed address (DeepSeek's) would beat OPENAI_BASE_URL
                if key.endswith("_KIND"):
                    cfg[key.replace("_KIND", "_BASE_URL")] = stub.base_url
            s = module_stack(cfg, workers=0, concurrency=2, name=profile)
            if "usage" not in s.api.app.blueprints:  # until mmservice/__init__ registers it
                s.api.app.register_blueprint(usage.bp)
            made[profile] = Env(profile, s, stub)
        errors: list = []

        def boot(e: Env) -> None:
            try:
                e.stack.add_worker(e.profile)
            except Exception as err:  # noqa: BLE001 - reported below
                errors.append(err)

        threads = [threading.Thread(target=boot, args=(e,)) for e in made.values()]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert not errors, errors
        yield made
    finally:
        for stub in stubs:
            stub.shutdown()


@pytest.fixture()
def env(envs, request):
    e = envs[request.param]
    e.stub.reset()
    return e


def run_image(e: Env, tasks: str, color=(220, 20, 20)) -> dict:
    r = e.client.submit_file("pic.png", image(color=color), "image/png", {"tasks": tasks})
    assert r.status_code == 202, r.text
    return e.client.poll(r.json()["id"])


@pytest.mark.parametrize("env", list(PROFILES), indirect=True)
def test_text_moderation(env):
    job = env.client.run({"text": "a kind word about gardening"})
    if env.profile == "prose":
        assert job["status"] == "failed", job.get("results")
        assert job["error"]["code"] == "upstream_unparseable"
        assert "stricter" in job["error"]["message"]
        chats = env.chats()
        assert len(chats) == 2  # one stricter retry, and the generic layer did not retry more
        assert STRICT.strip() not in str(chats[0]["json"]["messages"])
        assert STRICT.strip() in str(chats[1]["json"]["messages"])
        return
    assert job["status"] == "succeeded", job.get("error")
    mod = job["results"]["moderation"]
    assert mod["verdict"] in ("allow", "review", "block")
    if env.profile == "openai":
        assert env.stub.requests.matching("/moderations") and not env.chats()
        assert mod["model"] == "omni-moderation-latest"
        assert mod["usage"]["requests"] == 1
        return
    assert not env.stub.requests.matching("/moderations")
    sent = env.chats()[0]["json"]
    assert mod["usage"]["prompt_tokens"] > 0 and mod["usage"]["completion_tokens"] > 0
    if env.profile == "llamaguard":
        assert "response_format" not in sent  # a guard model answers in its own words
        assert sent["messages"] == [{"role": "user", "content": "a kind word about gardening"}]
        assert mod["assessed_categories"] == GUARD_ASSESSED
        assert set(mod["category_scores"].values()) == {0.0} and not mod["flagged"]
        assert mod["upstream_flagged"] is False
    else:
        assert sent["response_format"]["type"] == "json_schema"
        assert len(mod["assessed_categories"]) == 13  # the stub fills every score with 0.5
        assert mod["details"][0]["mode"] == "chat"


@pytest.mark.parametrize("env", ["llamaguard"], indirect=True)
@pytest.mark.parametrize("text,codes,flagged", [
    ("this is a hate-test sentence", ["S10"], {"hate"}),
    ("I will hurt you", ["S1"], {"violence", "illicit/violent"}),
    ("thinking about suicide", ["S11"], {"self-harm"}),
])
def test_llama_guard_codes_map_onto_categories(env, text, codes, flagged):
    mod = env.client.run({"text": text})["results"]["moderation"]
    assert mod["flagged"] and mod["verdict"] == "block"
    assert {c for c, on in mod["categories"].items() if on} == flagged
    assert [h["code"] for h in mod["details"][0]["hazards"]] == codes
    assert all(mod["category_scores"][c] == 0.0 for c in GUARD_ASSESSED if c not in flagged)


@pytest.mark.parametrize("env", ["openai", "no-moderations", "llamaguard", "deepseek"],
                         indirect=True)
def test_image_moderation(env):
    job = run_image(env, "moderate")
    if env.profile == "deepseek":
        assert job["status"] == "failed", job.get("results")
        assert job["error"]["code"] == "capability_unavailable"
        assert "does not accept image input" in job["error"]["message"]
        assert not env.chats()  # refused before any upstream call
        return
    assert job["status"] == "succeeded", job.get("error")
    mod = job["results"]["moderation"]
    assert mod["usage"]["images"] == 1
    if env.profile == "openai":
        return
    parts = env.chats()[0]["json"]["messages"][-1]["content"]
    assert parts[0]["type"] == "image_url"
    if env.profile == "llamaguard":  # the stub's guard sees a mostly red picture as S12
        assert mod["categories"]["sexual"] is True


@pytest.mark.parametrize("env", ["openai", "no-moderations", "deepseek"], indirect=True)
def test_vision_describe(env):
    job = run_image(env, "describe", color=(20, 20, 220))
    if env.profile == "deepseek":
        assert job["status"] == "failed", job.get("results")
        assert job["error"]["code"] == "capability_unavailable"
        assert "vision upstream (deepseek) does not accept image input" in job["error"]["message"]
        assert not env.chats()
        return
    assert job["status"] == "succeeded", job.get("error")
    assert "blue" in job["results"]["description"]["text"]


def test_providers_show_upstream_model_and_discovered_models(envs):
    e = envs["llamaguard"]
    data = e.client.get("/v1/providers").json()["data"]
    mod = data["moderation"]
    assert (mod["kind"], mod["mode"], mod["model"]) == ("ollama", "chat", "llama-guard-3-8b")
    assert mod["base_url"] == e.stub.base_url
    assert mod["discovered"]["ok"] and mod["discovered"]["model_listed"]
    assert "llama-guard-3-8b" in mod["discovered"]["models"]
    assert "omni-moderation-latest" not in mod["discovered"]["models"]
    assert e.client.get("/readyz").json()["checks"]["upstreams"]["ok"] is True
    ds = envs["deepseek"].client.get("/v1/providers").json()["data"]
    assert ds["vision"]["available"] is False
    assert ds["vision"]["error"]["code"] == "capability_unavailable"


def test_unreachable_upstream_is_a_readiness_failure_not_a_crash(base_cfg):
    from mmservice import create_app
    from mmservice.embedded import free_port
    from mmservice.testing.procs import keyed_client

    dead = f"http://127.0.0.1:{free_port()}/v1"
    c = keyed_client(create_app({**base_cfg, "MODERATION_BASE_URL": dead}))
    r = c.get("/readyz")
    assert r.status_code == 503, r.json
    assert "unreachable" in r.json["reason"] and dead in r.json["reason"]
    assert r.json["checks"]["redis"]["ok"] and r.json["checks"]["upstreams"]["ok"] is False
    p = c.get("/v1/providers")
    assert p.status_code == 200
    assert p.json["data"]["moderation"]["discovered"]["error"]["code"] == "upstream_unreachable"
    assert p.json["data"]["vision"]["discovered"]["ok"] is True  # the stub still answers
    assert c.get("/healthz").status_code == 200


def test_usage_counters_grow_and_are_shown_per_upstream(envs):
    e = envs["llamaguard"]
    label = f"ollama:{e.stub.host}:{e.stub.port}"

    def row():
        body = e.client.get("/v1/usage").json()
        return next((r for r in body["data"] if r["upstream"] == label), {}), body

    before, _ = row()
    e.client.run({"text": "count me"})
    e.client.run({"text": "count me too"})
    after, body = row()
    assert after["capability"] == "moderation" and after["model"] == "llama-guard-3-8b"
    assert after["requests"] == before.get("requests", 0) + 2
    assert after["prompt_tokens"] > before.get("prompt_tokens", 0)
    assert after["completion_tokens"] > before.get("completion_tokens", 0)
    assert body["totals"]["requests"] >= after["requests"]
    r = e.client.get("/v1/usage?day=2024-13-01")
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_day"
    assert e.client.get("/v1/usage?day=2001-01-01").json()["data"] == []


def test_deepseek_defaults_to_json_mode_and_fails_unparseable_on_prose(envs):
    """DeepSeek has no json_schema: JSON mode is sent. The stub's JSON-mode answer has no
    scores (it cannot read our prompt), which also shows the unparseable path for JSON mode."""
    from mmservice import config
    from mmservice.errors import UpstreamError
    from mmservice.providers.chat_moderation import ChatModeration

    e = envs["deepseek"]
    e.stub.reset()
    cfg = config.load({k: v for k, v in e.cfg.items() if k != "MODERATION_RESPONSE_FORMAT"},
                      environ={})
    prov = ChatModeration(cfg)
    assert prov.model == "deepseek-chat"
    with pytest.raises(UpstreamError) as err:
        prov.moderate_texts(["hello"])
    assert err.value.code == "upstream_unparseable" and not err.value.retryable
    sent = [r["json"] for r in e.chats()]
    assert [s["response_format"] for s in sent] == [{"type": "json_object"}] * 2
    assert "JSON" in sent[0]["messages"][0]["content"]  # DeepSeek requires the word


def test_kind_defaults_and_refusals(stub):
    from mmservice.errors import CapabilityUnavailable
    from mmservice.providers import kinds
    from mmservice.providers.openai_provider import make_client, upstream_settings
    from mmservice.providers.registry import Registry, describe

    cfg = {"MODERATION_KIND": "openrouter", "OPENAI_BASE_URL": "http://global/v1",
           "OPENROUTER_REFERER": "https://example.org", "OPENROUTER_TITLE": "mmservice"}
    assert upstream_settings(cfg, "moderation")["base_url"] == "https://openrouter.ai/api/v1"
    assert kinds.moderation_mode(cfg) == "chat"
    assert kinds.base_url({"VISION_KIND": "deepseek"}, "vision") == "https://api.deepseek.com"
    assert kinds.kind_for({"OPENAI_BASE_URL": "https://openrouter.ai/api/v1"}, "vision").name \
        == "openrouter"
    assert kinds.moderation_mode({"OPENAI_BASE_URL": stub.base_url}) == "endpoint"
    # OpenRouter's attribution headers ride on every call the client makes.
    stub.reset()
    orc = {**cfg, "MODERATION_BASE_URL": stub.base_url, "UPSTREAM_TIMEOUT_S": 2.0}
    make_client(orc, "moderation").models.list()
    seen = stub.requests.matching("/models")[-1]["headers"]
    assert seen["http-referer"] == "https://example.org" and seen["x-title"] == "mmservice"
    base = {"UPSTREAM_TIMEOUT_S": 2.0, "UPSTREAM_MAX_ATTEMPTS": 1, "UPSTREAM_BACKOFF_BASE_S": 0.1,
            "UPSTREAM_BACKOFF_MAX_S": 0.1, "UPSTREAM_RETRY_BUDGET_S": 1.0}
    for cap, extra, code in [
        ("transcription", {"TRANSCRIPTION_KIND": "deepseek"}, "capability_unavailable"),
        ("speech", {"SPEECH_KIND": "openrouter"}, "capability_unavailable"),
        ("moderation", {"MODERATION_KIND": "ollama", "MODERATION_MODE": "endpoint",
                        "MODERATION_BASE_URL": "http://x/v1"}, "capability_unavailable"),
        ("vision", {"VISION_KIND": "ollama"}, "upstream_misconfigured"),
        ("moderation", {"MODERATION_KIND": "ollama", "MODERATION_BASE_URL": "http://x/v1"},
         "upstream_misconfigured"),  # chat mode with no chat model named
        ("moderation", {"MODERATION_KIND": "vllm"}, "upstream_misconfigured"),
    ]:
        with pytest.raises(CapabilityUnavailable) as e:
            Registry({**base, **extra}).get(cap)
        assert e.value.code == code, (cap, extra, e.value.message)
        assert describe({**base, **extra})[cap]["error"]["code"] == code  # shown, not built


def test_endpoint_mode_on_a_server_without_moderations_says_what_to_do(envs):
    from mmservice import config
    from mmservice.errors import UpstreamError
    from mmservice.providers.openai_provider import OpenAIModeration

    cfg = config.load({**envs["no-moderations"].cfg, "MODERATION_KIND": ""}, environ={})
    with pytest.raises(UpstreamError) as e:
        OpenAIModeration(cfg).moderate_texts(["hi"])
    assert e.value.code == "upstream_not_found" and "MMS_MODERATION_MODE=chat" in e.value.message
