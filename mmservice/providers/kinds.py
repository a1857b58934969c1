"""Upstream kinds: what each family of "OpenAI-compatible" server really offers.

Why a table and not feature probing: servers that lack an endpoint answer 404 (or, like DeepSeek
for image parts, a 400 that reads like our fault) only when a job is already running. Knowing the
kind up front lets the registry refuse a capability with a clear `capability_unavailable`, pick
chat-mode moderation where there is no `/v1/moderations`, and send the response format a server
accepts. `MMS_<CAP>_KIND` names the kind; without it the kind is guessed from the base URL's host
and otherwise `generic` (no assumptions: every endpoint is tried, the upstream decides).
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from mmservice.errors import CapabilityUnavailable

ENDPOINTS = ("moderations", "chat", "transcriptions", "speech")
_ALL = frozenset(ENDPOINTS)


@dataclass(frozen=True)
class Kind:
    name: str
    base_url: str | None = None  # only where the service has one fixed public address
    serves: frozenset = _ALL  # endpoints the server family offers
    image_input: bool = True  # chat accepts `image_url` parts (the model must be able to see)
    json_schema: bool = True  # `response_format: json_schema`; else JSON mode (`json_object`)
    chat_model: str | None = None  # default chat model for chat-mode moderation
    note: str = ""


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("openai", base_url="https://api.openai.com/v1", chat_model="gpt-4o-mini"),
    Kind("nim", serves=frozenset({"chat", "transcriptions"}),
         note="one model per container; transcription through the Riva ASR NIM"),
    Kind("openrouter", base_url="https://openrouter.ai/api/v1", serves=frozenset({"chat"}),
         note="attribution headers from MMS_OPENROUTER_REFERER / MMS_OPENROUTER_TITLE"),
    Kind("deepseek", base_url="https://api.deepseek.com", serves=frozenset({"chat"}),
         image_input=False, json_schema=False, chat_model="deepseek-chat",
         note="text-only chat; JSON mode, no json_schema"),
    Kind("ollama", serves=frozenset({"chat", "transcriptions", "speech"}),
         note="audio only on Ollama builds that serve /v1/audio/*"),
    Kind("localai"),
    Kind("generic"),
)}
_HOSTS = {"api.openai.com": "openai", "openrouter.ai": "openrouter", "api.deepseek.com": "deepseek",
          "integrate.api.nvidia.com": "nim"}
_NEEDS = {"vision": "chat", "transcription": "transcriptions", "speech": "speech"}


def kind_for(cfg: dict, cap: str) -> Kind:
    """`MMS_<CAP>_KIND`, else a guess from the configured base URL, else `generic`."""
    name = str(cfg.get(f"{cap.upper()}_KIND") or "").strip().lower()
    if name:
        if name not in KINDS:
            raise CapabilityUnavailable(
                f"MMS_{cap.upper()}_KIND={name!r} is not a known upstream kind "
                f"({', '.join(KINDS)})", code="upstream_misconfigured")
        return KINDS[name]
    url = cfg.get(f"{cap.upper()}_BASE_URL") or cfg.get("OPENAI_BASE_URL") or ""
    if not url:
        return KINDS["openai"]  # the client's own default address
    return KINDS[_HOSTS.get(urlsplit(url).hostname or "", "generic")]


def base_url(cfg: dict, cap: str) -> str | None:
    """The capability's own URL, else its kind's fixed address, else the global fallback.

    A kind chosen for this capability beats `OPENAI_BASE_URL`: `MMS_MODERATION_KIND=deepseek`
    means DeepSeek even when the other capabilities share a global upstream.
    """
    up = cap.upper()
    own = cfg.get(f"{up}_BASE_URL")
    if own:
        return own
    if cfg.get(f"{up}_KIND") and cfg[f"{up}_KIND"].strip().lower() in KINDS:
        fixed = KINDS[cfg[f"{up}_KIND"].strip().lower()].base_url
        if fixed:
            return fixed
    return cfg.get("OPENAI_BASE_URL") or None


def default_headers(cfg: dict, cap: str) -> dict[str, str]:
    """OpenRouter ranks apps by these optional headers; other kinds need none."""
    if kind_for(cfg, cap).name != "openrouter":
        return {}
    headers = {}
    if cfg.get("OPENROUTER_REFERER"):
        headers["HTTP-Referer"] = str(cfg["OPENROUTER_REFERER"])
    if cfg.get("OPENROUTER_TITLE"):
        headers["X-Title"] = str(cfg["OPENROUTER_TITLE"])
    return headers


def moderation_mode(cfg: dict) -> str:
    """`MMS_MODERATION_MODE=endpoint|chat`; default chat where the kind has no moderations."""
    if cfg.get("MODERATION_MODE"):  # "endpoint" or "chat", checked by config
        return cfg["MODERATION_MODE"]
    return "endpoint" if "moderations" in kind_for(cfg, "moderation").serves else "chat"


def image_input(cfg: dict, cap: str) -> bool:
    """Whether chat requests may carry images; `MMS_<CAP>_IMAGE_INPUT` overrides the kind,
    because vision is a property of the model (llava yes, llama-guard-3-8b no)."""
    own = cfg.get(f"{cap.upper()}_IMAGE_INPUT")  # a bool, or None: not set
    return kind_for(cfg, cap).image_input if own is None else own


def response_format(cfg: dict, cap: str) -> str:
    """`json_schema`, `json_object` or `none` (`MMS_<CAP>_RESPONSE_FORMAT` overrides)."""
    if cfg.get(f"{cap.upper()}_RESPONSE_FORMAT"):  # one of the three, checked by config
        return cfg[f"{cap.upper()}_RESPONSE_FORMAT"]
    return "json_schema" if kind_for(cfg, cap).json_schema else "json_object"


def check_offered(cfg: dict, cap: str) -> None:
    """Refuse, before any call, what this kind of upstream cannot do for the capability."""
    kind = kind_for(cfg, cap)
    up = cap.upper()
    if kind.name != "openai" and not base_url(cfg, cap):
        raise CapabilityUnavailable(
            f"MMS_{up}_KIND={kind.name} has no fixed address: set MMS_{up}_BASE_URL",
            code="upstream_misconfigured")
    need = _NEEDS.get(cap) or ("moderations" if moderation_mode(cfg) == "endpoint" else "chat")
    if need not in kind.serves:
        hint = " (set MMS_MODERATION_MODE=chat)" if need == "moderations" else ""
        raise CapabilityUnavailable(
            f"the {cap} upstream ({kind.name}) does not serve /v1/{_path(need)}{hint}",
            code="capability_unavailable")
    if cap == "vision" and not image_input(cfg, cap):
        raise CapabilityUnavailable(
            f"the vision upstream ({kind.name}) does not accept image input; point "
            f"MMS_VISION_BASE_URL at a vision-capable chat model", code="capability_unavailable")


def _path(endpoint: str) -> str:
    return {"chat": "chat/completions", "transcriptions": "audio/transcriptions",
            "speech": "audio/speech"}.get(endpoint, endpoint)
