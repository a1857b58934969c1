"""The checks of a submission's URLs: an `image_url` given as a data: URL (decoded here), an
image or video URL to fetch, a webhook URL.

Why apart from `intake`: they are pure functions of one field and the settings (no store, no
blob, no broker), shared by the image and video inputs, and intake.py (the order of a
submission's writes) had grown past 340 lines. The addresses are checked again where they are
used: by the worker that fetches, at each webhook delivery (DNS may change).
"""
from __future__ import annotations

import base64
import binascii
from urllib.parse import urlsplit

from mmservice.errors import Invalid, PayloadTooLarge
from mmservice.netguard import check_url


def decode_data_url(url: str, max_bytes: int) -> bytes:
    head, sep, payload = url.partition(",")
    if not sep or not head.lower().startswith("data:") or not head.lower().endswith(";base64"):
        raise Invalid("a data: URL must be base64 encoded (data:<mime>;base64,<data>)",
                      code="invalid_data_url", field="image_url")
    if len(payload) * 3 // 4 > max_bytes:
        raise PayloadTooLarge(f"image is larger than {max_bytes} bytes", code="image_too_large",
                              field="image_url")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise Invalid("image_url data is not valid base64", code="invalid_base64",
                      field="image_url") from None


IMAGE_URL_RULE = ("image_url must be a data: URL or an https URL (http only when "
                  "MMS_ALLOW_PRIVATE_URLS is set)")


def _scheme(url: str) -> str:
    try:
        return urlsplit(url).scheme.lower()
    except ValueError:
        return ""


def check_image_url(url: str, cfg: dict, field: str = "image_url") -> None:
    """One rule, one message: https; http too when the operator allow-listed private hosts
    (a test or an intranet setup); the address is checked again when the worker fetches.
    The same rule holds for `video_url` (`field`)."""
    allow = cfg.get("ALLOW_PRIVATE_URLS")
    schemes = ("https", "http") if allow else ("https",)
    if _scheme(url) not in schemes:
        raise Invalid(IMAGE_URL_RULE.replace("image_url", field), code="url_not_allowed",
                      field=field)
    check_url(url, allow, field=field, resolve=False, schemes=schemes,
              allow_setting="MMS_ALLOW_PRIVATE_URLS")


def check_webhook_url(url: str, cfg: dict) -> None:
    """The delivery-time SSRF check, moved forward to POST for what is known now (scheme,
    credentials, literal private addresses, `localhost`); hostnames are resolved again at each
    delivery (DNS may change)."""
    if _scheme(url) not in ("http", "https"):
        raise Invalid("webhook_url must be an http or https URL", code="invalid_url",
                      field="webhook_url")
    check_url(url, cfg.get("WEBHOOK_ALLOWLIST"), field="webhook_url", resolve=False,
              schemes=("https", "http"), allow_setting="MMS_WEBHOOK_ALLOWLIST")
