"""Which provider serves each capability, built once per process and only when first used.

Why lazy: the API process must never load models; it only asks the registry to *describe* the
choice (`/v1/providers`, `/readyz`). Workers build providers on first use, so a worker serving
only the `moderation` queue never loads Whisper.
"""
from __future__ import annotations

import threading
from typing import Any

from mmservice.config import CAPS
from mmservice.errors import CapabilityUnavailable

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
    the capability (its own or the global OPENAI_* settings), else local."""
    want = (cfg.get(f"{cap.upper()}_PROVIDER") or "auto").lower()
    if want in ("openai", "local"):
        return want
    up = cap.upper()
    configured = any(cfg.get(k) for k in (f"{up}_BASE_URL", f"{up}_API_KEY", "OPENAI_BASE_URL",
                                          "OPENAI_API_KEY"))
    return "openai" if configured else "local"


def describe(cfg: dict) -> dict[str, dict[str, Any]]:
    """What serves each capability, without building anything (safe in the API process)."""
    from mmservice.providers.openai_provider import upstream_settings

    out = {}
    for cap in CAPS:
        kind = choose(cfg, cap)
        if kind == "openai":
            s = upstream_settings(cfg, cap)
            out[cap] = {"provider": "openai", "model": s["model"],
                        "base_url": s["base_url"] or "https://api.openai.com/v1",
                        "api_key_set": bool(s["api_key"])}
        else:
            try:
                from mmservice.providers.local import describe_local
                out[cap] = {"provider": "local", **describe_local(cap)}
            except ImportError:
                out[cap] = {"provider": "local", "model": None,
                            "available": False}
    return out


class Registry:
    def __init__(self, cfg: dict):
        self.cfg = cfg
        self._built: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get(self, cap: str) -> Any:
        with self._lock:
            prov = self._built.get(cap)
            if prov is None:
                prov = self._build(cap)
                self._built[cap] = prov
            return prov

    def _build(self, cap: str) -> Any:
        kind = choose(self.cfg, cap)
        if kind == "openai":
            from mmservice.providers import openai_provider
            return getattr(openai_provider, _OPENAI[cap])(self.cfg)
        try:
            from mmservice.providers import local
        except ImportError as e:
            raise CapabilityUnavailable(
                f"no upstream is configured for {cap} and the local engines are not installed "
                f"({e.name}); set MMS_{cap.upper()}_BASE_URL or install requirements-local.txt",
                code="provider_unavailable") from None
        return getattr(local, _LOCAL[cap])(self.cfg)
