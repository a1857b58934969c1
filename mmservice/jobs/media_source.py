"""Getting a job's media bytes in a worker: from the blob store, or fetched from its image or
video URL.

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


def fetch_url(url: str, cfg: dict, *, field: str = "image_url", what: str = "image") -> bytes:
    """The body at `url` (`what`: image or video, which names the limit and the error codes)."""
    limit = int(cfg["MAX_VIDEO_BYTES"] if what == "video" else cfg["MAX_IMAGE_BYTES"])
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
                    raise Invalid(f"fetching the {what} answered HTTP {resp.status_code}",
                                  code=f"{what}_fetch_failed", field=field)
                declared = int(resp.headers.get("content-length") or 0)
                if declared > limit:
                    raise PayloadTooLarge(f"the {what} at {field} is too large",
                                          code=f"{what}_too_large", field=field)
                buf = bytearray()
                for chunk in resp.iter_bytes():
                    buf += chunk
                    if len(buf) > limit:
                        raise PayloadTooLarge(f"the {what} at {field} is too large",
                                              code=f"{what}_too_large", field=field)
                return bytes(buf)
        except httpx.TimeoutException:
            raise UpstreamError(f"fetching the {what} timed out",
                                code=f"{what}_fetch_timeout") from None
        except httpx.HTTPError:
            raise Invalid(f"the {what} URL could not be fetched", code=f"{what}_fetch_failed",
                          field=field) from None
    raise Invalid(f"too many redirects fetching the {what}", code=f"{what}_fetch_failed",
                  field=field)


def job_media(job: dict, deps) -> bytes:
    """The job's media; a remote image is fetched, validated like an upload and stored once."""
    if job.get("_blob"):
        return deps.blobs.get(job["_blob"])
    what = "video" if job.get("_video_url") else "image"
    url = job.get(f"_{what}_url")
    if not url:
        raise Invalid("this job has no media", code="no_media")
    field = f"{what}_url"
    cfg = deps.cfg_for(job["tenant"]) if hasattr(deps, "cfg_for") else deps.cfg
    data = fetch_url(url, cfg, field=field, what=what)
    info = inspect_media(data, cfg, field, gif_as_video=what == "video")
    if info["kind"] != what:
        raise Invalid(f"{field} does not hold an {what}", code="unsupported_media_type",
                      field=field)
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
