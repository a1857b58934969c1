"""Providers that answer from the result cache and ask the real provider only for what is missing.

Why wrappers with the providers' own interface: the capabilities (`mmservice.capabilities`) call
`moderate_texts`, `moderate_image`, `transcribe` and `describe` as they always do, and never learn
that a cache exists. A wrapper is built per job step (it holds that step's `ResultCache`), so
counting hits needs no locking. Errors are never cached: a failed call raises before the write.

A cached answer comes back without `usage`: nothing was spent upstream for it, so the tenant's
usage counters (which read a result's `usage`) count nothing for a hit.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

from mmservice.cache.flights import FLIGHTS, WAIT_S
from mmservice.cache.store import ResultCache, bytes_hash, digest, provider_identity, text_hash
from mmservice.providers.base import RawModeration, Transcript


def _raw_from(value: dict[str, Any]) -> RawModeration:
    return RawModeration(**{**value, "usage": {}})


class CachedModeration:
    """Both moderation entry points of a step: images through `provider`, texts through
    `text_provider` (the micro-batcher). Text pieces are looked up one by one, before batching:
    only the pieces not found are sent, so a hit never waits for a batch. A piece another job
    of this worker is sending right now is waited for (`flights.py`), not sent twice."""

    def __init__(self, provider: Any, text_provider: Any, cache: ResultCache):
        self.provider, self.cache = provider, cache
        self.text_provider = text_provider or provider
        self.name, self.model = provider.name, provider.model
        self.identity = provider_identity(provider)
        self._image_name: str | None = None

    def __getattr__(self, name: str) -> Any:  # the rest of the interface passes through
        return getattr(self.provider, name)

    def _name(self, kind: str, content: str) -> str:
        return digest(f"moderate:{kind}", self.identity, {}, content)

    def known_image(self, original: bytes) -> RawModeration | None:
        """The cached measurement of this image's original bytes, looked up before the image is
        decoded and prepared (`capabilities.moderate` asks first); on a miss, the measurement
        `moderate_image` makes next is stored under these bytes."""
        self._image_name = self._name("image", bytes_hash(original))
        found = self.cache.get_many([self._image_name])[0]
        return _raw_from(found) if found is not None else None

    def moderate_image(self, image: bytes, mime: str) -> RawModeration:
        name = self._image_name or self._name("image", bytes_hash(image))
        raw = self.provider.moderate_image(image, mime)
        self.cache.put_many({name: asdict(raw)})
        return raw

    def moderate_texts(self, texts: list[str]) -> list[RawModeration]:
        names = [self._name("text", text_hash(t)) for t in texts]
        found = self.cache.get_many(names)
        out: list[RawModeration | None] = [_raw_from(v) if v is not None else None
                                           for v in found]
        missing = [i for i, v in enumerate(found) if v is None]
        if missing:
            # Flights are named by the full key (tenant namespace included): a tenant never
            # waits for, or receives, another tenant's answer.
            keys = {i: self.cache.key(names[i]) for i in missing}
            mine, theirs = FLIGHTS.claim(keys.values())
            self._send(texts, [i for i in missing if keys[i] in mine], names, out, keys, mine)
            retry = []
            for i in (i for i in missing if keys[i] in theirs):
                try:
                    out[i] = _raw_from(theirs[keys[i]].result(timeout=WAIT_S))
                    self.cache.shared_flight()
                except Exception:  # noqa: BLE001 - the other job's call failed: send our own
                    retry.append(i)
            self._send(texts, retry, names, out, keys, set())
        return [r for r in out if r is not None]

    def _send(self, texts: list[str], which: list[int], names: list[str],
              out: list[RawModeration | None], keys: dict[int, str], claimed: set[str]) -> None:
        """Moderate `texts[which]` upstream (through the batcher), store the answers, and hand
        them to the jobs waiting on the `claimed` flights (or the error, which is re-raised)."""
        values: dict[str, Any] = {}
        try:
            fresh = self.text_provider.moderate_texts([texts[i] for i in which]) if which else []
            for i, raw in zip(which, fresh):
                out[i] = raw
                values[keys[i]] = asdict(raw)
            self.cache.put_many({names[i]: values[keys[i]] for i in which})
        except BaseException as e:
            FLIGHTS.settle(claimed, values, e)
            raise
        FLIGHTS.settle(claimed, values)


class _OneProvider:
    """A cache in front of one provider: named like it, keyed by its identity, and passing the
    rest of its interface through."""

    def __init__(self, provider: Any, cache: ResultCache):
        self.provider, self.cache = provider, cache
        self.name, self.model = provider.name, provider.model
        self.identity = provider_identity(provider)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.provider, name)


class CachedTranscription(_OneProvider):
    """One clip (or one chunk of a long one) per entry: its bytes, its file extension (the
    upstream decodes by it), `language` and `prompt`."""

    def transcribe(self, audio: bytes, filename: str, *, language: str | None,
                   prompt: str | None) -> Transcript:
        ext = filename.rpartition(".")[2].lower()
        name = digest("transcribe", self.identity,
                      {"language": language, "prompt": prompt, "ext": ext}, bytes_hash(audio))
        found = self.cache.get_many([name])[0]
        if found is not None:
            return Transcript(**{**found, "usage": {}})
        t = self.provider.transcribe(audio, filename, language=language, prompt=prompt)
        self.cache.put_many({name: asdict(t)})
        return t


class CachedVision(_OneProvider):
    """One question about one prepared image: the bytes sent (they already reflect `detail` and
    the pixel limit), the question (`prompt`), `detail` and `json_schema`."""

    def describe(self, image: bytes, mime: str, *, prompt: str | None, detail: str,
                 json_schema: dict | None) -> dict[str, Any]:
        name = digest("describe", self.identity, {"prompt": prompt, "detail": detail,
                                                  "json_schema": json_schema, "mime": mime},
                      bytes_hash(image))
        found = self.cache.get_many([name])[0]
        if found is not None:
            found.pop("usage", None)
            return found
        out = self.provider.describe(image, mime, prompt=prompt, detail=detail,
                                     json_schema=json_schema)
        self.cache.put_many({name: out})
        return out
