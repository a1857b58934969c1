"""Deterministic fake moderation: keyword table + image redness + a hash-derived jitter.

The jitter exists so scores are not suspiciously round (code that compares floats for equality, or
that caches by score, gets caught) while staying stable across runs and processes: same input,
same scores, always. Benign input stays below 0.05 in every category.

For exact control in policy tests, `[[score:hate=0.7,violence=0.55]]` in a text sets scores.
"""
from __future__ import annotations

import re

from .faults import strip_markers
from .vision import image_from_url
from .wire import CATEGORIES, IMAGE_CATEGORIES, StubError, digest, make_id

FLAG_AT = 0.5
_KEYWORDS: list[tuple[re.Pattern, dict[str, float]]] = [
    (re.compile(r"\b(?:hurt|kill)(?:s|ed|ing|er)?\b", re.I),
     {"violence": 0.90, "harassment/threatening": 0.81, "harassment": 0.32}),
    (re.compile(r"\b(?:idiot|worthless|stupid)s?\b", re.I), {"harassment": 0.88}),
    (re.compile(r"hate-test", re.I), {"hate": 0.91, "harassment": 0.34}),
    (re.compile(r"nsfw-test", re.I), {"sexual": 0.93}),
    (re.compile(r"\bsuicid(?:e|al)\b", re.I), {"self-harm": 0.87, "self-harm/intent": 0.36}),
]
_RED_IMAGE = {"sexual": 0.90}
_SCORE_MARKER = re.compile(r"\[\[score:([^\]]*)\]\]")


def jitter(key: bytes, category: str) -> float:
    """In [0, 0.03): small enough that benign input stays < 0.05 and flags never flip."""
    return digest(key, category)[0] / 256 * 0.03


def _score_overrides(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for m in _SCORE_MARKER.finditer(text):
        for item in m.group(1).split(","):
            name, _, val = item.partition("=")
            name = name.strip()
            if name not in CATEGORIES:
                raise StubError(400, f"[[score:...]] names unknown category {name!r}",
                                param="input")
            out[name] = float(val)
    return out


def score_text(text: str) -> dict[str, float]:
    clean = strip_markers(text)
    key = clean.encode()
    scores = {c: jitter(key, c) for c in CATEGORIES}
    for pattern, hits in _KEYWORDS:
        if pattern.search(clean):
            for cat, base in hits.items():
                scores[cat] = max(scores[cat], base + jitter(key, cat))
    scores.update(_score_overrides(text))
    return scores


def score_image(url: str) -> dict[str, float]:
    facts = image_from_url(url, param="input")
    key = digest(url)
    scores = {c: (jitter(key, c) if c in IMAGE_CATEGORIES else 0.0) for c in CATEGORIES}
    if facts.mostly_red:
        for cat, base in _RED_IMAGE.items():
            scores[cat] = base + jitter(key, cat)
    return scores


def _result(scores: dict[str, float], applied: dict[str, list[str]]) -> dict:
    scores = {c: round(min(max(s, 0.0), 1.0), 6) for c, s in scores.items()}
    cats = {c: s > FLAG_AT for c, s in scores.items()}
    return {"flagged": any(cats.values()), "categories": cats, "category_scores": scores,
            "category_applied_input_types": applied}


def _multimodal(parts: list) -> dict:
    totals = {c: 0.0 for c in CATEGORIES}
    has_text = has_image = False
    for i, part in enumerate(parts):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            has_text, got = True, score_text(str(part.get("text", "")))
        elif kind == "image_url":
            url = (part.get("image_url") or {}).get("url", "")
            has_image, got = True, score_image(url)
        else:
            raise StubError(400, f"Invalid value for 'input[{i}].type': expected 'text' or "
                            "'image_url'.", param=f"input[{i}].type")
        totals = {c: max(totals[c], got[c]) for c in CATEGORIES}
    applied = {c: (["text"] if has_text else []) +
               (["image"] if has_image and c in IMAGE_CATEGORIES else []) for c in CATEGORIES}
    return _result(totals, applied)


def moderate(body: dict) -> dict:
    if "input" not in body:
        raise StubError(400, "'input' is a required property", param="input")
    inp = body["input"]
    text_only = {c: ["text"] for c in CATEGORIES}
    if isinstance(inp, str):
        results = [_result(score_text(inp), text_only)]
    elif isinstance(inp, list) and inp and all(isinstance(x, str) for x in inp):
        results = [_result(score_text(x), text_only) for x in inp]
    elif isinstance(inp, list) and inp and all(isinstance(x, dict) for x in inp):
        results = [_multimodal(inp)]
    else:
        raise StubError(400, "Invalid 'input': expected a string, an array of strings, or an "
                        "array of content parts.", param="input")
    return {"id": make_id("modr-"), "model": body.get("model") or "omni-moderation-latest",
            "results": results}
