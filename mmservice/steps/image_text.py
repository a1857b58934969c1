"""The text written in a job's image, read once per job with the offline OCR engine.

Why one helper: the moderate step judges that text (a meme's caption, a screenshot of a threat
is content too) and the tenant's term lists match it; both ask within the same job, and OCR is
the slowest part of judging an image, so the first answer is kept (by the image's SHA-256) for
the second.
Read in the worker only (the API process never loads a model); None where the offline engines are
not installed (`requirements-local.txt`) or the image holds no text.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

_recent: OrderedDict[str, str | None] = OrderedDict()
_lock = threading.Lock()
KEEP = 16  # images remembered per process (a job's two asks come within seconds)


def read(image: bytes) -> str | None:
    try:
        from mmservice.providers.local import image_moderation, ocr
    except ImportError:
        return None
    rgb = image_moderation.to_rgb(image_moderation.open_image(image))
    return "\n".join(line["text"] for line in ocr.read_text(rgb, "auto")) or None


def image_text(job: dict, image: bytes | None) -> str | None:
    """The OCR text of `image` (None: no text, no image, or no OCR engine here)."""
    if image is None:
        return None
    key = hashlib.sha256(image).hexdigest()
    with _lock:
        if key in _recent:
            return _recent[key]
    text = read(image)
    with _lock:
        _recent[key] = text
        while len(_recent) > KEEP:
            _recent.popitem(last=False)
    return text
