"""Fake vision chat: describes attached images from their pixels and echoes the question.

Structured output (`response_format`) is honoured by synthesising a value that satisfies the
schema, so callers exercise their real parsing path (including `client.chat.completions.parse`
with a Pydantic model) against the stub.
"""
from __future__ import annotations

import json
import re

from .faults import strip_markers
from .profiles import Profile
from .vision import image_from_url, image_tokens
from .wire import StubError, make_id, now, text_tokens

_GUARD_RULES = [  # Llama Guard 3 hazard codes
    (re.compile(r"\b(?:hurt|kill)(?:s|ed|ing|er)?\b", re.I), "S1"),
    (re.compile(r"hate-test", re.I), "S10"),
    (re.compile(r"\bsuicid(?:e|al)\b", re.I), "S11"),
    (re.compile(r"nsfw-test", re.I), "S12"),
]
_PROSE_NAMES = re.compile(r"desc|caption|summary|text|answer|content|reason|explan|message",
                          re.I)


def _parts(message: dict, index: int, profile: Profile):
    """Yields ("text", str) and ("image", (url, detail)) for one message."""
    content = message.get("content")
    if content is None or isinstance(content, str):
        yield "text", content or ""
        return
    if not isinstance(content, list):
        raise StubError(400, f"Invalid type for 'messages[{index}].content'.",
                        param=f"messages[{index}].content")
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            yield "text", str(part.get("text", ""))
        elif kind == "image_url":
            if not profile.chat_images:
                raise StubError(400, "Failed to deserialize the JSON body into the target "
                                f"type: messages[{index}]: unknown variant `image_url`, "
                                "expected `text`", code="invalid_request_error")
            img = part.get("image_url") or {}
            yield "image", (img.get("url", ""), img.get("detail", "auto"))
        else:
            raise StubError(400, f"Invalid value: '{kind}'. Supported values are: 'text' and "
                            "'image_url'.", param=f"messages[{index}].content[{j}].type")


def _resolve(schema: dict, root: dict) -> dict:
    while isinstance(schema, dict) and "$ref" in schema:
        node = root
        for key in schema["$ref"].lstrip("#/").split("/"):
            node = node[key]
        schema = node
    return schema


def fill_schema(schema, root: dict, ctx: dict, name: str = "", depth: int = 0):
    """A plausible value for `schema`: enums take their first member, bounds are respected."""
    schema = _resolve(schema or {}, root)
    if depth > 12:
        return None
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            opts = [_resolve(o, root) for o in schema[key]]
            non_null = [o for o in opts if o.get("type") != "null"] or opts
            return fill_schema(non_null[0], root, ctx, name, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if kind == "object":
        return {k: fill_schema(v, root, ctx, k, depth + 1)
                for k, v in (schema.get("properties") or {}).items()}
    if kind == "array":
        count = max(1, int(schema.get("minItems", 1)))
        if schema.get("maxItems") is not None:
            count = min(count, int(schema["maxItems"]))
        return [fill_schema(schema.get("items") or {}, root, ctx, name, depth + 1)
                for _ in range(count)]
    if kind in ("integer", "number"):
        value = ctx.get(name.lower())
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            value = 1 if kind == "integer" else 0.5
        step = 1 if kind == "integer" else 0.001
        if schema.get("minimum") is not None and value < schema["minimum"]:
            value = schema["minimum"]
        if schema.get("exclusiveMinimum") is not None and value <= schema["exclusiveMinimum"]:
            value = schema["exclusiveMinimum"] + step
        if schema.get("maximum") is not None and value > schema["maximum"]:
            value = schema["maximum"]
        if schema.get("exclusiveMaximum") is not None and value >= schema["exclusiveMaximum"]:
            value = schema["exclusiveMaximum"] - step
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    fmt = schema.get("format")
    if fmt == "date-time":
        text = "2024-01-01T00:00:00Z"
    elif fmt == "date":
        text = "2024-01-01"
    elif fmt in ("uri", "url"):
        text = "https://example.com/"
    elif fmt == "email":
        text = "stub@example.com"
    elif re.search(r"colou?r", name, re.I):
        text = ctx.get("color", "gray")
    elif _PROSE_NAMES.search(name):
        text = ctx["description"]
    else:
        text = "example"
    if schema.get("maxLength") is not None:
        text = text[: int(schema["maxLength"])]
    return text.ljust(int(schema.get("minLength", 0)), "x")


def _describe(images: list, question: str) -> tuple[str, dict]:
    ctx: dict = {"color": images[0].dominant if images else "none"}
    if len(images) == 1:
        f = images[0]
        desc = f"The image is {f.width}x{f.height} pixels and mostly {f.dominant}."
        ctx.update(width=f.width, height=f.height)
    elif images:
        desc = " ".join(f"Image {i}: {f.width}x{f.height} pixels, mostly {f.dominant}."
                        for i, f in enumerate(images, 1))
    else:
        desc = "No image was attached."
    if question:
        desc += f' You asked: "{question}"'
    ctx["description"] = desc
    return desc, ctx


def _guard_verdict(texts: list[str], images: list) -> str:
    joined = "\n".join(texts)
    codes = [code for rx, code in _GUARD_RULES if rx.search(joined)]
    if any(f.mostly_red for f in images) and "S12" not in codes:
        codes.append("S12")
    return "unsafe\n" + ",".join(sorted(codes, key=lambda c: int(c[1:]))) if codes else "safe"


def _answer(profile: Profile, fmt: dict, images: list, question: str, texts: list[str]) -> str:
    if profile.chat_mode == "llamaguard":
        return _guard_verdict(texts, images)
    desc, ctx = _describe(images, question)
    kind = fmt.get("type", "text")
    if profile.chat_mode == "prose" or kind == "text":
        return desc
    if kind == "json_object":
        obj = {"description": desc, "dominant_color": ctx["color"], "question": question or None}
        if len(images) == 1:
            obj.update(width=images[0].width, height=images[0].height)
        return json.dumps(obj)
    if kind == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        if not isinstance(schema, dict):
            raise StubError(400, "Missing required parameter: 'response_format.json_schema."
                            "schema'.", param="response_format.json_schema.schema")
        return json.dumps(fill_schema(schema, schema, ctx))
    raise StubError(400, f"Invalid value: '{kind}'. Supported values are: 'json_object', "
                    "'json_schema', and 'text'.", param="response_format.type")


def stream(body: dict, completion: dict) -> list[bytes]:
    """`completion` as OpenAI streams it: a role chunk, the content a word at a time, a finish
    chunk, a usage chunk when `stream_options.include_usage`, then `data: [DONE]`."""
    base = {k: completion[k] for k in ("id", "created", "model", "system_fingerprint")}
    base["object"] = "chat.completion.chunk"
    content = completion["choices"][0]["message"]["content"] or ""
    words = re.findall(r"\S+\s*", content) or [""]

    def chunk(delta: dict, finish=None, **extra) -> bytes:
        obj = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                    "finish_reason": finish}], **extra}
        return b"data: " + json.dumps(obj).encode() + b"\n\n"

    out = [chunk({"role": "assistant", "content": "", "refusal": None})]
    out += [chunk({"content": w}) for w in words]
    out.append(chunk({}, "stop"))
    if (body.get("stream_options") or {}).get("include_usage"):
        obj = {**base, "choices": [], "usage": completion["usage"]}
        out.append(b"data: " + json.dumps(obj).encode() + b"\n\n")
    out.append(b"data: [DONE]\n\n")
    return out


def complete(body: dict, profile: Profile) -> dict:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise StubError(400, "'messages' must be a non-empty array.", param="messages")
    model = body.get("model") or "gpt-4o-mini"
    texts, images, prompt_tokens, question = [], [], 3, ""
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or "role" not in msg:
            raise StubError(400, f"Missing required parameter: 'messages[{i}].role'.",
                            param=f"messages[{i}].role")
        prompt_tokens += 3
        user_text = []
        for kind, value in _parts(msg, i, profile):
            if kind == "text":
                clean = strip_markers(value)
                texts.append(clean)
                user_text.append(clean)
                prompt_tokens += text_tokens(clean)
            else:
                url, detail = value
                facts = image_from_url(url, param=f"messages[{i}].content")
                images.append(facts)
                prompt_tokens += image_tokens(facts.width, facts.height, detail, model)
        if msg["role"] == "user" and any(user_text):
            question = " ".join(t for t in user_text if t)
    content = _answer(profile, body.get("response_format") or {}, images, question, texts)
    completion_tokens = text_tokens(content)
    return {
        "id": make_id("chatcmpl-"), "object": "chat.completion", "created": now(),
        "model": model, "system_fingerprint": "fp_stub",
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                     "message": {"role": "assistant", "content": content, "refusal": None,
                                 "annotations": []}}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens,
                  "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                  "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                                "accepted_prediction_tokens": 0,
                                                "rejected_prediction_tokens": 0}},
        "service_tier": "default",
    }
