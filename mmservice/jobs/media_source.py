"""Getting a job's media bytes in a worker: from the blob store, or fetched from its image URL.

Why fetch in the worker and not the API: the API answers 202 fast and never blocks on a remote
server. The SSRF guard runs here, the connection goes to the address it approved (`pin_to`),
and redirects are followed by hand so every hop is checked.
"""
from __future__ import annotations

from urllib.parse import urljoin

import httpx

from mmservice.errors import Invalid, PayloadTooLarge, UpstreamError
from mmservice.media.inspect import inspect_media
from mmservice.netguard import check_url, pin_to, shared_client

_MAX_REDIRECTS = 3


def fetch_url(url: str, cfg: dict, *, field: str = "image_url") -> bytes:
    limit = int(cfg["MAX_IMAGE_BYTES"])
    timeout = float(cfg["IMAGE_FETCH_TIMEOUT_S"])
    allow = cfg.get("ALLOW_PRIVATE_URLS")
    client = shared_client("images")
    for _ in range(_MAX_REDIRECTS + 1):
        addresses = check_url(url, allow, field=field)
        target, headers, extensions = pin_to(url, addresses[0]) if addresses else (url, {}, {})
        try:
            with client.stream("GET", target, headers={"User-Agent": "mmservice/1", **headers},
                               extensions=extensions, timeout=timeout) as resp:
                if resp.is_redirect and resp.headers.get("location"):
                    url = urljoin(url, resp.headers["location"])
                    continue
                if resp.status_code != 200:
                    raise Invalid(f"fetching the image answered HTTP {resp.status_code}",
                                  code="image_fetch_failed", field=field)
                declared = int(resp.headers.get("content-length") or 0)
                if declared > limit:
                    raise PayloadTooLarge("the image at image_url is too large",
                                          code="image_too_large", field=field)
                buf = bytearray()
                for chunk in resp.iter_bytes():
                    buf += chunk
                    if len(buf) > limit:
                        raise PayloadTooLarge("the image at image_url is too large",
                                              code="image_too_large", field=field)
                return bytes(buf)
        except httpx.TimeoutException:
            raise UpstreamError("fetching the image timed out",
                                code="image_fetch_timeout") from None
        except httpx.HTTPError:
            raise Invalid("the image URL could not be fetched", code="image_fetch_failed",
                          field=field) from None
    raise Invalid("too many redirects fetching the image", code="image_fetch_failed", field=field)


def job_media(job: dict, deps) -> bytes:
    """The job's media; a remote image is fetched, validated like an upload and stored once."""
    if job.get("_blob"):
        return deps.blobs.get(job["_blob"])
    url = job.get("_image_url")
    if not url:
        raise Invalid("this job has no media", code="no_media")
    data = fetch_url(url, deps.cfg)
    info = inspect_media(data, deps.cfg, "image_url")
    if info["kind"] != "image":
        raise Invalid("image_url does not hold an image", code="unsupported_media_type",
                      field="image_url")
    key = f"{job['tenant']}/{job['id']}/input"
    deps.blobs.put(key, data)

    def keep(j: dict) -> None:
        j["_blob"] = key
        j["input"].update({k: v for k, v in info.items()})
        j["input"].pop("remote", None)
    deps.store.update(job["tenant"], job["id"], keep)
    job["_blob"] = key
    job["input"].update(info)
    return data
