"""Pieces of the settings declarations (`mmservice.config`): the declaration helper, value
parsers, and the per-capability upstream settings, which are generated (seven per capability)
rather than written out.

Why apart from `config.py`: these are pure declarations and parsers; `config.py` keeps the
model, the environment and loading. Nothing here reads the environment.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, field_validator

CAPS = ("moderation", "vision", "transcription", "speech")

CAP_DEFAULT_MODELS = {
    "moderation": "omni-moderation-latest",
    "vision": "gpt-4o-mini",
    "transcription": "whisper-1",
    "speech": "gpt-4o-mini-tts",
}

def F(default: Any, doc: str, *, tenant: bool = False, secret: bool = False, **kw: Any) -> Any:
    """A declared setting: default, one-line doc, and the `tenant` / `secret` markers."""
    return Field(default, description=doc, json_schema_extra={"tenant": tenant, "secret": secret},
                 **kw)


def seconds_list(raw: Any) -> tuple[float, ...]:
    """`"5,300,1800"` (or a list of numbers) -> (5.0, 300.0, 1800.0); negatives refused."""
    items = raw if isinstance(raw, (list, tuple)) else str(raw or "").strip("()[] ").split(",")
    values = tuple(float(str(i).strip()) for i in items if str(i).strip())
    if any(v < 0 for v in values):
        raise ValueError("must not hold negative delays")
    return values


def choice(value: Any, allowed: tuple[str, ...], aliases: Mapping[str, str] | None = None) -> str:
    text = str(value).strip().lower()
    text = (aliases or {}).get(text, text)
    if text not in allowed:
        raise ValueError(f"must be one of {', '.join(repr(a) for a in allowed)}")
    return text


def auth_mode(value: Any) -> str:
    on = dict.fromkeys(("1", "true", "yes", "required", "enabled"), "on")
    return choice(value, ("on", "disabled"), {**on, "off": "disabled", "none": "disabled"})


def rate(value: Any) -> str:
    """A `limits` rate (`600/minute`), checked; `none` for no limit."""
    from limits import parse

    text = str(value if value is not None else "").strip()
    if text.lower() in ("", "0", "none", "off"):
        return "none"
    try:
        parse(text)
    except ValueError:
        raise ValueError("must be a rate like 600/minute or none") from None
    return text


def none_words(value: Any) -> Any:
    return None if value is None or str(value).strip().lower() in ("", "none", "auto") else value


def cap_fields() -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for cap in CAPS:
        up = cap.upper()
        fields[f"{up}_BASE_URL"] = (str, F("", f"{cap}: OpenAI-compatible base URL; empty: the "
                                               "kind's address, else `OPENAI_BASE_URL`"))
        fields[f"{up}_API_KEY"] = (str, F("", f"{cap}: API key; empty: `OPENAI_API_KEY`",
                                          secret=True))
        fields[f"{up}_MODEL"] = (str, F("", f"{cap}: model (default `{CAP_DEFAULT_MODELS[cap]}`)"))
        fields[f"{up}_PROVIDER"] = (str, F("auto", f"{cap}: `openai`, `local` or `auto` (openai "
                                                   "when an upstream is configured)"))
        fields[f"{up}_KIND"] = (str, F("", f"{cap}: upstream kind (openai, nim, openrouter, "
                                           "deepseek, ollama, localai, generic); empty: guessed "
                                           "from the base URL's host, else `generic`"))
        fields[f"{up}_IMAGE_INPUT"] = (bool | None, F(None, f"{cap}: chat requests may carry "
                                                            "images; empty: the kind decides"))
        fields[f"{up}_RESPONSE_FORMAT"] = (str, F("", f"{cap}: `json_schema`, `json_object` or "
                                                      "`none`; empty: the kind decides"))
    return fields


def cap_validators() -> dict[str, Any]:
    provider = [f"{c.upper()}_PROVIDER" for c in CAPS]
    images = [f"{c.upper()}_IMAGE_INPUT" for c in CAPS]
    formats = [f"{c.upper()}_RESPONSE_FORMAT" for c in CAPS]
    return {
        "_provider": field_validator(*provider, mode="before")(
            lambda cls, v: choice(v, ("auto", "openai", "local"), {"": "auto"})),
        "_image_input": field_validator(*images, mode="before")(lambda cls, v: none_words(v)),
        "_format": field_validator(*formats, mode="before")(
            lambda cls, v: choice(v, ("", "json_schema", "json_object", "none"))),
    }
