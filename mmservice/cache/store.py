"""Cache entries: their names (digests), the text normalization, and the Redis round trips.

Why these digest parts: a provider's answer depends on the content, on which engine answered
(class, name, model, upstream address, chat style) and on the call's options (a transcription's
`language` and `prompt`, a vision question). All of them go into the digest, so a different model
or option is a different entry (a miss), never a wrong answer. `VERSION` changes when what a
digest covers, or how a value is stored, changes.

Why this text normalization (NFKC, whitespace runs collapsed, ends trimmed) and no more: it only
merges texts that read the same. NFKC maps compatibility forms (fullwidth letters, ligatures,
superscripts, non-breaking spaces) to the plain characters they display as, which is how the
term lists read text too; a run of spaces, tabs or line breaks carries no meaning a moderation
model scores. Case is kept: capitals carry tone (shouting) and meaning (acronyms) that models
score, so "KILL THEM" and "kill them" are separate entries. The scores reused are the first
text's; lists and thresholds are applied to each job's own text afterwards.

Values are compact JSON (zlib-compressed past 1 KB), with a TTL (`MMS_CACHE_TTL_S`). The cache
never stores the input itself: a digest names the content's hash.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import unicodedata
import zlib
from collections.abc import Sequence
from typing import Any

import redis

from mmservice import jsonwire
from mmservice.keys import Keys

log = logging.getLogger("mmservice.cache")

VERSION = 1
_WHITESPACE = re.compile(r"\s+")
_COMPRESS_FROM = 1024


def normalize_text(text: str) -> str:
    """The form a text is cached under (see the module docstring for why exactly this)."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip()


def text_hash(text: str) -> str:
    return hashlib.sha256(normalize_text(text).encode()).hexdigest()


def bytes_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def provider_identity(provider: Any) -> dict[str, Any]:
    """What names the engine behind `provider` (a wrapper such as the batcher passes attribute
    reads through to the provider it wraps)."""
    settings = getattr(provider, "settings", None)
    out = {"class": type(getattr(provider, "inner", provider)).__name__,
           "name": getattr(provider, "name", ""), "model": getattr(provider, "model", "")}
    if isinstance(settings, dict) and settings.get("base_url"):
        out["upstream"] = settings["base_url"]
    for attr in ("guard", "format"):  # chat-mode moderation: the prompt style decides scores
        value = getattr(provider, attr, None)
        if isinstance(value, (bool, str)):
            out[attr] = value
    return out


def digest(task: str, identity: dict[str, Any], options: dict[str, Any], content: str) -> str:
    canon = json.dumps({"v": VERSION, "task": task, "by": identity, "options": options,
                        "content": content}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canon.encode()).hexdigest()


def encode(value: Any) -> bytes:
    raw = jsonwire.dumps(value)
    return b"z" + zlib.compress(raw) if len(raw) > _COMPRESS_FROM else b"j" + raw


def decode(blob: bytes) -> Any:
    body = zlib.decompress(blob[1:]) if blob[:1] == b"z" else blob[1:]
    return jsonwire.loads(body)


class ResultCache:
    """One job step's view of the cache: its namespace (a tenant, or None for the shared pool)
    and what its lookups found (`hits`, `misses`: items, e.g. text pieces).

    A Redis error in a lookup is a miss and in a write is dropped (logged): the cache saves
    upstream calls and must never be why a job fails."""

    def __init__(self, r: redis.Redis, keys: Keys, *, namespace: str | None, ttl_s: float):
        self.r, self.keys, self.namespace = r, keys, namespace
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self.hits = self.misses = 0

    def key(self, name: str) -> str:
        return self.keys.result_cache(self.namespace, name)

    def get_many(self, names: Sequence[str]) -> list[Any]:
        """The cached values for `names`, None where there is none."""
        if not names:
            return []
        try:
            blobs = self.r.mget([self.key(n) for n in names])
        except redis.RedisError:
            log.warning("result cache lookup failed; asking the provider", exc_info=True)
            blobs = [None] * len(names)
        out = []
        for blob in blobs:
            try:
                out.append(decode(blob) if isinstance(blob, bytes) and blob else None)
            except (ValueError, zlib.error):  # an entry from another version: a miss
                out.append(None)
        found = sum(v is not None for v in out)
        self.hits += found
        self.misses += len(out) - found
        return out

    def put_many(self, items: dict[str, Any]) -> None:
        if not items:
            return
        try:
            pipe = self.r.pipeline(transaction=False)
            for name, value in items.items():
                pipe.set(self.key(name), encode(value), px=self.ttl_ms)
            pipe.execute()
        except redis.RedisError:
            log.warning("result cache write failed", exc_info=True)

    def shared_flight(self) -> None:
        """A looked-up item that missed was answered by another job's call in flight: no
        upstream call was made for it, so it counts as a hit."""
        self.hits += 1
        self.misses -= 1

    @property
    def served(self) -> bool:
        """Every lookup was answered from the cache: this step made no upstream call."""
        return self.hits > 0 and self.misses == 0


class Preloaded(ResultCache):
    """A `ResultCache` whose entries for `values`' names were read already (None: known
    absent), by a round trip the caller made anyway (the admission script at intake,
    `cache.at_intake`; the facade's one pipeline, `facade.prefetch`); other names are looked
    up as usual, and writes go to Redis as usual."""

    def __init__(self, r: Any, keys: Any, *, namespace: str | None, ttl_s: float,
                 values: dict[str, Any]):
        super().__init__(r, keys, namespace=namespace, ttl_s=ttl_s)
        self.values = values

    def get_many(self, names: Any) -> list[Any]:
        if not names or any(n not in self.values for n in names):
            return super().get_many(names)
        out = [self.values[n] for n in names]
        found = sum(v is not None for v in out)
        self.hits += found
        self.misses += len(out) - found
        return out

    def put_many(self, items: dict[str, Any]) -> None:
        """Written as usual, and known here too: the request's next item with the same text
        (`values` is shared by its items' caches) is a hit, as it was when each looked up."""
        super().put_many(items)
        self.values.update(items)
