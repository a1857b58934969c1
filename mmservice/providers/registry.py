"""Which provider serves each capability, built once per process and only when first used.

Why lazy: the API process must never load models; it only asks the registry to *describe* the
choice (`/v1/providers`, `/readyz`). Workers build providers on first use, so a worker serving
only the `moderation` queue never loads Whisper.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from mmservice.config import CAPS
from mmservice.errors import CapabilityUnavailable

log = logging.getLogger(__name__)
_OPENAI = {
    "moderation": "OpenAIModeration", "vision": "OpenAIVision",
    "transcription": "OpenAITranscription", "speech": "OpenAISpeech",
}
_LOCAL = {
    "moderation": "LocalModeration", "vision": "LocalVision",
    "transcription": "LocalTranscription", "speech": "LocalSpeech",
}


def choose(cfg: dict, cap: str) -> str:
    """`MMS_<CAP>_PROVIDER=openai|local|auto`; auto = openai when an upstream is configured for
    the capability (its own settings, its kind, or the global OPENAI_* settings), else local."""
    want = (cfg.get(f"{cap.upper()}_PROVIDER") or "auto").lower()
    if want in ("openai", "local"):
        return want
    up = cap.upper()
    configured = any(cfg.get(k) for k in (f"{up}_BASE_URL", f"{up}_API_KEY", f"{up}_KIND",
                                          "OPENAI_BASE_URL", "OPENAI_API_KEY"))
    return "openai" if configured else "local"


def _describe_upstream(cfg: dict, cap: str) -> dict[str, Any]:
    from mmservice.providers import kinds
    from mmservice.providers.openai_provider import upstream_settings

    s = upstream_settings(cfg, cap)
    out: dict[str, Any] = {"provider": "openai", "model": s["model"],
                           "base_url": s["base_url"] or "https://api.openai.com/v1",
                           "api_key_set": bool(s["api_key"])}
    try:
        kind = kinds.kind_for(cfg, cap)
        out["kind"] = kind.name
        if cap == "moderation":
            out["mode"] = kinds.moderation_mode(cfg)
            if out["mode"] == "chat":
                out["model"] = cfg.get("MODERATION_MODEL") or kind.chat_model
                out["response_format"] = kinds.response_format(cfg, cap)
                if not out["model"]:
                    raise CapabilityUnavailable(
                        "chat-mode moderation needs a chat model: set MMS_MODERATION_MODEL",
                        code="upstream_misconfigured")
        if cap in ("moderation", "vision"):
            out["image_input"] = kinds.image_input(cfg, cap)
        kinds.check_offered(cfg, cap)
    except CapabilityUnavailable as e:
        out["available"] = False
        out["error"] = e.to_dict()
    return out


def describe(cfg: dict) -> dict[str, dict[str, Any]]:
    """What serves each capability, without building anything (safe in the API process)."""
    out = {}
    for cap in CAPS:
        if choose(cfg, cap) == "openai":
            out[cap] = _describe_upstream(cfg, cap)
        else:
            try:
                from mmservice.providers.local import describe_local
                out[cap] = {"provider": "local", **describe_local(cap, cfg)}
            except ImportError:
                out[cap] = {"provider": "local", "model": None,
                            "available": False}
    return out


class Registry:
    def __init__(self, cfg: dict):
        self.cfg = cfg
        self._built: dict[str, Any] = {}
        self._batcher: Any = None
        self._lock = threading.Lock()

    def text_moderation(self, backlog: Callable[[], int] | None = None) -> Any:
        """The moderation provider for texts: behind this process's one micro-batcher (built on
        first use, with the first caller's `backlog` probe) when batching is on."""
        provider = self.get("moderation")
        with self._lock:
            if self._batcher is None:
                from mmservice.providers.batching import batched

                self._batcher = batched(provider, self.cfg, backlog=backlog)
            return self._batcher

    def get(self, cap: str) -> Any:
        with self._lock:
            prov = self._built.get(cap)
            if prov is None:
                prov = self._build(cap)
                self._built[cap] = prov
            return prov

    def warm_upstreams(self) -> None:
        """Build now the providers that call an upstream.

        Why: building the first one imports the openai client (~1 s of CPU). Left to the first
        request, every API process paid it in the middle of traffic: that request waited a
        second, and in `bench/facade_overhead.py` the second gunicorn process (the warm-up
        reaches one) spent it inside the measured run. Building a client opens no connection.
        Local engines are never built here (the API process loads no model), and a capability
        whose upstream settings are refused stays unbuilt: its requests answer that error."""
        for cap in CAPS:
            if choose(self.cfg, cap) != "openai":
                continue
            try:
                self.get(cap)
            except Exception as e:  # noqa: BLE001 - the first request builds it again, and says why
                log.warning("the %s upstream provider is not built at start: %s", cap, e)

    def _build(self, cap: str) -> Any:
        if choose(self.cfg, cap) == "openai":
            from mmservice.providers import kinds, openai_provider
            kinds.check_offered(self.cfg, cap)  # refuse clearly before any call
            if cap == "moderation" and kinds.moderation_mode(self.cfg) == "chat":
                from mmservice.providers.chat_moderation import ChatModeration
                return ChatModeration(self.cfg)
            return getattr(openai_provider, _OPENAI[cap])(self.cfg)
        try:
            from mmservice.providers import local
        except ImportError as e:
            raise CapabilityUnavailable(
                f"no upstream is configured for {cap} and the local engines are not installed "
                f"({e.name}); set MMS_{cap.upper()}_BASE_URL or install requirements-local.txt",
                code="provider_unavailable") from None
        return getattr(local, _LOCAL[cap])(self.cfg)
