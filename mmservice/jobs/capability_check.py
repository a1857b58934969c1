"""Refusals at submission: options no task of the job reads, and tasks the configured provider
cannot do with the options given.

Why at POST: a job accepted with `describe` + `prompt` while vision is served offline used to
fail in the worker, minutes later, in a result the client may never read. Everything here is
decided from settings (`providers.registry.choose`) and what each engine declares
(`refused_option` on the local providers, the upstream model's name): no model is loaded and no
upstream is called, so the API process stays light.
"""
from __future__ import annotations

from mmservice.errors import CapabilityUnavailable, Invalid
from mmservice.providers.registry import choose
from mmservice.schemas.jobs import OPTION_TASKS
from mmservice.steps import registry

# Upstream speech models that ignore `instructions` (OpenAI documents them for gpt-4o-mini-tts).
_TTS_WITHOUT_INSTRUCTIONS = ("tts-1", "tts-1-hd")


def check_options_apply(options: dict, tasks: list[str]) -> None:
    """An option none of the job's tasks reads is a mistake the client should hear about."""
    for key in options:
        readers = OPTION_TASKS.get(key, ())
        if not set(readers) & set(tasks):
            raise Invalid(f"option {key!r} applies only to the task(s) {', '.join(readers)}; "
                          f"this job runs {', '.join(tasks)}", code="option_not_applicable",
                          field=f"options.{key}")


def _local_refusal(cap: str, options: dict, cfg: dict) -> tuple[str, str] | None:
    try:
        from mmservice.providers import local
    except ImportError:
        return None  # no local engines: the provider itself answers provider_unavailable
    from mmservice.providers.registry import _LOCAL

    cls = getattr(local, _LOCAL[cap])
    refused = getattr(cls, "refused_option", None)
    return refused(options, cfg) if refused else None


def _upstream_refusal(cap: str, options: dict, cfg: dict) -> tuple[str, str, str] | None:
    if cap == "speech" and options.get("instructions"):
        from mmservice.providers.openai_provider import upstream_settings

        model = upstream_settings(cfg, cap)["model"]
        if model in _TTS_WITHOUT_INSTRUCTIONS:
            return ("instructions", f"the speech model {model!r} ignores instructions",
                    "set MMS_SPEECH_MODEL=gpt-4o-mini-tts (or leave out `instructions`)")
    return None


def check_capabilities(options: dict, tasks: list[str], cfg: dict) -> None:
    """422 `capability_unavailable` naming the variable that lifts the limit."""
    for task in tasks:
        cap = registry.get(task).capability
        up = cap.upper()
        if choose(cfg, cap) == "local":
            found = _local_refusal(cap, options, cfg)
            if found:
                key, why = found
                raise CapabilityUnavailable(
                    f"{why}: {cap} is served offline here; set MMS_{up}_BASE_URL (with "
                    f"MMS_{up}_API_KEY) or OPENAI_API_KEY for an OpenAI-compatible {cap} "
                    f"model, or leave out `{key}`", code="capability_unavailable",
                    field=f"options.{key}")
        else:
            upstream = _upstream_refusal(cap, options, cfg)
            if upstream:
                key, why, fix = upstream
                raise CapabilityUnavailable(f"{why}; {fix}", code="capability_unavailable",
                                            field=f"options.{key}")


def check(options: dict, tasks: list[str], cfg: dict) -> None:
    check_options_apply(options, tasks)
    check_capabilities(options, tasks, cfg)
