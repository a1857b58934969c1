"""Which language a text is in, offline: py3langid (a naive-Bayes byte n-gram model, 97
languages, BSD-3, numpy only, ~0.1 ms per line).

Why it matters: the text heads read the languages their encoder and training lines cover; for
any other language a result of zero scores would be a silent `allow` of something nobody read.
So every text and transcript reports `language` ({"code", "confidence"}), and the text engine
declines (`unassessed_reason: "language"`) when it is confident the language is one it does
not read. A low-confidence guess (short lines, names, emoji) is reported but never declines:
those lines are mostly in a language we read, and the heads still score them.
"""
from __future__ import annotations

from typing import Any

MODEL = "py3langid"
UNDETERMINED = "und"


def load_identifier() -> tuple[Any, dict[str, Any]]:
    import py3langid
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ident.classify("warm up")
    return ident, {"model": MODEL, "version": getattr(py3langid, "__version__", None)}


def detect(text: str) -> dict[str, Any]:
    """{"code": ISO 639-1 (or "und" when there is nothing to read), "confidence": 0..1}."""
    from mmservice.providers.local import models

    if not text or not any(ch.isalpha() for ch in text):
        return {"code": UNDETERMINED, "confidence": 0.0}
    code, prob = models.get("langid").classify(text[:4000])
    return {"code": str(code), "confidence": round(float(prob), 4)}


def unread(language: dict[str, Any], readable: set[str], min_confidence: float) -> bool:
    """True when we are confident the text is in a language outside `readable`."""
    return (language["code"] not in readable and language["code"] != UNDETERMINED
            and language["confidence"] >= min_confidence)
