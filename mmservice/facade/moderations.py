"""`POST /v1/moderations`: OpenAI's request read into what `ops.moderate` judges, and its results
written back as OpenAI's `ModerationCreateResponse`.

The input, as OpenAI takes it: a string, an array of strings (one result each), or an array of
multimodal parts (`{"type": "text", "text"}`, `{"type": "image_url", "image_url": {"url"}}`)
judged together as one input (one result). Images come as `data:` URLs or http(s) URLs fetched
through the same SSRF guard as the job path (`MMS_ALLOW_IMAGE_URL_FETCH`).

The answer has all 13 categories, as OpenAI's does. A category nothing assessed is `false` with
score 0 and an empty `category_applied_input_types` entry, which is how OpenAI itself marks a
category it did not apply to the input; `mmservice.assessed_categories` says it plainly. Each
result also carries `mmservice`: the verdict, the policy version, what decided (`policy` or
`list`), the matched lists and whether the cache answered.
"""
from __future__ import annotations

import base64
import binascii
import secrets
from typing import Any

from mmservice.errors import BadRequest, Invalid, PayloadTooLarge
from mmservice.moderation.categories import CATEGORIES

_KNOWN = {"input", "model"}
SEVERITY = {"allow": 0, "review": 1, "block": 2}


def _image(url: Any, cfg: dict, param: str) -> tuple[bytes, str]:
    """The image bytes and MIME type behind one `image_url.url`, checked like an upload."""
    from mmservice.jobs.media_source import fetch_url
    from mmservice.media.inspect import inspect_media

    if not isinstance(url, str) or not url:
        raise BadRequest("image_url.url must be a data: URL or an http(s) URL",
                         code="invalid_image_url", field=param)
    if url.startswith("data:"):
        head, _, data = url.partition(",")
        if ";base64" not in head:
            raise BadRequest("a data: URL must be base64-encoded", code="invalid_image_url",
                             field=param)
        if len(data) * 3 // 4 > int(cfg["MAX_IMAGE_BYTES"]):
            raise PayloadTooLarge(f"the image is larger than {cfg['MAX_IMAGE_BYTES']} bytes",
                                  code="image_too_large", field=param)
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("the data: URL is not valid base64", code="invalid_image_url",
                             field=param) from None
    elif url.startswith(("http://", "https://")):
        if not cfg.get("ALLOW_IMAGE_URL_FETCH", True):
            raise BadRequest("image URLs are not fetched here (MMS_ALLOW_IMAGE_URL_FETCH): "
                             "send a data: URL", code="image_url_fetch_disabled", field=param)
        raw = fetch_url(url, cfg, field=param)
    else:
        raise BadRequest("image_url.url must be a data: URL or an http(s) URL",
                         code="invalid_image_url", field=param)
    info = inspect_media(raw, cfg, param)
    if info["kind"] != "image":
        raise BadRequest("image_url does not hold an image", code="invalid_image_url",
                         field=param)
    return raw, info["mime"]


def _text(value: Any, cfg: dict, param: str) -> str:
    if not isinstance(value, str):
        raise BadRequest(f"{param} must be a string", code="invalid_type", field=param)
    if len(value) > int(cfg["MAX_TEXT_CHARS"]):
        raise PayloadTooLarge(f"{param} is {len(value)} characters; the limit is "
                              f"{cfg['MAX_TEXT_CHARS']}", code="text_too_long", field=param)
    return value


def parse(body: Any, cfg: dict) -> tuple[list[dict], list[bytes]]:
    """-> (items for `ops.moderate`, the images they point to)."""
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", code="invalid_json")
    unknown = sorted(set(body) - _KNOWN)
    if unknown:
        raise BadRequest(f"Unrecognized request argument supplied: {unknown[0]}",
                         code="unknown_parameter", field=unknown[0])
    if "model" in body and not isinstance(body["model"], str):
        raise BadRequest("model must be a string", code="invalid_type", field="model")
    value = body.get("input")
    if value is None:
        raise BadRequest("Missing required parameter: 'input'.", code="missing_required_parameter",
                         field="input")
    if isinstance(value, str):
        return [{"text": _text(value, cfg, "input")}], []
    if not isinstance(value, list) or not value:
        raise BadRequest("input must be a string, an array of strings or an array of "
                         "content parts", code="invalid_type", field="input")
    if all(isinstance(v, str) for v in value):
        if len(value) > int(cfg["FACADE_MAX_INPUTS"]):
            raise BadRequest(f"input holds {len(value)} strings; the limit is "
                             f"{cfg['FACADE_MAX_INPUTS']}", code="too_many_inputs",
                             field="input")
        return [{"text": _text(v, cfg, f"input[{i}]")} for i, v in enumerate(value)], []
    texts: list[str] = []
    images: list[bytes] = []
    item: dict[str, Any] = {}
    for i, part in enumerate(value):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            texts.append(_text(part.get("text"), cfg, f"input[{i}].text"))
        elif kind == "image_url":
            if images:
                raise BadRequest("one image per request", code="too_many_images",
                                 field=f"input[{i}]")
            img = part.get("image_url")
            data, mime = _image(img.get("url") if isinstance(img, dict) else None, cfg,
                                f"input[{i}].image_url.url")
            images.append(data)
            item.update(image=0, mime=mime)
        else:
            raise BadRequest(f"input[{i}] must be a string, a text part or an image_url part",
                             code="invalid_type", field=f"input[{i}]")
    if texts:
        item["text"] = _text("\n".join(texts), cfg, "input")
    return [item], images


def policy_ref(store: Any, tenant: str, name: str | None) -> dict[str, Any]:
    """The policy version that judges the request: `x-mmservice-policy` names one, else the
    tenant's default (a 400 for an unknown or shadow-only name)."""
    return policy_record(store, tenant, name)[0]


def policy_record(store: Any, tenant: str, name: str | None
                  ) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """`policy_ref`, with the version's record (None: builtin)."""
    try:
        return store.resolve_record(tenant, name or None, field="x-mmservice-policy")
    except Invalid as e:
        raise BadRequest(e.message, code=e.code, field=e.field) from None


def render(results: list[dict], items: list[dict], requested_model: str | None) -> dict:
    out = []
    for res, item in zip(results, items):
        kinds = (["text"] if item.get("text") else []) + (["image"] if "image" in item else [])
        assessed = set(res.get("assessed_categories") or [])
        by_kind = res.get("scores_by_kind") or {}
        cats, scores = res.get("categories") or {}, res.get("category_scores") or {}
        mms: dict[str, Any] = {"verdict": res["verdict"], "policy": res.get("policy"),
                               "assessed_categories": sorted(assessed),
                               "decided_by": res.get("decided_by", "policy"),
                               "cached": bool(res.get("cached"))}
        for key in ("matched_lists", "policy_verdict", "note"):
            if res.get(key):
                mms[key] = res[key]
        out.append({
            "flagged": bool(res["flagged"]),
            "categories": {c: bool(cats.get(c, False)) for c in CATEGORIES},
            "category_scores": {c: float(scores.get(c, 0.0)) for c in CATEGORIES},
            "category_applied_input_types": {c: _applied(c, kinds, assessed, by_kind)
                                             for c in CATEGORIES},
            "mmservice": mms})
    model = next((r.get("model") for r in results if r.get("model")), None)
    return {"id": "modr-" + secrets.token_hex(12), "model": model or requested_model
            or "omni-moderation-latest", "results": out}


def _applied(cat: str, kinds: list[str], assessed: set[str],
             by_kind: dict[str, dict[str, float]]) -> list[str]:
    """The input types `cat` was judged on (per-kind scores say exactly; else every kind)."""
    if cat not in assessed:
        return []
    if not by_kind:
        return kinds
    return [k for k in kinds if cat in (by_kind.get(k) or {})]


def worst(results: list[dict]) -> str:
    return max((r["verdict"] for r in results), key=lambda v: SEVERITY.get(v, 0),
               default="allow")
