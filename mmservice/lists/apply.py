"""A job's content against its tenant's lists, on a worker: term lists on the text and the
transcript, SHA-256 lists on the media bytes, PDQ lists on the image; then the flood guard.

Why one `ListMatcher` per worker process: the PDQ/SHA-256 indexes (`HashIndexes`) and the
compiled term lists are costly to build (a 10k-item term list about 1 s) and cheap to reuse.
A term list is rebuilt only when its version counter moved (one MGET per job tells), so an item
added through the API matches on every worker at its next job.

Why the flood guard counts in Redis per clock minute: hits come from every worker; one INCR per
item hit (with a 2-minute expiry) is exact across them. Above the list's `flood_per_minute`, a
block hit becomes a review hit (`flood: true`): a bad item in a shared bank sends content to a
person instead of silently blocking it. The first hit over the line in a window logs
`list.flood`, counts it in /metrics and appends one audit entry.
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from typing import Any

import redis
from PIL import ImageOps

from mmservice import audit, logs, metrics
from mmservice.keys import Keys
from mmservice.lists.pdq import pdq_hash, sha256_hex
from mmservice.lists.records import DEFAULT_FLOOD_PER_MINUTE, ListStore
from mmservice.lists.sync import HashIndexes
from mmservice.lists.terms import TermItem, TermMatcher

log = logs.get_logger("mmservice.lists")
MAX_HITS = 50  # matched_lists entries reported per job (the decision uses them all)


def image_pdq(data: bytes, max_pixels: int) -> tuple[str, int]:
    """PDQ (hex, quality) of an encoded image, upright as shown (EXIF orientation applied), with
    the same guards as every image the service opens (format sniffing, pixel limit)."""
    from mmservice.media.images import _load, _open

    img = _open(data, max_pixels)
    _load(img, max_pixels)
    return pdq_hash(ImageOps.exif_transpose(img) or img)


class _Terms:
    def __init__(self, version: int, matcher: TermMatcher, records: dict[str, dict]):
        self.version, self.matcher, self.records = version, matcher, records


class ListMatcher:
    """One per worker process; thread-safe."""

    def __init__(self, r: redis.Redis, keys: Keys, *, refresh_interval: float = 0.0):
        self.r, self.keys = r, keys
        self.records = ListStore(r, keys)
        self.hashes = HashIndexes(r, keys, refresh_interval=refresh_interval)
        self._terms: dict[tuple[str, str], _Terms] = {}
        self._lock = threading.Lock()
        self.builds = 0  # term list compilations (tests check they are not per job)

    def lists(self, tenant: str, names: tuple[str, ...] | None) -> list[dict[str, Any]]:
        """The records of the lists that apply: `names` (a policy's), or every list of the
        tenant when the policy names none (`None`). Names of deleted lists are skipped."""
        return self.records.find(tenant, list(names) if names is not None
                                 else self.records.names(tenant))

    # -- matching -------------------------------------------------------------------------
    def match(self, tenant: str, recs: list[dict[str, Any]], *, texts: Mapping[str, str],
              image: bytes | None = None, sha256: str | None = None,
              max_pixels: int = 50_000_000, now: float | None = None) -> list[dict[str, Any]]:
        """Hits as `matched_lists` entries (flood guard not yet applied). `texts`: input kind
        (text, transcript) -> text."""
        now = time.time() if now is None else now
        by_kind: dict[str, list[dict]] = {"terms": [], "sha256": [], "pdq": []}
        for rec in recs:
            by_kind[rec["kind"]].append(rec)
        hits: list[dict[str, Any]] = []
        if by_kind["terms"] and any(t.strip() for t in texts.values()):
            hits += self._match_terms(tenant, by_kind["terms"], texts, now)
        if by_kind["sha256"] and (sha256 or image is not None):
            recs_of = {r["name"]: r for r in by_kind["sha256"]}
            h = sha256 or sha256_hex(image or b"")
            for m in self.hashes.match_sha256(tenant, h, lists=list(recs_of), now=now):
                hits.append(self._hash_hit(recs_of[m.list_id], m, h))
        if by_kind["pdq"] and image is not None:
            recs_of = {r["name"]: r for r in by_kind["pdq"]}
            try:
                h, quality = image_pdq(image, max_pixels)
            except Exception:  # noqa: BLE001 - an image the model can judge needs no hash
                log.warning("list.pdq_unreadable", tenant=tenant)
                return hits
            for m in self.hashes.match_pdq(
                    tenant, h, quality=quality, lists=list(recs_of), now=now,
                    max_distance={n: int(r.get("max_distance", 31)) for n, r in recs_of.items()},
                    min_quality={n: int(r.get("min_quality", 50)) for n, r in recs_of.items()}):
                hits.append(self._hash_hit(recs_of[m.list_id], m, h))
        return hits

    @staticmethod
    def _hash_hit(rec: dict[str, Any], m: Any, query: str) -> dict[str, Any]:
        meta = {k: v for k, v in (m.metadata or {}).items() if k in ("note", "source")}
        out = {"list": rec["name"], "kind": rec["kind"], "action": rec["action"],
               "item_id": m.item_id, "input": "image" if rec["kind"] == "pdq" else "media",
               "metadata": meta}
        if rec["kind"] == "pdq":
            out["distance"] = m.distance
        out["hash"] = query
        return out

    def _match_terms(self, tenant: str, recs: list[dict], texts: Mapping[str, str],
                     now: float) -> list[dict[str, Any]]:
        versions = self.r.mget([self.keys.term_version(tenant, r["name"]) for r in recs])
        out: list[dict[str, Any]] = []
        for rec, v in zip(recs, versions):
            compiled = self._compiled(tenant, rec["name"], int(v or 0))
            for kind, text in texts.items():
                if not text or not text.strip():
                    continue
                for h in compiled.matcher.match(text).hits:
                    item = compiled.records.get(h.item_id) or {}
                    if (item.get("disabled_until") or 0) > now:
                        continue
                    out.append({"list": rec["name"], "kind": "terms", "action": rec["action"],
                                "item_id": h.item_id, "value": h.value, "matched": h.matched,
                                "offsets": [h.start, h.end], "input": kind,
                                "metadata": {k: item.get(k) for k in ("note", "source")
                                             if item.get(k) is not None}})
        return out

    def _compiled(self, tenant: str, name: str, version: int) -> _Terms:
        key = (tenant, name)
        with self._lock:
            got = self._terms.get(key)
            if got is not None and got.version == version:
                return got
            # Read the items and the version together: a change between them would otherwise
            # be cached under the newer number.
            pipe = self.r.pipeline(transaction=True)
            pipe.hgetall(self.keys.term_items(tenant, name))
            pipe.get(self.keys.term_version(tenant, name))
            raw, ver = pipe.execute()
            records = {k.decode(): json.loads(v) for k, v in raw.items()}
            matcher = TermMatcher([TermItem(i, r["kind"], r["value"], name)
                                   for i, r in records.items()], validate=False)
            self.builds += 1
            got = self._terms[key] = _Terms(int(ver or 0), matcher, records)
            return got

    # -- flood guard ----------------------------------------------------------------------
    def flood_guard(self, tenant: str, hits: list[dict[str, Any]],
                    recs: list[dict[str, Any]], now: float | None = None) -> None:
        """Count this job's block hits per item (once per job) and turn the hits of an item
        over its list's `flood_per_minute` into review hits, in place."""
        limit = {r["name"]: int(r.get("flood_per_minute") or DEFAULT_FLOOD_PER_MINUTE)
                 for r in recs}
        items = sorted({(h["list"], h["item_id"]) for h in hits if h["action"] == "block"})
        if not items:
            return
        minute = int((time.time() if now is None else now) // 60)
        pipe = self.r.pipeline(transaction=False)
        for name, iid in items:
            key = self.keys.list_flood(tenant, name, iid, minute)
            pipe.incr(key)
            pipe.expire(key, 120)
        counts = pipe.execute()[::2]
        for (name, iid), n in zip(items, counts):
            over = int(n) - limit[name]
            if over <= 0:
                continue
            for h in hits:
                if (h["list"], h["item_id"]) == (name, iid) and h["action"] == "block":
                    h.update(action="review", flood=True)
            if over == 1:  # the first hit over the line in this window
                self._flooded(tenant, name, iid, int(n), limit[name], minute)

    def _flooded(self, tenant: str, name: str, iid: str, hits: int, limit: int,
                 minute: int) -> None:
        log.warning("list.flood", tenant=tenant, list=name, item_id=iid, hits=hits,
                    flood_per_minute=limit)
        metrics.Recorder(self.r, self.keys.prefix).list_flood(tenant, name)
        try:
            audit.append(self.r, self.keys, tenant, {
                "type": "list.flood", "actor": "worker", "list": name, "item": iid,
                "window_start_unix": minute * 60, "flood_per_minute": limit,
                "before": {"action": "block"}, "after": {"action": "review"}})
        except audit.ChainConflict:
            log.warning("list.flood_not_audited", tenant=tenant, list=name, item_id=iid)
